"""Which of bhsvc's objects on a cluster belong to no part of the config. Pure.

bhsvc labels every Secret it makes with `app.kubernetes.io/managed-by=bhsvc`,
`app.kubernetes.io/instance=<BinderHub release>` and `bhsvc.io/install=<id>`,
the id of the folder it was deployed from (`.bhsvc/install-id`). An orphan is
such a Secret of this install under another release name or outside the
config's namespaces (left behind when the release or namespace was renamed, or
the hub turned off), and a release of the binderhub-service chart that bhsvc
installed there: one whose name and namespace match such a Secret's instance
and namespace. Another install's objects (another id, or none: made before ids
or by hand) are never orphans, so a prune cannot remove a second BinderHub on
the same cluster.

`status` lists them; `deploy --prune` removes them. Both decide with
`find_orphans`, so what status shows is what a prune removes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bhsvc.config import Config
from bhsvc.naming import CHART_NAME, INSTALL_LABEL, INSTANCE_LABEL, MANAGED_BY, MANAGED_BY_LABEL
from bhsvc.versions import chart_version

RELEASE = "release"
SECRET = "Secret"
# The label selector that lists what bhsvc made.
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"


@dataclass(frozen=True)
class Owner:
    """What the config owns: its BinderHub release in BinderHub's namespace, and that
    release's Secrets there and in the hub's namespace (the image pull Secret)."""

    release: str
    namespace: str
    namespaces: frozenset[str]
    install_id: str | None  # None: never deployed from this folder, so nothing is its

    @classmethod
    def from_config(cls, config: Config, install_id: str | None) -> Owner:
        namespaces = {config.kube.namespace}
        if config.hub.enabled:
            namespaces.add(config.hub_namespace)
        return cls(
            config.binderhub.release, config.kube.namespace, frozenset(namespaces), install_id
        )

    def owns_secret(self, namespace: str, release: str) -> bool:
        return release == self.release and namespace in self.namespaces

    def owns_release(self, namespace: str, release: str) -> bool:
        return release == self.release and namespace == self.namespace


@dataclass(frozen=True)
class Orphan:
    kind: str  # RELEASE or SECRET
    namespace: str
    name: str
    release: str  # the BinderHub release (instance label) it belongs to

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "release": self.release,
        }


def _bhsvc_instance(obj: Mapping[str, Any], install_id: str | None) -> str | None:
    """The release an object this install made belongs to; None for any other."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
        return None
    if install_id is None or labels.get(INSTALL_LABEL) != install_id:
        return None
    instance = labels.get(INSTANCE_LABEL)
    return str(instance) if instance else None


def find_orphans(
    owner: Owner,
    secrets: Iterable[Mapping[str, Any]],
    releases: Iterable[Mapping[str, Any]],
) -> list[Orphan]:
    """The orphans among `secrets` (Secrets in the API's JSON form; only the metadata
    is read) and `releases` (entries of `helm list --all-namespaces --output json`,
    whose `chart` is <name>-<version>). Objects this install did not make are never
    orphans.
    Sorted: releases first."""
    found: list[Orphan] = []
    installs: set[tuple[str, str]] = set()  # (namespace, release) of bhsvc's Secrets
    for secret in secrets:
        instance = _bhsvc_instance(secret, owner.install_id)
        meta = secret.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        if instance is None:
            continue
        installs.add((namespace, instance))
        if not owner.owns_secret(namespace, instance):
            found.append(Orphan(SECRET, namespace, name, instance))
    for release in releases:
        name, namespace = str(release.get("name", "")), str(release.get("namespace", ""))
        if chart_version(str(release.get("chart", "")), CHART_NAME) is None:
            continue  # not BinderHub's chart (a hub, say, named like the release)
        if (namespace, name) in installs and not owner.owns_release(namespace, name):
            found.append(Orphan(RELEASE, namespace, name, name))
    order = {RELEASE: 0, SECRET: 1}
    return sorted(found, key=lambda o: (order[o.kind], o.namespace, o.name))
