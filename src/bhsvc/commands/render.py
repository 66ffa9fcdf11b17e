"""`bhsvc render`: both charts' values and BinderHub's manifests, offline."""

from __future__ import annotations

from pathlib import Path

from bhsvc import helm as helm_mod
from bhsvc import render as render_mod
from bhsvc import ui
from bhsvc.chart import chart_for, check_hub_chart
from bhsvc.config import load_config
from bhsvc.errors import UsageError
from bhsvc.files import shown_path
from bhsvc.hub_files import hub_user_values
from bhsvc.workdir import input_files, values_dir


def run(config_path: Path, output_dir: Path | None, output: str, helm_path: str | None) -> None:
    config = load_config(config_path)
    # The hub's own values files shape bhsvc's hub file, as they do in deploy.
    user = hub_user_values(config)
    # By default where deploy writes its values files, so the two can be compared.
    folder = output_dir if output_dir is not None else values_dir(config)
    shown = shown_path(folder)  # a path may hold terminal escapes
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--output-dir {shown}: is a file, not a directory")
    check_hub_chart(config)  # not rendered here, but deploy would refuse it
    chart = chart_for(config)
    helm = helm_mod.find_helm(helm_path, notify=ui.print_notice)
    steps = ui.Steps(quiet=output == "json")
    with steps.step(f"render with helm {helm.version_text}") as step:
        rendered = render_mod.render(config, str(config_path), helm, chart, user.merged(config))
        inputs = input_files(config, config_path, user.files)
        try:
            written = render_mod.write(rendered, folder, inputs)
        except OSError as err:
            where = shown_path(err.filename or folder)
            raise UsageError(
                f"--output-dir {shown}: cannot write {where} ({err.strerror})"
            ) from None
        step.detail = f"{len(written)} files in {shown}"
    if output == "json":
        ui.print_json({"ok": True, "files": [str(p) for p in written], "helm": helm.version_text})
        return
    for path in written:
        ui.console.print(f"wrote {shown_path(path)}", markup=False)
