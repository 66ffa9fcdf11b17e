"""What a config left behind on its cluster, as components whose `remove` takes it
away: deploy reports it, `deploy --prune` removes it.

Two decisions say what that is:

- `bhsvc.orphans` (pure, the one `bhsvc status` shows): bhsvc's Secrets, by their
  labels, under another release name or outside the config's namespaces, and
  the binderhub-service releases they belong to;
- the hub bhsvc no longer serves (`hub_parts`): when hub.enabled went off while
  bhsvc's record of the values it set in the hub is still there
  (`jupyterhub.values.applied.yaml`), those values in the hub release, its pull
  Secret, the copy of its token and bhsvc's hub values file. uninstall removes
  these too: they are the config's own.

The namespaces the orphans were in go as well, when bhsvc created them and
nothing else is left in them. Each component removes only what it finds is
bhsvc's (see `bhsvc.lifecycle`); a hub is never uninstalled here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bhsvc import chart as chart_mod
from bhsvc import helm as helm_mod
from bhsvc import hub as hub_mod
from bhsvc import lifecycle, naming
from bhsvc.components.kube_objects import Namespaces, Secret
from bhsvc.components.releases import READ_TIMEOUT, HubRelease, Release
from bhsvc.components.values_files import ValuesFiles
from bhsvc.config import Config
from bhsvc.errors import OperationError
from bhsvc.installation import Inputs, hub_chart_args, hub_chart_version
from bhsvc.lifecycle import Cluster, Removable, Removal
from bhsvc.orphans import MANAGED_SELECTOR, RELEASE, Orphan, Owner, find_orphans
from bhsvc.record import record_path
from bhsvc.workdir import HUB_APPLIED_FILE, HUB_VALUES_FILE, values_dir, written_by_bhsvc


def find(config: Config, cluster: Cluster, install_id: str | None) -> list[Orphan]:
    """The orphans on the cluster: this install's Secrets in all namespaces that the
    config no longer has, and the releases they belong to (see `orphans`)."""
    secrets = cluster.kube.list_secret_metadata(MANAGED_SELECTOR)
    args = ["list", "--all-namespaces", "--kube-context", cluster.context]
    args += ["--deployed", "--failed", "--pending"]
    try:
        releases = helm_mod.run_json(cluster.helm, args, timeout=READ_TIMEOUT) or []
    except OperationError as err:
        raise OperationError(f"cannot read the helm releases of the cluster: {err}") from None
    return find_orphans(Owner.from_config(config, install_id), secrets, releases)


def hub_parts(inputs: Inputs) -> list[Removable]:
    """When hub.enabled went off: what bhsvc set up for the hub, in the order deploy
    made it; none while the hub is on, or once bhsvc's record of its values is gone."""
    config = inputs.config
    folder = values_dir(config)
    if config.hub.enabled or not written_by_bhsvc(folder / HUB_APPLIED_FILE):
        return []
    owner = {naming.INSTANCE_LABEL: config.binderhub.release}
    pull = naming.image_pull_secret(config)
    parts: list[Removable] = [
        Secret("image pull Secret for the hub's users", pull, "", None, owner),
        ValuesFiles({folder / HUB_VALUES_FILE: ""}, name="hub values file"),
        HubRelease(
            f"JupyterHub release {config.hub.release}",
            config.hub.release,
            config.hub_namespace,
            "z2jh",
            [],
            naming.proxy_selector(config),
            inputs.timeout,
            chart_name=chart_mod.HUB_CHART_NAME,
            chart_version=hub_chart_version(config),
            downgrade_hint="set hub.chart_version to the version the hub runs",
            values_file=folder / HUB_VALUES_FILE,
            applied_file=folder / HUB_APPLIED_FILE,
            record_file=record_path(config),
            unwire_args=hub_chart_args(inputs, wired=False),
            user_values=hub_mod.merged_files(inputs.user.values),
        ),
    ]
    if config.hub_namespace != config.kube.namespace:
        name = naming.token_copy_of(config.binderhub.release)
        copy = naming.SecretRef(config.kube.namespace, name, "")
        parts.append(Secret("copy of the hub's API token", copy, "", None, owner))
    return parts


def orphan_parts(inputs: Inputs, found: Sequence[Orphan]) -> list[Removable]:
    """The namespaces of `found` outside the config's, the Secrets (but the hub's pull
    Secret, which `hub_parts` removes), the hub's parts, then the releases: the order
    deploy makes them in."""
    config = inputs.config
    bundled = chart_mod.local_chart_metadata(inputs.chart) or {}
    hub = hub_parts(inputs)
    pull = naming.image_pull_secret(config)
    ours = {config.kube.namespace, *([config.hub_namespace] if config.hub.enabled else [])}
    namespaces = sorted({o.namespace for o in found} - ours)
    parts: list[Removable] = [Namespaces((ns,), name=f"namespace {ns}") for ns in namespaces]
    for orphan in found:
        where = f"{orphan.namespace}/{orphan.name}"
        owner = {naming.INSTANCE_LABEL: orphan.release}
        is_pull = (orphan.namespace, orphan.name) == (pull.namespace, pull.name)
        if orphan.kind != RELEASE and not (hub and is_pull):
            ref = naming.SecretRef(orphan.namespace, orphan.name, "")
            parts.append(Secret(f"Secret {where}", ref, "", None, owner))
    parts += hub
    for orphan in found:
        if orphan.kind == RELEASE:
            release = Release(
                f"BinderHub release {orphan.name} in {orphan.namespace}",
                orphan.name,
                orphan.namespace,
                "binderhub-service",
                [],
                f"{naming.INSTANCE_LABEL}={orphan.name}",
                inputs.timeout,
                chart_name=str(bundled.get("name", naming.CHART_NAME)),
            )
            parts.append(release)
    return parts


@dataclass
class LeftBehind:
    """What the config left behind, and its removal plan (removal order)."""

    parts: list[Removable]
    planned: list[Removal]
    problem: str = ""  # why it could not be looked for

    @property
    def any(self) -> bool:
        return any(removal.objects for removal in self.planned)

    def notes(self, prune: bool) -> list[str]:
        if self.problem:
            return [f"what this config left behind was not looked for: {self.problem}"]
        lines = [
            f"left behind: {removal.name}: {'; '.join(removal.objects)}"
            for removal in self.planned
            if removal.objects
        ]
        if lines and not prune:
            lines.append("'bhsvc deploy --prune' removes them after the deploy")
        return lines


def left_behind(inputs: Inputs, cluster: Cluster, required: bool) -> LeftBehind:
    """Look for what the config left behind (read-only). A cluster that does not let
    bhsvc look is a note, unless the run must remove it (`required`)."""
    try:
        parts = orphan_parts(inputs, find(inputs.config, cluster, inputs.install_id))
        return LeftBehind(parts, lifecycle.removal_plan(parts, cluster))
    except OperationError as err:
        if required:
            raise
        return LeftBehind([], [], str(err))
