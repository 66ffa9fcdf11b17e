"""Which objects a config left behind where it deployed before (pure).

bhsvc's record (`bhsvc.record`) lists the places deploy and connect-hub acted
on: a cluster, BinderHub's namespace and release, the hub's. When the config
names another namespace or release, or turns the hub off, what bhsvc made at an
earlier place and the current one does not use is an orphan: the BinderHub
release, bhsvc's Secrets (registry credentials, the hub's pull Secret, the copy
of the hub's token), bhsvc's values in a hub it no longer serves, and the
namespaces of that place. Only candidates: each is removed only when the
cluster shows it is bhsvc's (its labels, its chart), by the component that made
it (see `bhsvc.pruning`).

Only places on the current cluster count. A hub that was replaced by another
(hub.release or hub.namespace changed) is not among them: bhsvc's record of the
values it set is about the hub it serves now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bhsvc.naming import image_pull_secret_of, registry_secret_of, token_copy_of
from bhsvc.record import Place

SECRET = "secret"
RELEASE = "release"
HUB_VALUES = "hub values"
NAMESPACE = "namespace"


@dataclass(frozen=True)
class Orphan:
    kind: str  # SECRET, RELEASE, HUB_VALUES or NAMESPACE
    namespace: str
    name: str  # the Secret, the release (BinderHub's, or the hub's), the namespace
    what: str  # what it is, for a plan line
    place: Place  # where it was made


def secrets_of(place: Place) -> list[tuple[str, str, str]]:
    """(namespace, name, what) of each Secret bhsvc makes at `place`."""
    found = [(place.namespace, registry_secret_of(place.release), "registry credentials Secret")]
    if place.hub_namespace is not None:
        found.append(
            (place.hub_namespace, image_pull_secret_of(place.release), "image pull Secret")
        )
        if place.hub_namespace != place.namespace:
            found.append((place.namespace, token_copy_of(place.release), "copy of the hub token"))
    return found


def namespaces_of(place: Place) -> set[str]:
    return {place.namespace, *([place.hub_namespace] if place.hub_namespace else [])}


def orphans(previous: Iterable[Place], current: Place) -> list[Orphan]:
    """What the earlier places on the current cluster hold that `current` does not
    use, in the order bhsvc makes things (namespaces first): remove it reversed."""
    wanted = {(ns, name) for ns, name, _ in secrets_of(current)}
    namespaces: list[Orphan] = []
    secrets: list[Orphan] = []
    hubs: list[Orphan] = []
    releases: list[Orphan] = []
    seen: set[tuple[str, str, str]] = set()

    def add(found: list[Orphan], orphan: Orphan) -> None:
        key = (orphan.kind, orphan.namespace, orphan.name)
        if key not in seen:
            seen.add(key)
            found.append(orphan)

    for place in previous:
        if place.server != current.server or place == current:
            continue
        for ns in sorted(namespaces_of(place) - namespaces_of(current)):
            add(namespaces, Orphan(NAMESPACE, ns, ns, "namespace", place))
        for ns, name, what in secrets_of(place):
            if (ns, name) not in wanted:
                add(secrets, Orphan(SECRET, ns, name, what, place))
        if place.hub_release and place.hub_namespace and current.hub_release is None:
            add(hubs, Orphan(HUB_VALUES, place.hub_namespace, place.hub_release, "hub", place))
        if (place.namespace, place.release) != (current.namespace, current.release):
            add(releases, Orphan(RELEASE, place.namespace, place.release, "release", place))
    return [*namespaces, *secrets, *hubs, *releases]
