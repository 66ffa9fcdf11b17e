"""`bhsvc render`: both charts' values and BinderHub's manifests, offline."""

from __future__ import annotations

from pathlib import Path

from bhsvc import helm as helm_mod
from bhsvc import render as render_mod
from bhsvc import ui
from bhsvc.chart import chart_for, check_hub_chart
from bhsvc.config import load_config
from bhsvc.errors import UsageError
from bhsvc.hub_files import hub_user_values
from bhsvc.plan import BINDERHUB_VALUES_FILE, HUB_VALUES_FILE, MANIFESTS_FILE


def run(config_path: Path, output_dir: Path, output: str, helm_path: str | None) -> None:
    config = load_config(config_path)
    # The hub's own values files shape bhsvc's hub file, as they do in deploy.
    hub_values_in = hub_user_values(config).merged(config)
    _check_output_dir(output_dir)
    helm = helm_mod.find_helm(helm_path, notify=ui.print_notice)
    chart = chart_for(config)
    check_hub_chart(config)  # not rendered here, but deploy would refuse it
    steps = ui.Steps(quiet=output == "json")
    with steps.step(f"render with helm {helm.version_text}") as step:
        rendered = render_mod.render(config, str(config_path), helm, chart, hub_values_in)
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
        ui.console.print(f"wrote {path}", soft_wrap=True)


def _check_output_dir(output_dir: Path) -> None:
    """Refuse before anything is written: a file where the folder or a file goes."""
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"--output-dir {output_dir}: is a file, not a directory")
    for name in (BINDERHUB_VALUES_FILE, HUB_VALUES_FILE, MANIFESTS_FILE):
        if (output_dir / name).is_dir():
            raise UsageError(f"--output-dir {output_dir}: {name} there is a directory")
