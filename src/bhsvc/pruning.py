"""The components of what a config left behind (`bhsvc.orphans`), for deploy to
report and `deploy --prune` to remove with their own `remove`.

A Secret goes when it carries bhsvc's labels for the release it was made for;
a BinderHub release when it runs the config's chart; a hub keeps running and
only loses bhsvc's values (never uninstalled here: its users' data lives in
it); a namespace when bhsvc created it and nothing else is left in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bhsvc import chart as chart_mod
from bhsvc import hub as hub_mod
from bhsvc import lifecycle, naming, record
from bhsvc.components.kube_objects import Namespaces, Secret
from bhsvc.components.releases import HubRelease, Release
from bhsvc.config import Config
from bhsvc.installation import Inputs, hub_chart_args, hub_chart_version
from bhsvc.lifecycle import Cluster, Removable, Removal
from bhsvc.orphans import HUB_VALUES, NAMESPACE, RELEASE, SECRET, Orphan, orphans
from bhsvc.record import Place, place_of, record_path
from bhsvc.workdir import HUB_APPLIED_FILE, HUB_VALUES_FILE, values_dir


def _hub_config(config: Config, orphan: Orphan) -> Config:
    """The config as it named the hub of the orphan's place (settings of today)."""
    hub = config.hub.model_copy(update={"release": orphan.name, "namespace": orphan.namespace})
    return config.model_copy(update={"hub": hub})


def orphan_components(inputs: Inputs, found: Sequence[Orphan]) -> list[Removable]:
    """One component per orphan, in the order `found` lists them."""
    config = inputs.config
    bundled = chart_mod.local_chart_metadata(inputs.chart) or {}
    parts: list[Removable] = []
    for orphan in found:
        where = f"{orphan.namespace}/{orphan.name}"
        owner = {naming.INSTANCE_LABEL: orphan.place.release}
        if orphan.kind == NAMESPACE:
            parts.append(Namespaces((orphan.name,), name=f"namespace {orphan.name}"))
        elif orphan.kind == SECRET:
            ref = naming.SecretRef(orphan.namespace, orphan.name, "")
            parts.append(Secret(f"{orphan.what} {where}", ref, orphan.what, None, owner))
        elif orphan.kind == RELEASE:
            parts.append(
                Release(
                    f"BinderHub release {orphan.name} in {orphan.namespace}",
                    orphan.name,
                    orphan.namespace,
                    "binderhub-service",
                    [],
                    f"{naming.INSTANCE_LABEL}={orphan.name}",
                    inputs.timeout,
                    chart_name=str(bundled.get("name", naming.CHART_NAME)),
                )
            )
        elif orphan.kind == HUB_VALUES:
            hub_inputs = replace(inputs, config=_hub_config(config, orphan))
            folder = values_dir(config)
            parts.append(
                HubRelease(
                    f"JupyterHub release {orphan.name} in {orphan.namespace}",
                    orphan.name,
                    orphan.namespace,
                    "z2jh",
                    [],
                    f"release={orphan.name}",
                    inputs.timeout,
                    chart_name=chart_mod.HUB_CHART_NAME,
                    chart_version=hub_chart_version(config),
                    downgrade_hint="set hub.chart_version to the version the hub runs",
                    values_file=folder / HUB_VALUES_FILE,
                    applied_file=folder / HUB_APPLIED_FILE,
                    record_file=record_path(config),
                    unwire_args=hub_chart_args(hub_inputs, wired=False),
                    user_values=hub_mod.merged_files(inputs.user.values),
                )
            )
    return parts


@dataclass
class LeftBehind:
    """What the earlier places of this config hold that it no longer uses."""

    found: list[Orphan]
    parts: list[Removable]
    planned: list[Removal]  # parts' removal plan: what is bhsvc's, in removal order
    earlier: tuple[Place, ...]

    @property
    def any(self) -> bool:
        return any(removal.objects for removal in self.planned)

    def stale(self) -> tuple[Place, ...]:
        """The earlier places where nothing of bhsvc's is left."""
        # The plan lists the parts reversed; each part is one orphan.
        holding = {
            orphan.place
            for orphan, removal in zip(reversed(self.found), self.planned, strict=True)
            if removal.objects or removal.blocker
        }
        return tuple(place for place in self.earlier if place not in holding)

    def notes(self, prune: bool) -> list[str]:
        lines = [
            f"left behind where this config deployed before: {removal.name}: "
            f"{'; '.join(removal.objects)}"
            for removal in self.planned
            if removal.objects
        ]
        if lines and not prune:
            lines.append("'bhsvc deploy --prune' removes them after the deploy")
        return lines


def earlier(inputs: Inputs, server: str) -> tuple[tuple[Place, ...], list[Orphan]]:
    """The places of bhsvc's record on this cluster other than the config's, and what
    they hold that the config does not use."""
    config = inputs.config
    current = place_of(config, server)
    places = tuple(
        place
        for place in record.read(record_path(config)).places
        if place.server == current.server and place != current
    )
    return places, orphans(places, current)


def left_behind(inputs: Inputs, cluster: Cluster) -> LeftBehind:
    """Look at the earlier places of bhsvc's record on this cluster (read-only)."""
    places, found = earlier(inputs, cluster.kube.server)
    parts = orphan_components(inputs, found)
    return LeftBehind(found, parts, lifecycle.removal_plan(parts, cluster), places)
