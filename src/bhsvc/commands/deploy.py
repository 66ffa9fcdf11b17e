"""`bhsvc deploy`: from any state of the cluster to a running, smoke-checked BinderHub.

It also says what the config left behind on the cluster (another namespace or
release name, the hub turned off: see `bhsvc.pruning`), and with --prune
removes that after the deploy succeeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bhsvc import lifecycle, naming, ui
from bhsvc.commands import rollout
from bhsvc.errors import OperationError
from bhsvc.installation import Inputs, components
from bhsvc.lifecycle import Cluster
from bhsvc.pruning import LeftBehind, left_behind

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
    prune: bool = False,
) -> None:
    inputs, notes = rollout.prepare(
        config_path, hub_values, helm_path, timeout, dry_run, yes, "deploy", force
    )
    if dry_run:
        return _dry_run(inputs, notes, output, prune)
    inputs, kube = rollout.connect_to(inputs)
    parts = components(inputs)
    cluster = Cluster(kube, inputs.helm)
    left = left_behind(inputs, cluster, required=prune)
    if prune:
        lifecycle.check_blockers(left.planned)  # before any change, as the deploy's own
        if output != "json" and left.any:
            rollout.print_removal_plan(left.planned, "After the deploy, --prune removes:")
    elif output != "json":
        for note in left.notes(prune):
            ui.err_console.print(f"note: {note}", markup=False, highlight=False)
    rollout.announce(inputs.config, kube)
    rollout.confirm(yes, "deploy")
    report = rollout.apply(parts, inputs, kube, output)
    pruned = ui.Steps(quiet=output == "json")
    if prune and left.any:
        try:
            lifecycle.remove(left.parts, cluster, pruned, left.planned)
        except OperationError as err:
            if output == "json":
                ui.print_json({**_document(report.document(), left, pruned), "ok": False,
                               "error": str(err), "exit_code": err.exit_code})  # fmt: skip
            raise
    if output == "json":
        ui.print_json(_document(report.document(), left, pruned))
        return
    bh = report.binderhub
    assert bh is not None
    ui.console.print(
        f"BinderHub {report.binderhub_version} is up: release {bh.name} revision "
        f"{bh.revision} (chart {bh.chart_version}) in namespace {bh.namespace}, context "
        f"{kube.context_name}.",
    )
    if pruned.results:
        ui.console.print(f"Removed what this config left behind, in {len(pruned.results)} step(s).")
    ui.console.print(f"Next: bhsvc verify --config {config_path}")
    config = inputs.config
    if config.hub.enabled:
        hub_user = inputs.user.merged(config)
        service = naming.proxy_public(config, hub_user)
        ui.console.print(
            f"The hub: kubectl --namespace {config.hub_namespace} port-forward "
            f"service/{service} 8080:80, then http://localhost:8080/"
        )
        authenticator = ((hub_user.get("hub") or {}).get("config") or {}).get("JupyterHub")
        if not (isinstance(authenticator, dict) and authenticator.get("authenticator_class")):
            ui.print_warning(
                "the hub uses z2jh's default authenticator, which lets anyone log in: set a "
                "real one before giving it an address (how-to: 'Reach the hub and log in "
                "with a real authenticator')"
            )


def _document(base: dict[str, Any], left: LeftBehind, pruned: ui.Steps) -> dict[str, Any]:
    return {
        **base,
        "orphans": rollout.removal_rows(left.planned),
        "pruned": [result.as_dict() for result in pruned.results],
    }


def _dry_run(inputs: Inputs, notes: list[str], output: str, prune: bool) -> None:
    """The plan, and what exists when a cluster answers; changes nothing."""
    inputs, kube, reason = rollout.try_connect(inputs)
    parts = components(inputs)
    cluster = rollout.observe_quietly(parts, kube, reason, inputs)
    plan = lifecycle.plan(parts)
    left = None
    if kube is not None and cluster.get("reachable"):
        left = left_behind(inputs, Cluster(kube, inputs.helm), required=False)
        notes = [*notes, *left.notes(prune)]
    if output == "json":
        ui.print_json(
            {
                "ok": True,
                "dry_run": True,
                "plan": rollout.plan_document(plan, cluster.get("observations", [])),
                "cluster": rollout.cluster_document(cluster),
                "orphans": rollout.removal_rows(left.planned) if left else [],
                "notes": notes,
            }
        )
        return
    rollout.print_plan(inputs.config, plan, cluster, notes)
    if prune and left is not None and left.any:
        ui.console.print()
        rollout.print_removal_plan(left.planned, "After the deploy, --prune would remove:")
