"""`bhsvc render`."""

from __future__ import annotations

from pathlib import Path

from bhsvc import helm as helm_mod
from bhsvc import render as render_mod
from bhsvc.chart import chart_for
from bhsvc.config import load_config


def run(config_path: Path, output_dir: Path, output: str, helm_path: str | None) -> None:
    config = load_config(config_path)
    helm = helm_mod.find_helm(helm_path, notify=_notify)
    chart = chart_for(config)
    job = render_mod.start(config, str(config_path), helm, chart)
    # Imported while helm renders: the console's import cost overlaps helm's run.
    from bhsvc import ui

    steps = ui.Steps(quiet=output == "json")
    with steps.step(f"render with helm {helm.version_text}") as step:
        written = render_mod.write(job.wait(), output_dir)
        step.detail = f"{len(written)} files in {output_dir}"
    if output == "json":
        ui.print_json({"files": [str(p) for p in written], "helm": helm.version_text})
        return
    for path in written:
        ui.console.print(f"wrote {path}")


def _notify(message: str) -> None:
    from bhsvc import ui

    ui.err_console.log(message)
