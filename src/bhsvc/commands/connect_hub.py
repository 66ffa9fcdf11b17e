"""`bhsvc connect-hub`: make BinderHub a service of a z2jh JupyterHub.

The same installation as deploy (`bhsvc.installation`), with two things first:
BinderHub's Service is looked up on the cluster (its name and port become the
hub service's URL), and the values diff against both deployed releases is
shown before anything changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.markup import escape

from bhsvc import lifecycle, naming, ui
from bhsvc.commands import rollout
from bhsvc.components.releases import HubRelease
from bhsvc.config import Config
from bhsvc.errors import OperationError
from bhsvc.installation import Inputs, components, release_of
from bhsvc.kube import Kube
from bhsvc.lifecycle import Cluster, Component, Observation
from bhsvc.values import binderhub_values
from bhsvc.values_diff import run_tagger, values_bhsvc_writes, values_diff
from bhsvc.workdir import BINDERHUB_VALUES_FILE, HUB_VALUES_FILE, values_dir


def discover_service(kube: Kube, config: Config) -> tuple[str, int]:
    """BinderHub's Service, found by the chart's labels."""
    selector = naming.service_selector(config)
    try:
        return kube.find_service(config.kube.namespace, selector)
    except OperationError as err:
        if "no Service matches" not in str(err):
            raise
        raise OperationError(
            f"BinderHub release {config.binderhub.release} has no Service in namespace "
            f"{config.kube.namespace} (labels {selector}): run 'bhsvc deploy' first"
        ) from None


def run(
    config_path: Path,
    hub_values_paths: Sequence[Path],
    dry_run: bool,
    yes: bool,
    output: str,
    helm_path: str | None,
    timeout: int = 600,
    force: bool = False,
) -> None:
    inputs, notes = rollout.prepare(
        config_path, hub_values_paths, helm_path, timeout, dry_run, yes, "connect-hub", force
    )
    if dry_run:
        inputs, kube, reason = rollout.try_connect(inputs)
    else:
        (inputs, kube), reason = rollout.connect_to(inputs), ""
    service = None
    if kube is not None:
        try:
            service = discover_service(kube, inputs.config)
        except OperationError as err:
            if not dry_run:
                raise
            notes.append(f"BinderHub's Service not looked up ({err}); assumed the chart's name")
    inputs = replace(inputs, service=service)
    config = inputs.config
    parts = components(inputs)
    if dry_run:
        cluster = rollout.observe_quietly(parts, kube, reason, inputs)
    else:
        assert kube is not None
        observations = lifecycle.observe(parts, Cluster(kube, inputs.helm))
        cluster = {"reachable": True, "observations": observations}
    observed: list[Observation] = cluster.get("observations", [])
    deployed = _deployed(parts, config)
    if deployed is None:
        notes.append("deployed values not readable: the diff is against nothing")
    diffs = _diffs(parts, inputs, deployed)
    plan = lifecycle.plan(parts)
    document: dict[str, Any] = {
        "ok": True,
        "dry_run": dry_run,
        "service": {
            "name": service[0] if service else None,
            "port": service[1] if service else None,
            "url": naming.service_url(config, service),
            "discovered": service is not None,
        },
        "files": {
            "jupyterhub": str(values_dir(config) / HUB_VALUES_FILE),
            "binderhub": str(values_dir(config) / BINDERHUB_VALUES_FILE),
        },
        "user_values_files": [str(p) for p in inputs.user.files],
        "diff_against": "nothing" if deployed is None else "deployed",
        "diff": diffs,
        "plan": rollout.plan_document(plan, observed),
        "notes": notes,
    }
    if output != "json":
        _print_diffs(diffs)
        rollout.print_plan(config, plan, cluster, notes)
    if dry_run:
        if output == "json":
            ui.print_json({**document, "cluster": rollout.cluster_document(cluster)})
        return
    assert kube is not None
    rollout.announce(config, kube)
    rollout.confirm(yes, "connect-hub")
    report = rollout.apply(parts, inputs, kube, output, observed)
    if output == "json":
        ui.print_json({**report.document(), **document, "dry_run": False})
        return
    ui.console.print(
        f"BinderHub {report.binderhub_version} answers at {config.hub_service_prefix} of "
        f"JupyterHub {config.hub.release} (namespace {config.hub_namespace}).",
    )


def _deployed(parts: Sequence[Component], config: Config) -> dict[str, dict[str, Any]] | None:
    """Both releases' deployed values, as their components read them."""
    hub = release_of(parts, config.hub.release)
    binderhub = release_of(parts, config.binderhub.release)
    if hub is None or binderhub is None or hub.deployed is None or binderhub.deployed is None:
        return None
    return {"jupyterhub": hub.deployed, "binderhub": binderhub.deployed}


def _diffs(
    parts: Sequence[Component], inputs: Inputs, deployed: dict[str, dict[str, Any]] | None
) -> dict[str, str]:
    """What changes in each release's values, shown without the user's values."""
    config = inputs.config
    hub = release_of(parts, config.hub.release)
    assert isinstance(hub, HubRelease)
    new_binderhub = binderhub_values(config, inputs.user.merged(config))
    hub_ours, bh_ours = values_bhsvc_writes(config, inputs.service)
    tag = run_tagger()
    old = deployed or {}
    against = deployed is not None
    return {
        "jupyterhub": values_diff(
            old.get("jupyterhub") if against else None,
            hub.expected_values or {},
            "jupyterhub",
            hub_ours,
            tag,
        ),
        "binderhub": values_diff(
            old.get("binderhub") if against else None, new_binderhub, "binderhub", bh_ours, tag
        ),
    }


def _print_diffs(diffs: dict[str, str]) -> None:
    for name, text in diffs.items():
        if text:
            ui.console.print(escape(text.rstrip("\n")), highlight=False)
        else:
            ui.console.print(f"{name}: values unchanged")
