"""What would be left in a namespace once a run's removals are done (pure).

bhsvc deletes a namespace it created only when nothing else is in it. A dry run
asks this before the removals (what they take away does not count), the real
run again after them, with the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bhsvc.lifecycle import RELEASE, ObjectRef

# What Kubernetes itself puts in every namespace.
DEFAULT_OBJECTS = frozenset({("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")})
# How helm marks what it made for a release, and what it leaves when uninstalling.
RELEASE_NAME = "meta.helm.sh/release-name"
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
RESOURCE_POLICY = "helm.sh/resource-policy"


def _goes(kind: str, meta: dict[str, Any], names: set[tuple[str, str]], releases: set[str],
          namespace: str) -> bool:  # fmt: skip
    labels = meta.get("labels") or {}
    notes = meta.get("annotations") or {}
    if meta.get("deletionTimestamp") or (kind, meta.get("name")) in names | DEFAULT_OBJECTS:
        return True
    made_by_helm = (
        notes.get(RELEASE_NAME) in releases
        and notes.get(RELEASE_NAMESPACE) == namespace
        and notes.get(RESOURCE_POLICY) != "keep"
    )
    # helm keeps each revision of a release in a Secret labelled owner=helm.
    record = kind == "Secret" and labels.get("owner") == "helm" and labels.get("name") in releases
    return made_by_helm or record


def leftovers(
    namespace: str, objects: Sequence[dict[str, Any]], going: Iterable[ObjectRef] = ()
) -> list[str]:
    """`Kind/name` of each object ({kind, metadata}) that stays in `namespace` once
    `going` is removed.

    A release that goes takes what helm made for it (not what its resource policy
    keeps) and its revision records; an object goes with its owners when all of
    them go (garbage collection), Endpoints with their Service. Objects already
    being deleted and what Kubernetes puts in every namespace do not count.
    """
    here = [ref for ref in going if ref.namespace == namespace]
    names = {(ref.kind, ref.name) for ref in here}
    releases = {ref.name for ref in here if ref.kind == RELEASE}
    gone: set[str] = set()
    rest: list[tuple[str, dict[str, Any]]] = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        if _goes(obj["kind"], meta, names, releases, namespace):
            gone.add(str(meta.get("uid")))
        else:
            rest.append((obj["kind"], meta))
    changed = True
    while changed:  # owners of owners: a pod goes with its ReplicaSet, which goes with ...
        changed = False
        for kind, meta in list(rest):
            owners = {str(o.get("uid")) for o in meta.get("ownerReferences") or []}
            if owners and owners <= gone:
                gone.add(str(meta.get("uid")))
                rest.remove((kind, meta))
                changed = True
    services = {meta.get("name") for kind, meta in rest if kind == "Service"}
    return [
        f"{kind}/{meta.get('name')}"
        for kind, meta in rest
        if not (kind == "Endpoints" and meta.get("name") not in services)
    ]


def describe(left: Sequence[str], shown: int = 5) -> str:
    """`left` for a message: the first few, and how many more."""
    more = f" and {len(left) - shown} more" if len(left) > shown else ""
    return ", ".join(left[:shown]) + more
