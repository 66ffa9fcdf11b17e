"""`bhsvc uninstall`: remove what bhsvc made, in the reverse order deploy made it.

The same components as deploy (`bhsvc.installation`), each removing only what
it made (`bhsvc.lifecycle`): the BinderHub release, bhsvc's Secrets, bhsvc's
values in the hub (or, with --hub, the hub release bhsvc installed), the values
files, the namespaces bhsvc created once they are empty. Before them, when
hub.enabled went off, what bhsvc set up for that hub (`bhsvc.pruning`); after
them, with --registry, the Artifact Registry side `init` provisioned. The dry
run prints that removal plan; the real run prints it, asks, and removes exactly
what it lists.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.markup import escape

from bhsvc import helm as helm_mod
from bhsvc import lifecycle, pruning, record, ui
from bhsvc.chart import chart_for, check_hub_chart
from bhsvc.commands import rollout
from bhsvc.components.releases import HubRelease
from bhsvc.config import Config, load_config
from bhsvc.errors import OperationError, UsageError
from bhsvc.hub_files import HubUserValues, hub_user_values
from bhsvc.installation import Inputs, components
from bhsvc.kube import Kube
from bhsvc.lifecycle import Cluster, Removable, Removal
from bhsvc.workdir import read_install_id


@dataclass(frozen=True)
class Asked:
    """What the flags ask for besides the BinderHub installation."""

    hub: bool = False  # uninstall the hub release bhsvc installed
    registry: bool = False  # the Artifact Registry side
    delete_images: bool = False  # a repository holding images may go


def check_flags(config: Config, config_path: Path, asked: Asked) -> None:
    """The flags against the config, and bhsvc's record: bad input (exit 2), before any
    request. Whether bhsvc installed the hub (--hub) is asked of the cluster: the
    release must be the one bhsvc recorded."""
    if asked.delete_images and not asked.registry:
        raise UsageError("--delete-images only goes with --registry")
    if asked.registry and config.registry.gar is None:
        raise UsageError(
            f"--registry: bhsvc provisions only Artifact Registry (registry.provider gar), "
            f"not {config.registry.provider!r}: revoke the token and delete the images in "
            "your registry's settings"
        )
    if asked.hub and not config.hub.enabled:
        raise UsageError(f"--hub: {config_path} has no hub (hub.enabled is false)")
    record.read(record.record_path(config))  # a record bhsvc did not write is bad input


def prepare(
    config_path: Path,
    hub_values: Sequence[Path],
    helm_path: str | None,
    timeout: int,
    dry_run: bool,
    yes: bool,
    asked: Asked,
) -> Inputs:
    """Everything local; bad input stops here (exit 2)."""
    config = load_config(config_path)
    check_flags(config, config_path, asked)
    user = hub_user_values(config, hub_values) if config.hub.enabled else HubUserValues([], [])
    if asked.registry:
        from bhsvc.registry.gcp_clients import (
            check_credentials_file,
            needs_credentials,
            resolve_endpoints,
        )

        if any(needs_credentials(endpoint) for endpoint in resolve_endpoints()):
            check_credentials_file()
    rollout.check_confirmable("uninstall", dry_run, yes, does="removes things")
    check_hub_chart(config)
    chart = chart_for(config)
    helm = helm_mod.find_helm(helm_path, notify=ui.print_notice)
    # The upgrade that takes bhsvc's values out of a hub uses the hub's chart.
    hub_chart = rollout.hub_chart_for(config, helm, dry_run, [], "uninstall")
    return Inputs(
        config, str(config_path), user, helm, chart, timeout, docker_config=None,
        hub_chart=hub_chart, install_id=read_install_id(config),
    )  # fmt: skip


def installation(inputs: Inputs, asked: Asked) -> list[Removable]:
    """deploy's components, the hub release set to go with --hub."""
    return [
        replace(part, uninstall=True) if asked.hub and isinstance(part, HubRelease) else part
        for part in components(inputs)
    ]


@contextlib.contextmanager
def registry_side(config: Config, asked: Asked) -> Iterator[list[Removable]]:
    """The registry's parts with --registry (their clients closed at the end), else none."""
    if not asked.registry:
        yield []
        return
    from bhsvc.registry.gar import GarTarget
    from bhsvc.registry.gcp_clients import make_clients
    from bhsvc.registry.removal import registry_parts

    clients = make_clients()
    try:
        yield registry_parts(clients, GarTarget.from_config(config), asked.delete_images)
    finally:
        clients.close()


@dataclass
class Outcome:
    """The one document uninstall prints with --output json."""

    config: Config
    kube: Kube
    dry_run: bool
    planned: list[Removal]
    steps: ui.Steps = field(default_factory=ui.Steps)
    error: str | None = None

    def document(self) -> dict[str, Any]:
        return {
            "ok": self.error is None,
            "dry_run": self.dry_run,
            "context": self.kube.context_name,
            "server": self.kube.server,
            "namespace": self.config.kube.namespace,
            "release": self.config.binderhub.release,
            "plan": rollout.removal_rows(self.planned),
            "kept": rollout.kept_rows(self.planned),
            "steps": [result.as_dict() for result in self.steps.results],
            "error": self.error,
            "exit_code": 0 if self.error is None else OperationError.exit_code,
        }


def run(
    config_path: Path,
    dry_run: bool,
    yes: bool,
    asked: Asked,
    output: str,
    helm_path: str | None,
    timeout: int = 600,
    hub_values: Sequence[Path] = (),
) -> None:
    inputs = prepare(config_path, hub_values, helm_path, timeout, dry_run, yes, asked)
    inputs, kube = rollout.connect_to(inputs)
    config = inputs.config
    cluster = Cluster(kube, inputs.helm)
    with registry_side(config, asked) as registry_parts:
        # In the order they were made: what init made, what deploy made, and last what
        # it made for a hub it no longer serves. They go the other way round.
        parts = [*registry_parts, *installation(inputs, asked), *pruning.hub_parts(inputs)]
        planned = lifecycle.removal_plan(parts, cluster)
        outcome = Outcome(config, kube, dry_run, planned, ui.Steps(quiet=output == "json"))
        anything = any(removal.objects for removal in planned)
        if output != "json":
            _print_plan(kube, planned)
        if dry_run or not anything:
            if not dry_run:
                lifecycle.check_blockers(planned)
            if output == "json":
                ui.print_json(outcome.document())
            elif not anything:
                ui.console.print("Nothing of bhsvc's to remove.")
            return
        lifecycle.check_blockers(planned)
        _announce(config, kube)
        rollout.confirm(yes, "uninstall", "Remove these?")
        try:
            lifecycle.remove(parts, cluster, outcome.steps, planned)
        except OperationError as err:
            outcome.error = str(err)
            if output == "json":
                ui.print_json(outcome.document())
            else:
                rollout.print_diagnosis(err.diagnosis)
            raise
    if output == "json":
        ui.print_json(outcome.document())
        return
    done = sum(1 for result in outcome.steps.results if result.status != "kept")
    ui.console.print(
        f"Removed what bhsvc made, in {done} step(s); running it again changes nothing."
    )


def _print_plan(kube: Kube, planned: Sequence[Removal]) -> None:
    rollout.print_removal_plan(
        planned,
        f"Removal plan for context {kube.context_name} ({kube.server}), in this order:",
    )
    ui.console.print()


def _announce(config: Config, kube: Kube) -> None:
    ui.err_console.print(
        f"Removing BinderHub release [bold]{config.binderhub.release}[/] from context "
        f"[bold]{escape(kube.context_name)}[/] (cluster {escape(kube.server)}), namespace "
        f"[bold]{config.kube.namespace}[/]."
    )
