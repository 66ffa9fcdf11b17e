"""Status's view of the facts, pure: summaries, problems and the JSON document.

The document's schema is documented in docs/reference/status-json.md and kept
stable: keys are added, never renamed or removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bhsvc.health.facts import (
    Facts,
    finished_at,
    pod_name,
    pod_node,
    pod_phase,
    pods_ready,
    recent,
)
from bhsvc.health.logs import PUSH_DENIED, first_match, shown
from bhsvc.merge import value_at
from bhsvc.registry import cleanup
from bhsvc.registry.inventory import PusherKey

ERROR = "error"
WARNING = "warning"
KEY_AGE_WARNING_DAYS = 90
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Problem:
    severity: str  # ERROR: the installation does not work as configured; WARNING: it may
    subject: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "subject": self.subject, "message": self.message}


# ---- summaries ------------------------------------------------------------------------


def builder(facts: Facts) -> str:
    """The container engine of the build pods (chart value dockerApi.type)."""
    return str(
        value_at(facts.binderhub_values, ("dockerApi", "type"), facts.config.binderhub.builder)
    )


@dataclass(frozen=True)
class NodeDaemon:
    node: str
    ready: int  # ready daemon pods on the node
    total: int
    build_pods: int  # build pods running or waiting on the node

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "ready": self.ready,
            "total": self.total,
            "build_pods": self.build_pods,
        }


def daemon_nodes(facts: Facts) -> list[NodeDaemon]:
    """The build daemon per node: every node with a daemon pod or a live build pod."""
    by_node: dict[str, list[dict[str, Any]]] = {}
    for pod in facts.daemon_pods or []:
        by_node.setdefault(pod_node(pod) or "(not scheduled)", []).append(pod)
    builds: dict[str, int] = {}
    for pod in facts.build_pods or []:
        node = pod_node(pod)
        if node and pod_phase(pod) in ("Pending", "Running"):
            builds[node] = builds.get(node, 0) + 1
    return [
        NodeDaemon(node, *pods_ready(by_node.get(node, [])), builds.get(node, 0))
        for node in sorted({*by_node, *builds})
    ]


@dataclass(frozen=True)
class FailedBuild:
    name: str
    repository: str
    reason: str
    finished: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "repository": self.repository,
            "reason": self.reason,
            "finished": self.finished or None,
        }


def build_repository(pod: dict[str, Any]) -> str:
    """The repository a build pod builds: BinderHub's `binder-repo` annotation, else the
    last argument of its repo2docker command (BinderHub puts the URL last)."""
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get("binder-repo")
    if annotated:
        return shown(str(annotated))
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    args = containers[0].get("args") or []
    return shown(str(args[-1])) if args else "unknown"


def build_failure(pod: dict[str, Any], log: list[str]) -> str:
    """Why a build pod failed: a refused push in its log, its container's end, or the
    pod's own reason (an eviction)."""
    denied = first_match(log, PUSH_DENIED)
    if denied:
        return f"push refused: {denied}"
    status = pod.get("status") or {}
    for state in status.get("containerStatuses") or []:
        ended = (state.get("state") or {}).get("terminated")
        if ended and ended.get("exitCode"):
            reason = f"exit code {ended.get('exitCode')}"
            detail = ended.get("message") or ended.get("reason")
            return shown(f"{reason} ({detail})" if detail else reason)
    return shown(str(status.get("message") or status.get("reason") or "failed"))


def failed_builds(facts: Facts) -> list[FailedBuild]:
    """Build pods that failed within the last 24 hours, newest first.

    BinderHub deletes a build pod once it sees it end, so these are the ones it has
    not cleaned up yet (it was busy or restarted): a sample, not a count.
    """
    failed = [
        pod
        for pod in facts.build_pods or []
        if pod_phase(pod) == "Failed" and recent(pod, facts.now)
    ]
    failed.sort(key=finished_at, reverse=True)
    return [
        FailedBuild(
            pod_name(pod),
            build_repository(pod),
            build_failure(pod, facts.build_logs.get(pod_name(pod), [])),
            finished_at(pod),
        )
        for pod in failed
    ]


@dataclass(frozen=True)
class KeyInUse:
    """The pusher key the cluster's registry Secret holds, as IAM lists it."""

    key_id: str | None  # None: the Secret holds no service-account key
    listed: PusherKey | None  # None: IAM does not list it (or was not read)

    def age_days(self, now: datetime) -> int | None:
        return (now - self.listed.created).days if self.listed else None


def key_in_use(facts: Facts) -> KeyInUse | None:
    """None when it cannot be told: no Artifact Registry, or the keys were not read;
    or when no key is in use (Workload Identity, whatever a Secret left from keys holds)."""
    if facts.config.keyless:
        return None
    if facts.gar is None or facts.gar.keys is None or facts.registry_secret is None:
        return None
    ids = facts.registry_secret.key_ids
    key_id = ids[0] if ids else None
    listed = next((k for k in facts.gar.keys if k.key_id == key_id), None)
    return KeyInUse(key_id, listed)


def size_text(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# ---- problems --------------------------------------------------------------------------


def problems(facts: Facts) -> list[Problem]:
    """What is wrong, errors first; an error makes status exit 1."""
    found = _installation_problems(facts)
    found += _binderhub_problems(facts)
    found += _registry_problems(facts)
    found += _hub_problems(facts)
    found += [
        Problem(
            WARNING,
            "orphans",
            f"{o.kind} {o.namespace}/{o.name} of release {o.release} is not this config's "
            "(an earlier release name or namespace, or another bhsvc install)",
        )
        for o in facts.orphans or []
    ]
    found += [Problem(WARNING, "not read", line) for line in facts.unread]
    return sorted(found, key=lambda p: p.severity != ERROR)


def _installation_problems(facts: Facts) -> list[Problem]:
    found = [
        Problem(ERROR, c.name, f"{c.state}: {c.detail}" if c.detail else c.state)
        for c in facts.components
        if c.state in ("drifted", "missing")
    ]
    for release in (facts.binderhub_release, facts.hub_release):
        if release is not None and release.installed and release.status != "deployed":
            found.append(
                Problem(
                    ERROR,
                    f"release {release.release}",
                    f"helm status {release.status} (revision {release.revision})",
                )
            )
    return found


def _binderhub_problems(facts: Facts) -> list[Problem]:
    release = facts.binderhub_release
    if release is None or not release.installed:
        return []  # the component says it is missing
    found = []
    ready, total = pods_ready(facts.binderhub_pods or [])
    wanted = facts.replicas_wanted
    if facts.binderhub_pods is not None and (ready < (wanted or 1) or ready < total):
        found.append(
            Problem(ERROR, "BinderHub", f"{ready}/{total} pods ready ({wanted} replicas wanted)")
        )
    if not facts.versions.answered:
        found.append(Problem(ERROR, "BinderHub", f"/versions: {facts.versions.error}"))
    if builder(facts) != "host" and facts.daemon_pods is not None:
        nodes = daemon_nodes(facts)
        if not facts.daemon_pods:
            found.append(Problem(ERROR, "build daemon", "no build daemon pod exists"))
        for node in nodes:
            if node.total and node.ready < node.total:
                found.append(
                    Problem(
                        ERROR,
                        "build daemon",
                        f"{node.ready}/{node.total} ready on node {node.node}",
                    )
                )
    failed = failed_builds(facts)
    if failed:
        found.append(
            Problem(
                WARNING,
                "builds",
                f"{len(failed)} build pod(s) failed in the last 24 hours, latest "
                f"{failed[0].name} ({failed[0].repository}): {failed[0].reason}",
            )
        )
    return found


@dataclass(frozen=True)
class PusherTrouble:
    """What is wrong with the pusher account or its key in use, in one line."""

    kind: str  # account-missing, account-disabled, key-deleted, key-disabled, key-old
    severity: str
    message: str


def pusher_trouble(facts: Facts) -> PusherTrouble | None:
    """The first thing wrong with the pusher (Artifact Registry), None when nothing is
    or it cannot be told."""
    gar = facts.gar
    if gar is None:
        return None
    if gar.account_present is False:
        return PusherTrouble(
            "account-missing", ERROR, f"pusher account {gar.account} does not exist"
        )
    if gar.account_disabled:
        return PusherTrouble("account-disabled", ERROR, f"pusher account {gar.account} is disabled")
    key = key_in_use(facts)
    # No key in the Secret: other credentials (a token), not judged here.
    if key is None or key.key_id is None or not gar.account_present:
        return None
    shown_id = key.key_id[:12]
    if key.listed is None:
        return PusherTrouble(
            "key-deleted",
            ERROR,
            f"the registry Secret's key {shown_id} was deleted from {gar.account}",
        )
    if key.listed.disabled:
        return PusherTrouble(
            "key-disabled", ERROR, f"the registry Secret's key {shown_id} is disabled"
        )
    age = key.age_days(facts.now) or 0
    if age > KEY_AGE_WARNING_DAYS:
        return PusherTrouble(
            "key-old",
            WARNING,
            f"pusher key {shown_id} is {age} days old (more than {KEY_AGE_WARNING_DAYS}): "
            "rotate it",
        )
    return None


def _registry_problems(facts: Facts) -> list[Problem]:
    gar = facts.gar
    if gar is None:
        return []
    found = []
    if gar.repository_present is False:
        found.append(Problem(ERROR, "registry", f"repository {gar.repository} does not exist"))
    trouble = pusher_trouble(facts)
    if trouble is not None:
        found.append(Problem(trouble.severity, "registry", trouble.message))
    if not _cleanup_as_configured(facts):
        found.append(
            Problem(
                WARNING,
                "registry",
                "the repository's cleanup policies are not as registry.gar.cleanup says: "
                "bhsvc init --non-interactive sets them",
            )
        )
    return found


def _cleanup_as_configured(facts: Facts) -> bool:
    """bhsvc's cleanup policies on the repository are the ones the config asks for
    (true when they could not be read)."""
    gar, wanted = facts.gar, facts.config.registry.gar
    if gar is None or wanted is None or gar.cleanup_policies is None:
        return True
    mine = [view for view in gar.cleanup_policies if view.bhsvc]
    if mine != cleanup.views(cleanup.wanted_policies(wanted.cleanup)):
        return False
    return wanted.cleanup is None or wanted.cleanup.dry_run == gar.cleanup_dry_run


def _hub_problems(facts: Facts) -> list[Problem]:
    hub = facts.hub
    if hub is None or facts.hub_release is None or not facts.hub_release.installed:
        return []
    found = []
    if facts.hub_service is None:
        found.append(
            Problem(ERROR, "hub", f"the hub's values have no hub.services.{hub.service_name}")
        )
    if not hub.route.answered:
        found.append(
            Problem(
                ERROR,
                "hub",
                f"/services/{hub.service_name}/versions through the proxy: {hub.route.error}",
            )
        )
    return found


# ---- the document --------------------------------------------------------------------


def exit_code(found: list[Problem]) -> int:
    return 1 if any(p.severity == ERROR for p in found) else 0


def document(facts: Facts, found: list[Problem]) -> dict[str, Any]:
    """The JSON document of `bhsvc status` (docs/reference/status-json.md)."""
    config = facts.config
    ready, total = pods_ready(facts.binderhub_pods or [])
    code = exit_code(found)
    return {
        "schema_version": SCHEMA_VERSION,
        "ok": code == 0,
        "exit_code": code,
        "context": facts.context,
        "server": facts.server,
        "kubernetes_version": facts.kubernetes_version,
        "namespace": config.kube.namespace,
        "release": config.binderhub.release,
        "components": [c.as_dict() for c in facts.components],
        "releases": [
            r.as_dict() for r in (facts.binderhub_release, facts.hub_release) if r is not None
        ],
        "binderhub": {
            "replicas": facts.replicas_wanted,
            "pods_ready": ready if facts.binderhub_pods is not None else None,
            "pods_total": total if facts.binderhub_pods is not None else None,
            "versions": facts.versions.as_dict(),
        },
        "builds": _builds_document(facts),
        "registry": _registry_document(facts),
        "hub": _hub_document(facts),
        "orphans": None if facts.orphans is None else [o.as_dict() for o in facts.orphans],
        "problems": [p.as_dict() for p in found],
    }


def _builds_document(facts: Facts) -> dict[str, Any]:
    running = [
        pod_name(p) for p in facts.build_pods or [] if pod_phase(p) in ("Pending", "Running")
    ]
    return {
        "builder": builder(facts),
        "daemon": None if facts.daemon_pods is None else [n.as_dict() for n in daemon_nodes(facts)],
        "running": None if facts.build_pods is None else running,
        "failed_recently": None
        if facts.build_pods is None
        else [b.as_dict() for b in failed_builds(facts)],
    }


def _registry_document(facts: Facts) -> dict[str, Any]:
    config = facts.config
    doc: dict[str, Any] = {
        "provider": config.registry.provider,
        "image_prefix": facts.image_prefix,
        "checked": facts.gar is not None,
        "not_checked_reason": None
        if facts.gar is not None
        else f"bhsvc reads the registry's API for Artifact Registry only, not "
        f"{config.registry.provider}",
        "repository": None,
        "pusher": None,
    }
    gar = facts.gar
    if gar is None:
        return doc
    images = gar.images
    doc["repository"] = {
        "name": gar.host_path,
        "present": gar.repository_present,
        "images": images.count if images else None,
        "size_bytes": images.size_bytes if images else None,
        "complete": images.complete if images else None,
        "cleanup": None
        if gar.cleanup_policies is None
        else {
            "dry_run": gar.cleanup_dry_run,
            "policies": [view.as_dict() for view in gar.cleanup_policies],
        },
    }
    key = key_in_use(facts)
    keyless = config.keyless
    doc["pusher"] = {
        "account": gar.account,
        "auth": "workload-identity" if keyless else "key",
        "present": gar.account_present,
        "disabled": gar.account_disabled,
        "key_id": key.key_id if key else None,
        "key_present": None if key is None else key.listed is not None,
        "key_disabled": key.listed.disabled if key and key.listed else None,
        "key_age_days": key.age_days(facts.now) if key else None,
    }
    return doc


def _hub_document(facts: Facts) -> dict[str, Any]:
    hub = facts.hub
    if hub is None:
        return {"enabled": False, "service": None, "route": None}
    service = facts.hub_service
    return {
        "enabled": True,
        "namespace": facts.config.hub_namespace,
        "release": facts.config.hub.release,
        "service": None
        if service is None
        else {"name": hub.service_name, "url": shown(str(service.get("url", ""))) or None},
        "route": {"path": f"/services/{hub.service_name}/versions", **hub.route.as_dict()},
    }
