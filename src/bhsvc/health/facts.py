"""The facts `status` and `doctor` work from, filled by `health.gather`, and pure
readers of them.

Kubernetes objects are kept in the API's JSON form (camelCase keys). A fact that
could not be read is None, and the reason is in `Facts.unread`: a conclusion that
needs it is not drawn (no false alarm from a missing permission).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from bhsvc.binderhub import Versions
from bhsvc.config import Config, server_host
from bhsvc.diagnose import pod_ready
from bhsvc.merge import value_at
from bhsvc.orphans import Orphan
from bhsvc.registry.inventory import GarFacts
from bhsvc.versions import chart_version

RECENT = timedelta(hours=24)  # how far back failed builds count
_HELM_TIME = re.compile(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.\d+)? ([+-]\d{4})")


@dataclass(frozen=True)
class ComponentFact:
    """A component of the installation (`bhsvc.installation`) as observed."""

    name: str
    state: str  # converged, drifted, missing, unknown; a check: converged or failing
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "detail": self.detail}


@dataclass(frozen=True)
class ReleaseFacts:
    role: str  # binderhub or jupyterhub
    release: str
    namespace: str
    chart_name: str
    installed: bool
    chart: str = ""  # helm list's `chart`: <name>-<version>
    app_version: str = ""
    revision: int = 0
    status: str = ""
    updated: str = ""
    # The values the release was given (helm get values): read, never shown.
    values: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def chart_version(self) -> str:
        return chart_version(self.chart, self.chart_name) or self.chart

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "release": self.release,
            "namespace": self.namespace,
            "installed": self.installed,
            "chart": self.chart_name if self.installed else None,
            "chart_version": self.chart_version if self.installed else None,
            "app_version": self.app_version or None,
            "revision": self.revision or None,
            "status": self.status or None,
            "last_deployed": helm_time(self.updated),
        }


@dataclass(frozen=True)
class Answer:
    """GET <prefix>versions through a port-forward: BinderHub's answer, or why none came."""

    versions: Versions | None
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.versions is not None

    def as_dict(self) -> dict[str, Any]:
        v = self.versions
        return {
            "answered": v is not None,
            "binderhub": v.binderhub if v else None,
            "builder": v.builder if v else None,
            "error": self.error or None,
        }


@dataclass(frozen=True)
class DockerConfig:
    """What a docker config.json in a Secret grants, without the secrets: the registry
    hosts it holds credentials for, in order, and the ids of service-account keys
    (Artifact Registry's `_json_key` passwords), which are public identifiers."""

    hosts: tuple[str, ...]
    key_ids: tuple[str, ...] = ()
    readable: bool = True  # False: the key holds no docker config.json


def read_docker_config(secret: Mapping[str, Any] | None, key: str) -> DockerConfig | None:
    """The DockerConfig of a Secret's key (None: no such Secret); nothing secret is kept."""
    if secret is None:
        return None
    encoded = (secret.get("data") or {}).get(key)
    try:
        doc = json.loads(base64.b64decode(encoded)) if encoded else None
    except ValueError:
        doc = None
    auths = doc.get("auths") if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        return DockerConfig((), readable=False)
    hosts, key_ids = [], []
    for server, entry in auths.items():
        hosts.append(server_host(str(server)) or str(server))
        password = entry.get("password") if isinstance(entry, dict) else None
        try:
            data = json.loads(password) if isinstance(password, str) else None
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("private_key_id"), str):
            key_ids.append(data["private_key_id"])
    return DockerConfig(tuple(hosts), tuple(key_ids))


@dataclass
class HubFacts:
    """The hub side, when the config has a hub."""

    service_name: str
    pods: list[dict[str, Any]] | None = None  # the hub and proxy pods of the release
    hub_log: list[str] | None = None  # the hub container's last lines when it is not ready
    user_pods: list[dict[str, Any]] | None = None
    # Events of the user pods that wait for their image.
    user_events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pull_secret: DockerConfig | None = None  # bhsvc's pull Secret; None: missing or unread
    pull_secret_read: bool = False
    token_present: bool | None = None  # BinderHub's hub token Secret holds its key
    service: dict[str, Any] | None = None  # the Service hub.services.<name>.url names
    service_read: bool = False  # whether `service` was looked up (None then: no such Service)
    route: Answer = field(default_factory=lambda: Answer(None, "not checked"))


@dataclass
class Facts:
    config: Config
    config_file: str  # as the user named it, for the commands a fix shows
    context: str
    server: str
    kubernetes_version: str
    now: datetime
    components: list[ComponentFact] = field(default_factory=list)
    binderhub_release: ReleaseFacts | None = None
    hub_release: ReleaseFacts | None = None
    binderhub_pods: list[dict[str, Any]] | None = None
    binderhub_log: list[str] | None = None
    versions: Answer = field(default_factory=lambda: Answer(None, "not checked"))
    nodes: list[dict[str, Any]] | None = None
    daemon_pods: list[dict[str, Any]] | None = None
    build_pods: list[dict[str, Any]] | None = None
    build_logs: dict[str, list[str]] = field(default_factory=dict)
    registry_secret: DockerConfig | None = None  # None: missing or unread
    registry_secret_read: bool = False
    gar: GarFacts | None = None
    hub: HubFacts | None = None
    network_policies: list[dict[str, Any]] | None = None  # in BinderHub's namespace
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    orphans: list[Orphan] | None = None
    unread: list[str] = field(default_factory=list)

    # ---- the deployed values, with the chart's defaults -----------------------------

    @property
    def binderhub_values(self) -> Mapping[str, Any]:
        release = self.binderhub_release
        return release.values if release is not None else {}

    @property
    def hub_values(self) -> Mapping[str, Any]:
        release = self.hub_release
        return release.values if release is not None else {}

    def binderhub_trait(self, name: str, default: Any = None) -> Any:
        """config.BinderHub.<name> of the deployed BinderHub release."""
        return value_at(self.binderhub_values, ("config", "BinderHub", name), default)

    @property
    def image_prefix(self) -> str:
        return str(self.binderhub_trait("image_prefix") or self.config.image_prefix)

    @property
    def api_only(self) -> bool:
        return bool(self.binderhub_trait("enable_api_only_mode", True))  # the chart's default

    @property
    def base_url(self) -> str:
        return str(self.binderhub_trait("base_url", "/"))

    @property
    def hub_service(self) -> Mapping[str, Any] | None:
        """hub.services.<service_name> of the deployed hub release."""
        if not self.config.hub.enabled:
            return None
        found = value_at(self.hub_values, ("hub", "services", self.config.hub.service_name))
        return found if isinstance(found, Mapping) else None

    @property
    def replicas_wanted(self) -> int | None:
        """The chart's `replicas` (its Deployment's), None without a release."""
        if self.binderhub_release is None or not self.binderhub_release.installed:
            return None
        return int(value_at(self.binderhub_values, ("replicas",), 1))

    def binderhub_env(self) -> dict[str, Any] | None:
        """The environment of the BinderHub container of its newest pod; None: no pod."""
        pod = newest(self.binderhub_pods or [])
        if pod is None:
            return None
        containers = (pod.get("spec") or {}).get("containers") or []
        return {str(var.get("name")): var for c in containers[:1] for var in c.get("env") or []}


def helm_time(text: str) -> str | None:
    """helm list's `updated` ("2026-01-02 03:04:05.123 +0000 UTC") as ISO 8601."""
    match = _HELM_TIME.match(text)
    if match is None:
        return text or None
    day, clock, offset = match.groups()
    zone = "Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}"
    return f"{day}T{clock}{zone}"


# ---- pods ------------------------------------------------------------------------------


def newest(pods: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    return max(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "", default=None)


def pod_name(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


def pod_node(pod: Mapping[str, Any]) -> str | None:
    node = (pod.get("spec") or {}).get("nodeName")
    return str(node) if node else None


def pod_phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase", "Unknown"))


def pods_ready(pods: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """(ready, total) of the pods not being deleted."""
    alive = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    return sum(1 for p in alive if pod_ready(dict(p))), len(alive)


def container_states(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status") or {}
    return list(status.get("initContainerStatuses") or []) + list(
        status.get("containerStatuses") or []
    )


def waiting_reasons(pod: Mapping[str, Any]) -> list[str]:
    return [
        str(s["state"]["waiting"].get("reason", ""))
        for s in container_states(pod)
        if (s.get("state") or {}).get("waiting")
    ]


def pod_images(pod: Mapping[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    return [
        str(c.get("image", ""))
        for c in list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    ]


def parse_service_url(url: str) -> tuple[str, str | None, int] | None:
    """(Service, namespace or None, port) of an in-cluster URL such as
    http://binderhub.binder:80 or http://binderhub.binder.svc.cluster.local/;
    None for a URL that names no Service (an IP address, an outside host)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    labels = host.removesuffix(".cluster.local").removesuffix(".svc").split(".")
    if not host or len(labels) > 2 or any(not label for label in labels):
        return None
    if all(label.isdigit() for label in host.split(".")):
        return None
    default = 443 if parts.scheme == "https" else 80
    return labels[0], labels[1] if len(labels) == 2 else None, port or default


def finished_at(pod: Mapping[str, Any]) -> str:
    """When a pod's containers ended (else when it started), as the API writes it."""
    status = pod.get("status") or {}
    ends = [
        str(s["state"]["terminated"].get("finishedAt") or "")
        for s in status.get("containerStatuses") or []
        if (s.get("state") or {}).get("terminated")
    ]
    return max(ends, default="") or str(status.get("startTime") or "")


def recent(pod: Mapping[str, Any], now: datetime) -> bool:
    """Whether the pod ended (or started) within RECENT of `now`."""
    stamp = finished_at(pod) or str((pod.get("metadata") or {}).get("creationTimestamp") or "")
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return True  # no time to judge by: keep it
    return now - when <= RECENT
