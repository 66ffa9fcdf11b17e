"""`bhsvc render`.

helm is started before the config model is imported (pydantic takes about as long
to import as helm takes to start), so the model's modules are imported in `run`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bhsvc import early_template
from bhsvc import helm as helm_mod
from bhsvc.config_file import read_config_data
from bhsvc.errors import UsageError

if TYPE_CHECKING:
    from bhsvc.render import RenderJob


def run(config_path: Path, output_dir: Path, output: str, helm_path: str | None) -> None:
    data = read_config_data(config_path)
    waiting = early_template.start(data, helm_path)
    try:
        job, helm = _start(data, config_path, output_dir, helm_path, waiting)
    except BaseException:
        helm_mod.cancel(waiting)
        raise
    # Imported while helm renders: the console's import cost overlaps helm's run.
    from bhsvc import render as render_mod
    from bhsvc import ui

    steps = ui.Steps(quiet=output == "json")
    with steps.step(f"render with helm {helm.version_text}") as step:
        rendered = job.wait()
        try:
            written = render_mod.write(rendered, output_dir)
        except OSError as err:
            where = err.filename or output_dir
            raise UsageError(
                f"--output-dir {output_dir}: cannot write {where} ({err.strerror})"
            ) from None
        step.detail = f"{len(written)} files in {output_dir}"
    if output == "json":
        ui.print_json({"ok": True, "files": [str(p) for p in written], "helm": helm.version_text})
        return
    for path in written:
        ui.console.print(f"wrote {path}")


def _start(
    data: object,
    config_path: Path,
    output_dir: Path,
    helm_path: str | None,
    waiting: helm_mod.Running | None,
) -> tuple[RenderJob, helm_mod.Helm]:
    """Validate the config and start (or feed) `helm template`; bad input raises first."""
    from bhsvc import render as render_mod
    from bhsvc.chart import chart_for, check_hub_chart
    from bhsvc.config import parse_config
    from bhsvc.hub_files import hub_user_values

    config = parse_config(data, str(config_path), config_path.parent)
    # The hub's own values files shape bhsvc's hub file, as they do in deploy.
    hub_values_in = hub_user_values(config).merged(config)
    _check_output_dir(output_dir)
    helm = helm_mod.find_helm(helm_path, notify=_notify)
    chart = chart_for(config)
    check_hub_chart(config)  # not rendered here, but deploy would refuse it
    job = render_mod.start(config, str(config_path), helm, chart, waiting, hub_values_in)
    return job, helm


def _check_output_dir(output_dir: Path) -> None:
    """Refuse before anything is written: a file where the folder or a file goes."""
    from bhsvc.plan import BINDERHUB_VALUES_FILE, HUB_VALUES_FILE, MANIFESTS_FILE

    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"--output-dir {output_dir}: is a file, not a directory")
    for name in (BINDERHUB_VALUES_FILE, HUB_VALUES_FILE, MANIFESTS_FILE):
        if (output_dir / name).is_dir():
            raise UsageError(f"--output-dir {output_dir}: {name} there is a directory")


def _notify(message: str) -> None:
    from bhsvc import ui

    ui.print_notice(message)
