"""`bhsvc deploy`: from any state of the cluster to a running, smoke-checked BinderHub."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bhsvc import lifecycle, ui
from bhsvc.commands import rollout
from bhsvc.installation import Inputs, components

DEFAULT_TIMEOUT = 600


def run(
    config_path: Path,
    dry_run: bool,
    output: str,
    helm_path: str | None,
    yes: bool = False,
    timeout: int = DEFAULT_TIMEOUT,
    hub_values: Sequence[Path] = (),
    force: bool = False,
) -> None:
    inputs, notes = rollout.prepare(
        config_path, hub_values, helm_path, timeout, dry_run, yes, "deploy", force
    )
    if dry_run:
        return _dry_run(inputs, notes, output)
    inputs, kube = rollout.connect_to(inputs)
    parts = components(inputs)
    rollout.announce(inputs.config, kube)
    rollout.confirm(yes, "deploy")
    report = rollout.apply(parts, inputs, kube, output)
    if output == "json":
        ui.print_json(report.document())
        return
    bh = report.binderhub
    assert bh is not None
    ui.console.print(
        f"BinderHub {report.binderhub_version} is up: release {bh.name} revision "
        f"{bh.revision} (chart {bh.chart_version}) in namespace {bh.namespace}, context "
        f"{kube.context_name}.",
    )
    ui.console.print(f"Next: bhsvc verify --config {config_path}")


def _dry_run(inputs: Inputs, notes: list[str], output: str) -> None:
    """The plan, and what exists when a cluster answers; changes nothing."""
    inputs, kube, reason = rollout.try_connect(inputs)
    parts = components(inputs)
    cluster = rollout.observe_quietly(parts, kube, reason, inputs)
    plan = lifecycle.plan(parts)
    if output == "json":
        ui.print_json(
            {
                "ok": True,
                "dry_run": True,
                "plan": rollout.plan_document(plan, cluster.get("observations", [])),
                "cluster": rollout.cluster_document(cluster),
                "notes": notes,
            }
        )
        return
    rollout.print_plan(inputs.config, plan, cluster, notes)
