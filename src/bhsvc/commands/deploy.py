"""`bhsvc deploy`."""

from __future__ import annotations

import shlex
from pathlib import Path

from bhsvc import helm as helm_mod
from bhsvc import ui
from bhsvc.chart import bundled_chart
from bhsvc.config import STATE_DIR, load_config
from bhsvc.errors import UsageError
from bhsvc.plan import deploy_plan


def run(config_path: Path, dry_run: bool, output: str, helm_path: str | None) -> None:
    config = load_config(config_path)
    if not dry_run:
        raise UsageError("deploy without --dry-run is not available in this version")
    helm = helm_mod.find_helm(helm_path, notify=ui.err_console.log)
    chart = config.binderhub.chart or str(bundled_chart())
    values_dir = config.path(Path(STATE_DIR) / "rendered")
    plan = deploy_plan(config, helm, chart, values_dir)
    if output == "json":
        ui.print_json({"dry_run": True, "steps": [step.as_dict() for step in plan]})
        return
    context = config.kube.context or "(current kubeconfig context)"
    ui.console.print(
        f"Plan for context [bold]{context}[/], namespace [bold]{config.kube.namespace}[/]:"
    )
    for number, step in enumerate(plan, start=1):
        ui.console.print(f"{number}. {step.description}")
        if step.command:
            ui.console.print(f"   [dim]{shlex.join(step.command)}[/]", soft_wrap=True)
