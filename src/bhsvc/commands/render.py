"""`bhsvc render`."""

from __future__ import annotations

from pathlib import Path

from bhsvc import helm as helm_mod
from bhsvc import render as render_mod
from bhsvc import ui
from bhsvc.chart import bundled_chart
from bhsvc.config import load_config


def run(config_path: Path, output_dir: Path, output: str, helm_path: str | None) -> None:
    config = load_config(config_path)
    steps = ui.Steps(quiet=output == "json")
    with steps.step("find helm") as step:
        helm = helm_mod.find_helm(helm_path, notify=ui.err_console.log)
        step.detail = f"{helm.version_text} at {helm.path}"
    with steps.step("render values and manifests") as step:
        chart = Path(config.binderhub.chart) if config.binderhub.chart else bundled_chart()
        rendered = render_mod.render(config, str(config_path), helm, chart)
        written = render_mod.write(rendered, output_dir)
        step.detail = f"{len(written)} files in {output_dir}"
    if output == "json":
        ui.print_json({"files": [str(p) for p in written], "helm": helm.version_text})
        return
    for path in written:
        ui.console.print(f"wrote {path}")
