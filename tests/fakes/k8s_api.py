"""A fake Kubernetes API server on 127.0.0.1 for the kubernetes Python client and helm.

It speaks the real HTTP API: discovery (/version, /api, /apis and each group's
resource list), create / get / list / watch / update / patch (merge, JSON,
strategic and server-side apply) / delete (with DeleteOptions' uid and
resourceVersion preconditions) of the resources in `k8s_resources.RESOURCES`,
label and field selectors, pod logs, events, and pod port-forwarding over a
websocket (`v4.channel.k8s.io`) relayed to a local TCP target.

Instead of a kubelet and controllers it runs small simulations: a new namespace
gets its `default` ServiceAccount and `kube-root-ca.crt` ConfigMap, a Deployment
gets a ReplicaSet and pods, a DaemonSet one pod per node its nodeSelector and
tolerations admit (one node at start; `add_node` adds more), a bare pod made
with `start_pod` is scheduled and started as a client's pod (BinderHub's build
pods, the hub's user pods), and each pod ends in the state chosen for it
(`ready`, `ImagePullBackOff`, `ImagePullUnauthorized`, `CrashLoopBackOff`,
`Unschedulable`, or `Failed` for a pod that ran to a failure), with the status,
events and logs a real cluster shows.
Workload statuses follow their pods, so `helm --wait` (both the helm 3 legacy
checks and helm 4's kstatus watcher) behaves as on a cluster.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from aiohttp import WSMsgType, web

from fakes import k8s_patch as patches
from fakes import k8s_proto
from fakes.k8s_resources import (
    BY_KIND,
    BY_PATH,
    GENERATION_KINDS,
    Invalid,
    Resource,
    api_group,
    api_group_list,
    api_resource_list,
    default_object,
    openapi_group_version,
    openapi_root,
    spec_fingerprint,
    template_hash,
    validate,
)
from fakes.k8s_tls import make_tls

PORTFORWARD_PROTOCOL = "v4.channel.k8s.io"
SERVER_VERSION = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.4",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.24.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}
NODE_NAME = "fake-node-1"
BEHAVIORS = (
    "ready",
    "ImagePullBackOff",
    "ImagePullUnauthorized",
    "CrashLoopBackOff",
    "Unschedulable",
    "Failed",
)
UNSCHEDULABLE_MESSAGE = (
    "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
    "3 No preemption victims found for incoming pod."
)
CRASH_LOG = [
    "Traceback (most recent call last):",
    '  File "/usr/local/bin/binderhub", line 8, in <module>',
    "    sys.exit(main())",
    "traitlets.traitlets.TraitError: The 'image_prefix' trait of a BinderHub instance expected a "
    "valid image reference",
]


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def selector_matches(selector: str | None, labels: dict[str, str]) -> bool:
    """Kubernetes label selector syntax: =, ==, !=, in, notin, exists, !exists."""
    if not selector:
        return True
    for term in re.split(r",(?![^()]*\))", selector):
        term = term.strip()
        if not term:
            continue
        match = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if match:
            key, op, values = match.groups()
            options = {v.strip() for v in values.split(",")}
            present = key in labels and labels[key] in options
            if (op == "in") != present:
                return False
            continue
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _field_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def field_selector_matches(selector: str | None, obj: dict[str, Any]) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if _field_value(obj, key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if _field_value(obj, key.strip()) != value.strip():
                return False
    return True


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    user_agent: str

    @property
    def verb(self) -> str:
        return self.method


@dataclass
class Write:
    """A change the fake persisted: who changed what."""

    verb: str  # create | update | patch | apply | delete
    kind: str
    namespace: str
    name: str
    user_agent: str = ""


@dataclass
class PodRule:
    selector: str
    behavior: str
    image: str | None = None  # a substring of one of the pod's container images


@dataclass
class _Watcher:
    key: tuple[str, str]
    namespace: str | None
    label_selector: str | None
    field_selector: str | None
    queue: asyncio.Queue[dict[str, Any]]


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{resource.plural}{"." + resource.group if resource.group else ""} "{name}" not found',
        {"name": name, "group": resource.group, "kind": resource.plural},
    )


@dataclass
class FakeKubernetes:
    """The fake API server. Use as a context manager, or call start() / stop()."""

    token: str = field(default_factory=lambda: secrets.token_hex(16))
    # Seconds between a pod's creation and its final state.
    ready_delay: float = 0.0
    # As a kubelet: pods whose Secrets / ConfigMaps (env or volumes) are missing wait
    # (CreateContainerConfigError, FailedMount) until they appear.
    strict_references: bool = False
    # (namespace, plural) the token may not read, as RBAC would answer: 403.
    forbidden_reads: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.writes: list[Write] = []
        self.pod_rules: list[PodRule] = []
        self.pod_logs: list[tuple[str, list[str]]] = []
        # Remote pod port -> local TCP address that port-forwards reach.
        self.port_targets: dict[int, tuple[str, int]] = {}
        # What GET /version answers (a test may make it hostile).
        self.version: dict[str, str] = dict(SERVER_VERSION)
        self._store: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {}
        self._applied: dict[tuple[str, str, str, str, str], Any] = {}
        # Pods waiting for a Secret or ConfigMap: (namespace, name) -> their behavior.
        self._blocked: dict[tuple[str, str], str] = {}
        self._history: list[tuple[int, tuple[str, str], str, dict[str, Any]]] = []
        self._watchers: list[_Watcher] = []
        self._rv = 100
        self._ip = 10
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._closing = False

    # ---- lifecycle ------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeKubernetes:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as err:  # surface bind errors to start()
                failure.append(err)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop_site())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-kubernetes", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Kubernetes API did not start")
        if failure:
            raise failure[0]
        self.call(self._seed_cluster)

    async def _start_site(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        # TLS as a real API server: client-go sends bearer tokens only over https.
        self._tls = make_tls()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._tls.server_context())
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _stop_site(self) -> None:
        for watcher in self._watchers:
            watcher.queue.put_nowait({"type": "_CLOSE"})
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._closing = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn on the server's loop (where all state lives) and return its result."""
        assert self._loop is not None

        async def wrapper() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(10)

    # ---- test helpers ---------------------------------------------------

    def kubeconfig(self, path: Path, context: str = "fake", namespace: str = "default") -> Path:
        """Write a kubeconfig whose current context reaches this server with a bearer token."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "fake-cluster",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self._tls.ca_pem).decode(),
                    },
                }
            ],
            "users": [{"name": "fake-user", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": context,
                    "context": {
                        "cluster": "fake-cluster",
                        "user": "fake-user",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        return path

    def set_pod_behavior(self, behavior: str, selector: str = "", image: str | None = None) -> None:
        """Pods created from now on whose labels match `selector` (and, if given, with a
        container image containing `image`) end in `behavior`. Later rules win."""
        if behavior not in BEHAVIORS:
            raise ValueError(f"unknown pod behavior {behavior!r}")
        self.pod_rules.insert(0, PodRule(selector, behavior, image))

    def add_node(self, name: str, labels: dict[str, str] | None = None) -> None:
        """A node joins the cluster, ready; DaemonSets that admit it start a pod there."""
        self.create({"apiVersion": "v1", "kind": "Node", **_node(name, labels or {})})

    def set_node_condition(
        self, node: str, kind: str, status: str, reason: str = "", message: str = ""
    ) -> None:
        """The kubelet reports a condition of its node (DiskPressure, MemoryPressure, ...)."""

        def update() -> None:
            current = self._existing(self._kind("Node"), "", node)
            conditions = [
                c for c in current.get("status", {}).get("conditions", []) if c["type"] != kind
            ]
            conditions.append(
                {
                    "type": kind,
                    "status": status,
                    "reason": reason or kind,
                    "message": message,
                    "lastHeartbeatTime": now(),
                    "lastTransitionTime": now(),
                }
            )
            self._set_status(
                "Node", current, {**current.get("status", {}), "conditions": conditions}
            )

        self.call(update)

    def start_pod(self, pod: dict[str, Any], behavior: str = "ready") -> dict[str, Any]:
        """A bare pod created through the API as a client creates it (BinderHub's build
        pods, KubeSpawner's user pods): the scheduler binds it to its spec.nodeName (or
        the first node) and the kubelet brings it to `behavior`. Returns the pod."""
        if behavior not in BEHAVIORS:
            raise ValueError(f"unknown pod behavior {behavior!r}")

        def start() -> dict[str, Any]:
            obj = copy.deepcopy(pod)
            obj.setdefault("apiVersion", "v1")
            obj["kind"] = "Pod"
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
            if behavior != "Unschedulable":
                obj.setdefault("spec", {}).setdefault("nodeName", NODE_NAME)
            namespace = obj["metadata"]["namespace"]
            created = self._create(self._kind("Pod"), namespace, obj, "test")
            self._settle_pod(namespace, created["metadata"]["name"], behavior)
            return copy.deepcopy(
                self._existing(self._kind("Pod"), namespace, created["metadata"]["name"])
            )

        result: dict[str, Any] = self.call(start)
        return result

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        resource = self._kind(kind)

        def collect() -> list[dict[str, Any]]:
            bucket = self._store.get((resource.group, resource.plural), {})
            return [
                copy.deepcopy(o) for (ns, _), o in sorted(bucket.items()) if namespace in (None, ns)
            ]

        result: list[dict[str, Any]] = self.call(collect)
        return result

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = [o for o in self.objects(kind, namespace) if o["metadata"]["name"] == name]
        return found[0] if found else None

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create an object as a client would (defaults, controllers and all)."""
        resource = self._kind(obj["kind"], obj.get("apiVersion", "v1"))
        namespace = obj.get("metadata", {}).get("namespace", "") if resource.namespaced else ""
        result: dict[str, Any] = self.call(
            self._create, resource, namespace, copy.deepcopy(obj), "test"
        )
        return result

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete an object as a client would (`kubectl delete`), controllers reacting."""
        resource = self._kind(kind)
        self.call(self._delete, resource, namespace if resource.namespaced else "", name, "kubectl")

    def snapshot(self) -> Any:
        """Everything the cluster holds, to `restore` after a test changed it."""
        return self.call(
            lambda: copy.deepcopy((self._store, self._applied, self.pod_rules, self.pod_logs))
        )

    def restore(self, snapshot: Any) -> None:
        """Back to a `snapshot` (watchers are not told: for tests of read-only commands)."""

        def put_back() -> None:
            store, applied, rules, logs = copy.deepcopy(snapshot)
            self._store, self._applied = store, applied
            self.pod_rules[:], self.pod_logs[:] = rules, logs
            self._blocked.clear()

        self.call(put_back)

    def writes_of(self, kind: str, name: str | None = None) -> list[Write]:
        return [w for w in self.writes if w.kind == kind and name in (None, w.name)]

    def _kind(self, kind: str, api_version: str | None = None) -> Resource:
        for (_group, k), resource in BY_KIND.items():
            if k == kind and (api_version is None or resource.group_version == api_version):
                return resource
        raise KeyError(kind)

    # ---- the store ------------------------------------------------------

    def _bucket(self, resource: Resource) -> dict[tuple[str, str], dict[str, Any]]:
        return self._store.setdefault((resource.group, resource.plural), {})

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _notify(self, resource: Resource, event_type: str, obj: dict[str, Any]) -> None:
        key = (resource.group, resource.plural)
        snapshot = copy.deepcopy(obj)
        self._history.append((int(obj["metadata"]["resourceVersion"]), key, event_type, snapshot))
        for watcher in self._watchers:
            if watcher.key != key:
                continue
            if watcher.namespace and obj["metadata"].get("namespace") != watcher.namespace:
                continue
            if not self._visible(watcher, obj):
                continue
            watcher.queue.put_nowait({"type": event_type, "object": snapshot})

    @staticmethod
    def _visible(watcher: _Watcher, obj: dict[str, Any]) -> bool:
        labels = obj["metadata"].get("labels") or {}
        return selector_matches(watcher.label_selector, labels) and field_selector_matches(
            watcher.field_selector, obj
        )

    def _seed_cluster(self) -> None:
        for name in ("default", "kube-system", "kube-public"):
            self._create(BY_PATH[("", "v1", "namespaces")], "", {"metadata": {"name": name}}, "")
        self._create(BY_PATH[("", "v1", "nodes")], "", _node(NODE_NAME, {}), "")
        self.writes.clear()

    def _cluster_ip(self) -> str:
        self._ip += 1
        return f"10.96.{self._ip // 250}.{self._ip % 250 + 1}"

    def _namespace_check(self, resource: Resource, namespace: str) -> None:
        if not resource.namespaced:
            return
        ns = self._bucket(BY_PATH[("", "v1", "namespaces")]).get(("", namespace))
        if ns is None:
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                {"name": namespace, "kind": "namespaces"},
            )
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    def _prepare(self, resource: Resource, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the body of the request is not an object")
        obj["apiVersion"] = resource.group_version
        obj["kind"] = resource.kind
        meta = obj.setdefault("metadata", {})
        if resource.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request",
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        for key in ("labels", "annotations"):
            if meta.get(key) is None:
                meta.pop(key, None)
        return obj

    def _create(
        self,
        resource: Resource,
        namespace: str,
        obj: dict[str, Any],
        agent: str,
        dry_run: bool = False,
        verb: str = "create",
    ) -> dict[str, Any]:
        obj = self._prepare(resource, namespace, obj)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        name = meta.get("name", "")
        if not name:
            raise ApiError(
                422, "Invalid", f"{resource.kind} is invalid: metadata.name: Required value"
            )
        self._namespace_check(resource, namespace)
        bucket = self._bucket(resource)
        if (namespace, name) in bucket:
            raise ApiError(
                409,
                "AlreadyExists",
                f'{resource.plural}{"." + resource.group if resource.group else ""} "{name}" '
                "already exists",
                {"name": name, "group": resource.group, "kind": resource.plural},
            )
        if resource.kind not in ("Pod", "Node", "Namespace", "Event"):
            obj.pop("status", None)
        default_object(resource, obj, self._cluster_ip() if resource.kind == "Service" else "")
        self._validate(resource, obj, None)
        for server_field in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp"):
            meta.pop(server_field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if resource.kind in GENERATION_KINDS:
            meta["generation"] = 1
        if dry_run:
            meta["resourceVersion"] = str(self._rv)
            return obj
        meta["resourceVersion"] = self._next_rv()
        bucket[(namespace, name)] = obj
        self.writes.append(Write(verb, resource.kind, namespace, name, agent))
        self._notify(resource, "ADDED", obj)
        self._after_change(resource, obj)
        return copy.deepcopy(obj)

    @staticmethod
    def _validate(resource: Resource, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        try:
            validate(resource, obj, old)
        except Invalid as err:
            raise ApiError(
                422,
                "Invalid",
                str(err),
                {
                    "name": err.name,
                    "group": resource.group,
                    "kind": resource.kind,
                    "causes": [
                        {"reason": "FieldValueInvalid", "message": m, "field": f}
                        for f, m in err.causes
                    ],
                },
            ) from None

    def _existing(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        obj = self._bucket(resource).get((namespace, name))
        if obj is None:
            raise _not_found(resource, name)
        return obj

    def _update(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        new: dict[str, Any],
        agent: str,
        verb: str,
        dry_run: bool = False,
        status_only: bool = False,
    ) -> dict[str, Any]:
        old = self._existing(resource, namespace, name)
        new = self._prepare(resource, namespace, new)
        meta = new["metadata"]
        if meta.get("name", name) != name:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        sent_rv = meta.get("resourceVersion")
        if verb == "update" and sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource.plural} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                {"name": name, "group": resource.group, "kind": resource.plural},
            )
        if status_only:
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is not None:
                new["status"] = status
        else:
            for server_field in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
                if server_field in old["metadata"]:
                    meta[server_field] = old["metadata"][server_field]
                else:
                    meta.pop(server_field, None)
            meta["name"] = name
            if "status" in old and resource.kind not in ("Namespace",):
                new["status"] = copy.deepcopy(old["status"])
            elif resource.kind != "Namespace":
                new.pop("status", None)
            default_object(resource, new, "")
            if resource.kind == "Service":
                # clusterIP is immutable and allocated once.
                old_ip = old.get("spec", {}).get("clusterIP")
                if old_ip:
                    new["spec"]["clusterIP"] = old_ip
                    new["spec"]["clusterIPs"] = [old_ip]
            self._validate(resource, new, old)
            if resource.kind in GENERATION_KINDS and spec_fingerprint(new) != spec_fingerprint(old):
                meta["generation"] = int(old["metadata"].get("generation", 1)) + 1
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return copy.deepcopy(old)  # a no-op write changes nothing, not even the version
        if dry_run:
            return new
        meta["resourceVersion"] = self._next_rv()
        self._bucket(resource)[(namespace, name)] = new
        self.writes.append(Write(verb, resource.kind, namespace, name, agent))
        self._notify(resource, "MODIFIED", new)
        self._after_change(resource, new)
        return copy.deepcopy(new)

    def _delete(self, resource: Resource, namespace: str, name: str, agent: str) -> dict[str, Any]:
        obj = self._existing(resource, namespace, name)
        del self._bucket(resource)[(namespace, name)]
        obj["metadata"]["deletionTimestamp"] = now()
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self.writes.append(Write("delete", resource.kind, namespace, name, agent))
        self._notify(resource, "DELETED", obj)
        uid = obj["metadata"]["uid"]
        # Garbage collection of dependents (background propagation, done at once).
        for (group, plural), bucket in list(self._store.items()):
            for (ns, child_name), child in list(bucket.items()):
                owners = child["metadata"].get("ownerReferences") or []
                if any(o.get("uid") == uid for o in owners):
                    child_resource = next(
                        r for r in BY_PATH.values() if (r.group, r.plural) == (group, plural)
                    )
                    self._delete(child_resource, ns, child_name, "garbage-collector")
        if resource.kind == "Namespace":
            for (group, plural), bucket in list(self._store.items()):
                for ns, child_name in list(bucket):
                    if ns == name:
                        child_resource = next(
                            r for r in BY_PATH.values() if (r.group, r.plural) == (group, plural)
                        )
                        self._delete(child_resource, ns, child_name, "namespace-controller")
        self._after_delete(resource, obj)
        return obj

    # ---- simulated controllers -------------------------------------------

    def _after_change(self, resource: Resource, obj: dict[str, Any]) -> None:
        if resource.kind == "Namespace":
            self._namespace_defaults(obj["metadata"]["name"])
        elif resource.kind == "Deployment":
            self._reconcile_deployment(obj)
        elif resource.kind == "ReplicaSet":
            self._reconcile_replicaset(obj)
        elif resource.kind == "DaemonSet":
            self._reconcile_daemonset(obj)
        elif resource.kind == "Node":
            # The DaemonSet controller starts pods on nodes that join.
            for ds in list(self._bucket(self._kind("DaemonSet")).values()):
                self._reconcile_daemonset(ds)
        elif resource.kind in ("Secret", "ConfigMap"):
            # The kubelet retries pods that waited for this object.
            namespace = obj["metadata"]["namespace"]
            for (ns, name), behavior in list(self._blocked.items()):
                if ns == namespace:
                    self._settle_pod(ns, name, behavior)

    def _namespace_defaults(self, namespace: str) -> None:
        """What a cluster's controllers put in every new namespace: the `default`
        ServiceAccount and the `kube-root-ca.crt` ConfigMap (with the cluster's CA)."""
        defaults = [
            ("ServiceAccount", "serviceaccount-controller", {"metadata": {"name": "default"}}),
            (
                "ConfigMap",
                "root-ca-cert-publisher",
                {
                    "metadata": {
                        "name": "kube-root-ca.crt",
                        "annotations": {
                            "kubernetes.io/description": "Contains a CA bundle that can be "
                            "used to verify the kube-apiserver when using internal endpoints "
                            "such as the internal service IP or kubernetes.default.svc. No other "
                            "usage is guaranteed across distributions of Kubernetes clusters."
                        },
                    },
                    "data": {"ca.crt": self._tls.ca_pem.decode()},
                },
            ),
        ]
        for kind, agent, body in defaults:
            resource = self._kind(kind)
            if (namespace, body["metadata"]["name"]) not in self._bucket(resource):
                self._create(resource, namespace, body, agent)

    def _missing_refs(self, namespace: str, spec: dict[str, Any]) -> tuple[list[str], list[str]]:
        """Secrets and ConfigMaps a pod needs that do not exist: (for env, for volumes)."""

        def missing(kind: str, name: str | None, optional: bool | None) -> bool:
            if not name or optional:
                return False
            return (namespace, name) not in self._bucket(self._kind(kind))

        env_missing, volume_missing = [], []
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            for var in container.get("env", []):
                ref = var.get("valueFrom") or {}
                for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                    if key in ref and missing(kind, ref[key].get("name"), ref[key].get("optional")):
                        env_missing.append(f'{kind.lower()} "{ref[key]["name"]}" not found')
            for source in container.get("envFrom", []):
                for key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                    if key in source and missing(
                        kind, source[key].get("name"), source[key].get("optional")
                    ):
                        env_missing.append(f'{kind.lower()} "{source[key]["name"]}" not found')
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                ref = volume["secret"]
                if missing("Secret", ref.get("secretName"), ref.get("optional")):
                    volume_missing.append(
                        f'MountVolume.SetUp failed for volume "{volume["name"]}" : secret '
                        f'"{ref["secretName"]}" not found'
                    )
            if "configMap" in volume:
                ref = volume["configMap"]
                if missing("ConfigMap", ref.get("name"), ref.get("optional")):
                    volume_missing.append(
                        f'MountVolume.SetUp failed for volume "{volume["name"]}" : configmap '
                        f'"{ref["name"]}" not found'
                    )
        return env_missing, volume_missing

    def _after_delete(self, resource: Resource, obj: dict[str, Any]) -> None:
        if resource.kind != "Pod":
            return
        namespace = obj["metadata"]["namespace"]
        namespaces = self._bucket(self._kind("Namespace"))
        alive = ("", namespace) in namespaces and not namespaces[("", namespace)]["metadata"].get(
            "deletionTimestamp"
        )
        for owner in obj["metadata"].get("ownerReferences") or []:
            replica_set = self._bucket(self._kind("ReplicaSet")).get((namespace, owner["name"]))
            if alive and owner.get("kind") == "ReplicaSet" and replica_set is not None:
                # The ReplicaSet controller replaces a pod that went away (deleted,
                # evicted); a scale-down has lowered its replicas first.
                self._reconcile_replicaset(replica_set)
        self._refresh_owner(obj)

    def _owned(self, kind: str, namespace: str, owner_uid: str) -> list[dict[str, Any]]:
        resource = self._kind(kind)
        return [
            o
            for (ns, _), o in sorted(self._bucket(resource).items())
            if ns == namespace
            and any(r.get("uid") == owner_uid for r in o["metadata"].get("ownerReferences") or [])
        ]

    @staticmethod
    def _owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def _set_status(self, kind: str, obj: dict[str, Any], status: dict[str, Any]) -> None:
        resource = self._kind(kind)
        ns, name = obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        current = self._bucket(resource).get((ns, name))
        if current is None or current.get("status") == status:
            return
        current["status"] = status
        current["metadata"]["resourceVersion"] = self._next_rv()
        self._notify(resource, "MODIFIED", current)

    def _reconcile_deployment(self, dep: dict[str, Any]) -> None:
        ns = dep["metadata"]["namespace"]
        spec = dep["spec"]
        template = copy.deepcopy(spec["template"])
        pod_hash = template_hash(template)
        template["metadata"].setdefault("labels", {})["pod-template-hash"] = pod_hash
        rs_name = f"{dep['metadata']['name']}-{pod_hash}"
        rs_resource = self._kind("ReplicaSet")
        owned = self._owned("ReplicaSet", ns, dep["metadata"]["uid"])
        revision = 1 + max(
            (
                int(
                    r["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0)
                )
                for r in owned
            ),
            default=0,
        )
        current = next((r for r in owned if r["metadata"]["name"] == rs_name), None)
        if current is None:
            selector = copy.deepcopy(spec["selector"])
            selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
            rs = {
                "metadata": {
                    "name": rs_name,
                    "labels": dict(template["metadata"]["labels"]),
                    "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                    "ownerReferences": [self._owner_ref(dep)],
                },
                "spec": {"replicas": spec["replicas"], "selector": selector, "template": template},
            }
            self._create(rs_resource, ns, rs, "deployment-controller")
            self._event(
                dep,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled up replica set {rs_name} from 0 to {spec['replicas']}",
                "deployment-controller",
            )
        elif current["spec"]["replicas"] != spec["replicas"]:
            updated = copy.deepcopy(current)
            updated["spec"]["replicas"] = spec["replicas"]
            self._update(rs_resource, ns, rs_name, updated, "deployment-controller", "update")
        if spec["strategy"].get("type") == "Recreate":
            self._scale_down_old(dep, rs_name)
        self._refresh_deployment(dep["metadata"]["namespace"], dep["metadata"]["name"])

    def _scale_down_old(self, dep: dict[str, Any], keep: str) -> None:
        ns = dep["metadata"]["namespace"]
        resource = self._kind("ReplicaSet")
        for listed in self._owned("ReplicaSet", ns, dep["metadata"]["uid"]):
            # Read again: scaling one down may have changed another (as a controller
            # would, working from its informer's current copy).
            old = self._bucket(resource).get((ns, listed["metadata"]["name"]))
            if old is None:
                continue
            if old["metadata"]["name"] != keep and old["spec"]["replicas"] != 0:
                scaled = copy.deepcopy(old)
                scaled["spec"]["replicas"] = 0
                self._update(
                    self._kind("ReplicaSet"),
                    ns,
                    old["metadata"]["name"],
                    scaled,
                    "deployment-controller",
                    "update",
                )

    def _refresh_deployment(self, namespace: str, name: str) -> None:
        dep = self._bucket(self._kind("Deployment")).get((namespace, name))
        if dep is None:
            return
        spec = dep["spec"]
        wanted = int(spec.get("replicas", 1))
        pod_hash = template_hash(spec["template"])
        sets = self._owned("ReplicaSet", namespace, dep["metadata"]["uid"])
        pods = [p for rs in sets for p in self._owned("Pod", namespace, rs["metadata"]["uid"])]
        new_rs = next((r for r in sets if r["metadata"]["name"].endswith(pod_hash)), None)
        new_pods = self._owned("Pod", namespace, new_rs["metadata"]["uid"]) if new_rs else []
        ready = [p for p in pods if _pod_ready(p)]
        max_unavailable = _scaled(
            spec.get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable", 0), wanted
        )
        available = len(ready) >= wanted - max_unavailable
        stamp = now()
        rs_name = new_rs["metadata"]["name"] if new_rs else ""
        done = (
            len(new_pods) == wanted and all(_pod_ready(p) for p in new_pods) and len(pods) == wanted
        )
        old_status = dep.get("status", {})
        old_conditions = {c["type"]: c for c in old_status.get("conditions", [])}

        def condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
            previous = old_conditions.get(kind)
            transition = (
                previous["lastTransitionTime"]
                if previous and previous["status"] == status
                else stamp
            )
            update = (
                previous["lastUpdateTime"] if previous and previous["reason"] == reason else stamp
            )
            return {
                "type": kind,
                "status": status,
                "lastUpdateTime": update,
                "lastTransitionTime": transition,
                "reason": reason,
                "message": message,
            }

        status: dict[str, Any] = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": len(new_pods),
            "readyReplicas": len(ready),
            "availableReplicas": len(ready),
            "conditions": [
                condition(
                    "Available",
                    "True" if available else "False",
                    "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                    "Deployment has minimum availability."
                    if available
                    else "Deployment does not have minimum availability.",
                ),
                condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
                    f'ReplicaSet "{rs_name}" has successfully progressed.'
                    if done
                    else f'ReplicaSet "{rs_name}" is progressing.',
                ),
            ],
        }
        if wanted - len(ready) > 0:
            status["unavailableReplicas"] = wanted - len(ready)
        for key in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas"):
            if not status[key]:
                del status[key]  # omitted when zero, as the API serializes them
        self._set_status("Deployment", dep, status)
        # Rolling update: old pods go once the new ones are all ready.
        if new_rs is not None and len([p for p in new_pods if _pod_ready(p)]) >= wanted:
            self._scale_down_old(dep, new_rs["metadata"]["name"])

    def _reconcile_replicaset(self, rs: dict[str, Any]) -> None:
        ns = rs["metadata"]["namespace"]
        pods = self._owned("Pod", ns, rs["metadata"]["uid"])
        wanted = int(rs["spec"].get("replicas", 1))
        for _ in range(wanted - len(pods)):
            self._new_pod(rs, ns, rs["metadata"]["name"], rs["spec"]["template"])
            self._event(rs, "Normal", "SuccessfulCreate", "Created pod", "replicaset-controller")
        for extra in pods[wanted:]:
            if (ns, extra["metadata"]["name"]) in self._bucket(self._kind("Pod")):  # not gone yet
                self._delete(
                    self._kind("Pod"), ns, extra["metadata"]["name"], "replicaset-controller"
                )
        self._refresh_replicaset(ns, rs["metadata"]["name"])

    def _refresh_replicaset(self, namespace: str, name: str) -> None:
        rs = self._bucket(self._kind("ReplicaSet")).get((namespace, name))
        if rs is None:
            return
        pods = self._owned("Pod", namespace, rs["metadata"]["uid"])
        ready = len([p for p in pods if _pod_ready(p)])
        status: dict[str, Any] = {
            "replicas": len(pods),
            "fullyLabeledReplicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        for key in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
            if not status[key]:
                del status[key]
        self._set_status("ReplicaSet", rs, status)
        for owner in rs["metadata"].get("ownerReferences") or []:
            if owner.get("kind") == "Deployment":
                self._refresh_deployment(namespace, owner["name"])

    def _daemon_nodes(self, template: dict[str, Any]) -> list[str]:
        """The nodes a DaemonSet's pods belong on: its nodeSelector matches their labels
        and its tolerations cover their NoSchedule and NoExecute taints."""
        spec = template.get("spec", {})
        selector = spec.get("nodeSelector") or {}
        tolerations = spec.get("tolerations") or []

        def tolerated(taint: dict[str, Any]) -> bool:
            for t in tolerations:
                if t.get("effect") not in (None, "", taint.get("effect")):
                    continue
                if t.get("operator") == "Exists" and t.get("key") in (None, "", taint["key"]):
                    return True
                if t.get("key") == taint["key"] and t.get("value") == taint.get("value"):
                    return True
            return False

        chosen = []
        for (_, name), node in sorted(self._bucket(self._kind("Node")).items()):
            labels = node["metadata"].get("labels") or {}
            if any(labels.get(k) != v for k, v in selector.items()):
                continue
            taints = [
                t
                for t in (node.get("spec") or {}).get("taints") or []
                if t.get("effect") in ("NoSchedule", "NoExecute")
            ]
            if all(tolerated(t) for t in taints):
                chosen.append(name)
        return chosen

    @staticmethod
    def _daemon_pod_node(pod: dict[str, Any]) -> str | None:
        """The node a DaemonSet pod is for: the node affinity its controller gives it."""
        terms = (
            pod["spec"]
            .get("affinity", {})
            .get("nodeAffinity", {})
            .get("requiredDuringSchedulingIgnoredDuringExecution", {})
            .get("nodeSelectorTerms", [])
        )
        for term in terms:
            for field_match in term.get("matchFields", []):
                if field_match.get("key") == "metadata.name" and field_match.get("values"):
                    return str(field_match["values"][0])
        return pod["spec"].get("nodeName")

    def _reconcile_daemonset(self, ds: dict[str, Any]) -> None:
        ns = ds["metadata"]["namespace"]
        revision = template_hash(ds["spec"]["template"])
        nodes = self._daemon_nodes(ds["spec"]["template"])
        for pod in self._owned("Pod", ns, ds["metadata"]["uid"]):
            stale = pod["metadata"].get("labels", {}).get("controller-revision-hash") != revision
            if stale or self._daemon_pod_node(pod) not in nodes:
                self._delete(self._kind("Pod"), ns, pod["metadata"]["name"], "daemonset-controller")
        have = {self._daemon_pod_node(p) for p in self._owned("Pod", ns, ds["metadata"]["uid"])}
        for node in nodes:
            if node in have:
                continue
            template = copy.deepcopy(ds["spec"]["template"])
            template["metadata"].setdefault("labels", {})["controller-revision-hash"] = revision
            # As the DaemonSet controller does: the pod may only run on its node.
            template.setdefault("spec", {}).setdefault("affinity", {})["nodeAffinity"] = {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchFields": [
                                {"key": "metadata.name", "operator": "In", "values": [node]}
                            ]
                        }
                    ]
                }
            }
            self._new_pod(ds, ns, ds["metadata"]["name"], template, node)
        self._refresh_daemonset(ns, ds["metadata"]["name"])

    def _refresh_daemonset(self, namespace: str, name: str) -> None:
        ds = self._bucket(self._kind("DaemonSet")).get((namespace, name))
        if ds is None:
            return
        revision = template_hash(ds["spec"]["template"])
        desired = len(self._daemon_nodes(ds["spec"]["template"]))
        pods = self._owned("Pod", namespace, ds["metadata"]["uid"])
        ready = len([p for p in pods if _pod_ready(p)])
        updated = len(
            [p for p in pods if p["metadata"]["labels"].get("controller-revision-hash") == revision]
        )
        status: dict[str, Any] = {
            "currentNumberScheduled": len(pods),
            "numberMisscheduled": 0,
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "observedGeneration": ds["metadata"].get("generation", 1),
            "updatedNumberScheduled": updated,
            "numberAvailable": ready,
        }
        if ready < desired:
            status["numberUnavailable"] = desired - ready
        if not ready:
            del status["numberAvailable"]
        self._set_status("DaemonSet", ds, status)

    def _refresh_owner(self, pod: dict[str, Any]) -> None:
        ns = pod["metadata"]["namespace"]
        for owner in pod["metadata"].get("ownerReferences") or []:
            if owner.get("kind") == "ReplicaSet":
                self._refresh_replicaset(ns, owner["name"])
            elif owner.get("kind") == "DaemonSet":
                self._refresh_daemonset(ns, owner["name"])

    def _behavior_for(self, labels: dict[str, str], images: list[str]) -> str:
        for rule in self.pod_rules:
            if not selector_matches(rule.selector, labels):
                continue
            if rule.image is None or any(rule.image in image for image in images):
                return rule.behavior
        return "ready"

    def _new_pod(
        self,
        owner: dict[str, Any],
        namespace: str,
        prefix: str,
        template: dict[str, Any],
        node: str = NODE_NAME,
    ) -> None:
        suffix = "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        pod = {
            "metadata": {
                "name": f"{prefix}-{suffix}",
                "labels": dict(template.get("metadata", {}).get("labels", {})),
                "annotations": dict(template.get("metadata", {}).get("annotations", {})),
                "ownerReferences": [self._owner_ref(owner)],
            },
            "spec": copy.deepcopy(template.get("spec", {})),
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }
        images = [c.get("image", "") for c in pod["spec"].get("containers", [])]
        behavior = self._behavior_for(pod["metadata"]["labels"], images)
        if behavior != "Unschedulable":
            pod["spec"]["nodeName"] = node
        created = self._create(
            self._kind("Pod"), namespace, pod, f"{owner['kind'].lower()}-controller"
        )
        name = created["metadata"]["name"]
        if self.ready_delay > 0 and self._loop is not None:
            self._loop.call_later(self.ready_delay, self._settle_pod, namespace, name, behavior)
        else:
            self._settle_pod(namespace, name, behavior)

    def _settle_pod(self, namespace: str, name: str, behavior: str) -> None:
        pod = self._bucket(self._kind("Pod")).get((namespace, name))
        if pod is None:
            return
        stamp = now()
        containers = pod["spec"].get("containers", [])
        ready = behavior == "ready"

        def cond(kind: str, ok: bool, reason: str = "", message: str = "") -> dict[str, Any]:
            c: dict[str, Any] = {
                "type": kind,
                "status": "True" if ok else "False",
                "lastProbeTime": None,
                "lastTransitionTime": stamp,
            }
            if reason:
                c["reason"] = reason
            if message:
                c["message"] = message
            return c

        status: dict[str, Any] = {"qosClass": "BestEffort", "startTime": stamp}
        env_missing: list[str] = []
        volume_missing: list[str] = []
        if self.strict_references and behavior != "Unschedulable":
            env_missing, volume_missing = self._missing_refs(namespace, pod["spec"])
        self._blocked.pop((namespace, name), None)
        if env_missing or volume_missing:
            self._blocked[(namespace, name)] = behavior
            waiting = (
                {"reason": "ContainerCreating"}
                if volume_missing
                else {"reason": "CreateContainerConfigError", "message": env_missing[0]}
            )
            status.update(
                {
                    "phase": "Pending",
                    "conditions": [
                        cond("Ready", False, "ContainersNotReady"),
                        cond("ContainersReady", False, "ContainersNotReady"),
                        cond("PodScheduled", True),
                    ],
                    "containerStatuses": [
                        {
                            "name": c["name"],
                            "image": c.get("image", ""),
                            "imageID": "",
                            "ready": False,
                            "restartCount": 0,
                            "started": False,
                            "state": {"waiting": waiting},
                        }
                        for c in containers
                    ],
                }
            )
            for message in volume_missing:
                self._event(pod, "Warning", "FailedMount", message, "kubelet")
            for message in env_missing:
                self._event(pod, "Warning", "Failed", f"Error: {message}", "kubelet")
            self._set_status("Pod", pod, status)
            self._refresh_owner(pod)
            return
        if behavior == "Unschedulable":
            status = {
                "phase": "Pending",
                "qosClass": "BestEffort",
                "conditions": [cond("PodScheduled", False, "Unschedulable", UNSCHEDULABLE_MESSAGE)],
            }
            self._event(
                pod, "Warning", "FailedScheduling", UNSCHEDULABLE_MESSAGE, "default-scheduler"
            )
            self._set_status("Pod", pod, status)
            self._refresh_owner(pod)
            return
        pulling = behavior in ("ImagePullBackOff", "ImagePullUnauthorized")
        not_ready = "" if ready else "PodFailed" if behavior == "Failed" else "ContainersNotReady"
        waiting_names = ", ".join(c["name"] for c in containers)
        message = "" if ready else f"containers with unready status: [{waiting_names}]"
        phase = "Pending" if pulling else "Failed" if behavior == "Failed" else "Running"
        status.update(
            {
                "phase": phase,
                "hostIP": "10.0.0.10",
                "podIP": f"10.244.0.{len(self._history) % 250 + 2}",
                "conditions": [
                    cond("PodReadyToStartContainers", True),
                    cond("Initialized", True),
                    cond("Ready", ready, not_ready, message),
                    cond("ContainersReady", ready, not_ready, message),
                    cond("PodScheduled", True),
                ],
            }
        )
        statuses = []
        for container in containers:
            image = container.get("image", "")
            entry: dict[str, Any] = {
                "name": container["name"],
                "image": image,
                "imageID": "",
                "ready": ready,
                "restartCount": 0,
                "started": ready,
            }
            if behavior == "ready":
                entry["state"] = {"running": {"startedAt": stamp}}
                entry["imageID"] = f"{image.split(':')[0]}@sha256:{'0' * 64}"
                entry["containerID"] = f"containerd://{secrets.token_hex(32)}"
            elif pulling:
                entry["state"] = {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": f'Back-off pulling image "{image}"',
                    }
                }
            elif behavior == "Failed":
                # Ran once (restartPolicy Never) and exited with an error.
                entry["imageID"] = f"{image.split(':')[0]}@sha256:{'0' * 64}"
                entry["containerID"] = f"containerd://{secrets.token_hex(32)}"
                entry["state"] = {
                    "terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "startedAt": stamp,
                        "finishedAt": stamp,
                        "containerID": entry["containerID"],
                    }
                }
            else:
                entry["restartCount"] = 4
                entry["state"] = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": f"back-off 1m20s restarting failed "
                        f"container={container['name']} "
                        f"pod={name}_{namespace}({pod['metadata']['uid']})",
                    }
                }
                entry["lastState"] = {
                    "terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "startedAt": stamp,
                        "finishedAt": stamp,
                    }
                }
            statuses.append(entry)
        status["containerStatuses"] = statuses
        self._event(
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {namespace}/{name} to {pod['spec'].get('nodeName')}",
            "default-scheduler",
        )
        for container in containers:
            image = container.get("image", "")
            if pulling:
                self._event(pod, "Normal", "Pulling", f'Pulling image "{image}"', "kubelet")
                self._event(
                    pod,
                    "Warning",
                    "Failed",
                    f'Failed to pull image "{image}": rpc error: code = '
                    + (
                        f"NotFound desc = failed to pull and unpack image {image!r}: not found"
                        if behavior == "ImagePullBackOff"
                        else _pull_refused(image)
                    ).replace("'", '"'),
                    "kubelet",
                )
                self._event(pod, "Warning", "Failed", "Error: ErrImagePull", "kubelet")
                self._event(
                    pod, "Warning", "BackOff", f'Back-off pulling image "{image}"', "kubelet"
                )
            elif behavior == "CrashLoopBackOff":
                self._event(
                    pod, "Normal", "Started", f"Started container {container['name']}", "kubelet"
                )
                self._event(
                    pod,
                    "Warning",
                    "BackOff",
                    f"Back-off restarting failed container {container['name']} in pod "
                    f"{name}_{namespace}({pod['metadata']['uid']})",
                    "kubelet",
                )
            else:
                self._event(
                    pod, "Normal", "Started", f"Started container {container['name']}", "kubelet"
                )
        self._set_status("Pod", pod, status)
        self._refresh_owner(pod)

    def _event(
        self, obj: dict[str, Any], kind: str, reason: str, message: str, component: str
    ) -> None:
        namespace = obj["metadata"].get("namespace") or "default"
        stamp = now()
        event = {
            "metadata": {
                "name": f"{obj['metadata']['name']}.{secrets.token_hex(8)}",
                "namespace": namespace,
            },
            "involvedObject": {
                "kind": obj["kind"],
                "namespace": namespace,
                "name": obj["metadata"]["name"],
                "uid": obj["metadata"]["uid"],
                "apiVersion": obj["apiVersion"],
            },
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": kind,
            "reportingComponent": component,
        }
        self._create(self._kind("Event"), namespace, event, component)
        self.writes.pop()  # events are noise in the write log

    # ---- HTTP -------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(
                request.method,
                request.path,
                parse_qs(request.query_string, keep_blank_values=True),
                request.headers.get("Content-Type", ""),
                request.headers.get("User-Agent", ""),
            )
        )
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json(ApiError(401, "Unauthorized", "Unauthorized").status(), 401)
        try:
            return await self._dispatch(request)
        except ApiError as err:
            return _json(err.status(), err.code)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            return _json(self.version)
        if path == "/api":
            return _json(
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
                    ],
                }
            )
        if path == "/apis":
            return _json(api_group_list())
        if path == "/openapi/v3":
            return _json(openapi_root())
        if path.startswith("/openapi/v3/"):
            doc = openapi_group_version(path.removeprefix("/openapi/v3/"))
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return _json(doc)
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts and parts[0] == "apis" and len(parts) >= 2:
            if len(parts) == 2:
                doc = api_group(parts[1])
                if doc is None:
                    raise ApiError(
                        404, "NotFound", "the server could not find the requested resource"
                    )
                return _json(doc)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            doc = api_resource_list(group, version)
            if doc is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return _json(doc)
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3 and (group, version, rest[2]) in BY_PATH:
            namespace, rest = rest[1], rest[2:]
        resource = BY_PATH.get((group, version, rest[0]))
        if resource is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if resource.namespaced and not namespace and len(rest) > 1:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        return await self._resource(request, resource, namespace, name, sub)

    async def _resource(
        self,
        request: web.Request,
        resource: Resource,
        namespace: str,
        name: str | None,
        sub: str | None,
    ) -> web.StreamResponse:
        query = request.query
        agent = request.headers.get("User-Agent", "")
        dry_run = query.get("dryRun") == "All"
        method = request.method
        if method == "GET" and (namespace, resource.plural) in self.forbidden_reads:
            verb = "get" if name else "list"
            scope = (
                f'in the namespace "{namespace}"' if resource.namespaced else "at the cluster scope"
            )
            raise ApiError(
                403,
                "Forbidden",
                f'{resource.plural} is forbidden: User "fake-user" cannot {verb} resource '
                f'"{resource.plural}" in API group "{resource.group}" {scope}',
            )
        if name is None:
            if method == "GET":
                if query.get("watch") in ("true", "1"):
                    return await self._watch(request, resource, namespace)
                return _json(self._list(resource, namespace, query))
            if method == "POST":
                body = await _body(request)
                return _json(self._create(resource, namespace, body, agent, dry_run), 201)
            if method == "DELETE":
                for obj in self._list(resource, namespace, query)["items"]:
                    self._delete(resource, namespace, obj["metadata"]["name"], agent)
                return _json(
                    {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
                )
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")
        if sub == "log" and resource.kind == "Pod":
            return self._log(namespace, name, query)
        if sub == "portforward" and resource.kind == "Pod":
            return await self._portforward(request, namespace, name)
        if sub not in (None, "status"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET":
            return _json(copy.deepcopy(self._existing(resource, namespace, name)))
        if method == "PUT":
            body = await _body(request)
            return _json(
                self._update(
                    resource, namespace, name, body, agent, "update", dry_run, sub == "status"
                )
            )
        if method == "PATCH":
            return await self._patch(request, resource, namespace, name, sub, agent, dry_run)
        if method == "DELETE":
            self._check_preconditions(resource, namespace, name, await _body(request))
            obj = self._delete(resource, namespace, name, agent)
            return _json(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": name,
                        "group": resource.group,
                        "kind": resource.plural,
                        "uid": obj["metadata"]["uid"],
                    },
                }
            )
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")

    def _check_preconditions(
        self, resource: Resource, namespace: str, name: str, options: Any
    ) -> None:
        """DeleteOptions.preconditions: the object must still be the one with that uid
        (and resourceVersion), else 409 Conflict, as the API server answers."""
        wanted = (options.get("preconditions") or {}) if isinstance(options, dict) else {}
        obj = self._existing(resource, namespace, name)
        meta = obj["metadata"]
        group = f".{resource.group}" if resource.group else ""
        for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            if wanted.get(key) and wanted[key] != meta.get(key):
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {resource.plural}{group} "{name}": '
                    f"Precondition failed: {label} in precondition: {wanted[key]}, {label} in "
                    f"object meta: {meta.get(key)}",
                    {"name": name, "group": resource.group, "kind": resource.plural},
                )

    def _list(self, resource: Resource, namespace: str, query: Any) -> dict[str, Any]:
        labels, fields = query.get("labelSelector"), query.get("fieldSelector")
        items = []
        for (ns, _), obj in sorted(self._bucket(resource).items()):
            if namespace and ns != namespace:
                continue
            if not selector_matches(labels, obj["metadata"].get("labels") or {}):
                continue
            if not field_selector_matches(fields, obj):
                continue
            item = copy.deepcopy(obj)
            # Items of a typed list carry no kind/apiVersion on the wire.
            item.pop("kind", None)
            item.pop("apiVersion", None)
            items.append(item)
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.group_version,
            "metadata": {"resourceVersion": str(self._rv)},
            "items": items,
        }

    async def _patch(
        self,
        request: web.Request,
        resource: Resource,
        namespace: str,
        name: str,
        sub: str | None,
        agent: str,
        dry_run: bool,
    ) -> web.StreamResponse:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        raw = await request.read()
        bucket = self._bucket(resource)
        if content_type == "application/apply-patch+yaml":
            applied = yaml.safe_load(raw.decode())
            manager = request.query.get("fieldManager", "")
            if not manager:
                raise ApiError(
                    422,
                    "Invalid",
                    'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value',
                )
            applied_key = (resource.group, resource.plural, namespace, name, manager)
            if (namespace, name) not in bucket:
                created = self._create(
                    resource, namespace, copy.deepcopy(applied), agent, dry_run, "apply"
                )
                if not dry_run:
                    self._applied[applied_key] = applied
                return _json(created, 201)
            live = bucket[(namespace, name)]
            new = patches.apply_patch(live, applied, self._applied.get(applied_key))
            result = self._update(
                resource, namespace, name, new, agent, "apply", dry_run, sub == "status"
            )
            if not dry_run:
                self._applied[applied_key] = applied
            return _json(result)
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise ApiError(400, "BadRequest", "the body of the request is not valid JSON") from None
        live = self._existing(resource, namespace, name)
        try:
            if content_type == "application/merge-patch+json":
                new = patches.merge_patch(live, body)
            elif content_type == "application/strategic-merge-patch+json":
                new = patches.strategic_merge_patch(live, body)
            elif content_type == "application/json-patch+json":
                new = patches.json_patch(live, body)
            else:
                raise ApiError(
                    415, "UnsupportedMediaType", f"the media type {content_type!r} is not supported"
                )
        except patches.PatchError as err:
            raise ApiError(422, "Invalid", str(err)) from None
        return _json(
            self._update(resource, namespace, name, new, agent, "patch", dry_run, sub == "status")
        )

    async def _watch(
        self, request: web.Request, resource: Resource, namespace: str
    ) -> web.StreamResponse:
        query = request.query
        watcher = _Watcher(
            (resource.group, resource.plural),
            namespace or None,
            query.get("labelSelector"),
            query.get("fieldSelector"),
            asyncio.Queue(),
        )
        since = query.get("resourceVersion", "")
        initial: list[dict[str, Any]] = []
        if since in ("", "0") or query.get("sendInitialEvents") == "true":
            for obj in self._list(resource, namespace, query)["items"]:
                obj["kind"], obj["apiVersion"] = resource.kind, resource.group_version
                initial.append({"type": "ADDED", "object": obj})
        else:
            for rv, key, event_type, obj in self._history:
                if key != watcher.key or rv <= int(since):
                    continue
                if watcher.namespace and obj["metadata"].get("namespace") != watcher.namespace:
                    continue
                if self._visible(watcher, obj):
                    initial.append({"type": event_type, "object": obj})
        if query.get("sendInitialEvents") == "true":
            initial.append(
                {
                    "type": "BOOKMARK",
                    "object": {
                        "kind": resource.kind,
                        "apiVersion": resource.group_version,
                        "metadata": {
                            "resourceVersion": str(self._rv),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                }
            )
        self._watchers.append(watcher)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        timeout = float(query.get("timeoutSeconds", "1800"))
        deadline = time.monotonic() + timeout
        try:
            for event in initial:
                await response.write(json.dumps(event).encode() + b"\n")
            while not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), min(remaining, 1.0))
                except asyncio.TimeoutError:
                    continue
                if event["type"] == "_CLOSE":
                    break
                await response.write(json.dumps(event).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._watchers.remove(watcher)
        return response

    def _log(self, namespace: str, name: str, query: Any) -> web.StreamResponse:
        pod = self._existing(self._kind("Pod"), namespace, name)
        containers = [c["name"] for c in pod["spec"].get("containers", [])]
        container = query.get("container") or (containers[0] if len(containers) == 1 else None)
        if container is None:
            raise ApiError(
                400,
                "BadRequest",
                f"a container name must be specified for pod {name}, choose one of: {containers}",
            )
        if container not in containers:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        state = next(
            (
                s
                for s in pod.get("status", {}).get("containerStatuses", [])
                if s["name"] == container
            ),
            None,
        )
        waiting = (state or {}).get("state", {}).get("waiting", {})
        if state is None or (waiting and waiting.get("reason") != "CrashLoopBackOff"):
            reason = "trying and failing to pull image" if waiting else "ContainerCreating"
            raise ApiError(
                400,
                "BadRequest",
                f'container "{container}" in pod "{name}" is waiting to start: {reason}',
            )
        lines = self._log_lines(pod, waiting.get("reason") == "CrashLoopBackOff")
        tail = query.get("tailLines")
        if tail is not None:
            lines = lines[-int(tail) :] if int(tail) > 0 else []
        return web.Response(text="".join(f"{line}\n" for line in lines), content_type="text/plain")

    def _log_lines(self, pod: dict[str, Any], crashed: bool) -> list[str]:
        labels = pod["metadata"].get("labels") or {}
        for selector, lines in self.pod_logs:
            if selector_matches(selector, labels):
                return lines
        if crashed:
            return [f"[I 2026-01-01 00:00:0{i} start] step {i}" for i in range(5)] + CRASH_LOG
        return [f"[I 2026-01-01 00:00:0{i} app] started, line {i}" for i in range(30)]

    async def _portforward(
        self, request: web.Request, namespace: str, name: str
    ) -> web.StreamResponse:
        pod = self._existing(self._kind("Pod"), namespace, name)
        if pod.get("status", {}).get("phase") != "Running":
            raise ApiError(400, "BadRequest", f"pod {name} is not running")
        ports = [
            int(p) for value in request.query.getall("ports", []) for p in value.split(",") if p
        ]
        if not ports:
            raise ApiError(400, "BadRequest", "at least one port must be specified")
        ws = web.WebSocketResponse(protocols=(PORTFORWARD_PROTOCOL,), autoping=True)
        await ws.prepare(request)
        writers: dict[int, asyncio.StreamWriter] = {}
        pumps = []
        for index, port in enumerate(ports):
            # The first frame on each channel (data, then error) names the port, little-endian.
            await ws.send_bytes(bytes([index * 2]) + port.to_bytes(2, "little"))
            await ws.send_bytes(bytes([index * 2 + 1]) + port.to_bytes(2, "little"))
            target = self.port_targets.get(port)
            try:
                if target is None:
                    raise OSError("connect: connection refused")
                reader, writer = await asyncio.wait_for(asyncio.open_connection(*target), 5)
            except (OSError, asyncio.TimeoutError) as err:
                message = (
                    f"error forwarding port {port} to pod {pod['metadata']['uid']}, uid : "
                    f"failed to execute portforward in network namespace: failed to connect to "
                    f"localhost:{port} inside namespace: {err}"
                )
                await ws.send_bytes(bytes([index * 2 + 1]) + message.encode())
                continue
            writers[index * 2] = writer
            pumps.append(asyncio.ensure_future(self._pump(reader, ws, index * 2)))
        if not writers:
            await ws.close()
            return ws
        try:
            async for message in ws:
                if message.type != WSMsgType.BINARY or not message.data:
                    continue
                channel, payload = message.data[0], message.data[1:]
                writer = writers.get(channel)
                if writer is not None and payload:
                    writer.write(payload)
                    await writer.drain()
        finally:
            for pump in pumps:
                pump.cancel()
            for writer in writers.values():
                writer.close()
        return ws

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, ws: web.WebSocketResponse, channel: int) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await ws.send_bytes(bytes([channel]) + data)
        except (ConnectionResetError, asyncio.CancelledError):
            return
        # The pod side closed: end the stream, as the kubelet does.
        await ws.close()


def _node(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A ready node as its kubelet registers it."""
    stamp = now()
    conditions = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"),
        ("Ready", "True", "KubeletReady"),
    ]
    return {
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                **labels,
            },
        },
        "status": {
            "conditions": [
                {
                    "type": kind,
                    "status": status,
                    "reason": reason,
                    "message": f"kubelet: {reason}",
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp,
                }
                for kind, status, reason in conditions
            ],
            "capacity": {"cpu": "4", "memory": "16393252Ki", "pods": "110"},
            "allocatable": {"cpu": "3920m", "memory": "13396516Ki", "pods": "110"},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": str(uuid.uuid4()),
                "containerRuntimeVersion": "containerd://1.7.27",
                "kernelVersion": "6.6.87+",
                "kubeProxyVersion": SERVER_VERSION["gitVersion"],
                "kubeletVersion": SERVER_VERSION["gitVersion"],
                "machineID": uuid.uuid4().hex,
                "operatingSystem": "linux",
                "osImage": "Container-Optimized OS from Google",
                "systemUUID": str(uuid.uuid4()),
            },
        },
    }


def _pull_refused(image: str) -> str:
    """containerd's words when the registry refuses an anonymous or unauthorized pull."""
    host, _, path = image.rpartition(":")[0].partition("/")
    scope = f"repository%3A{path.replace('/', '%2F')}%3Apull"
    return (
        f"Unknown desc = failed to pull and unpack image {image!r}: failed to resolve "
        f"reference {image!r}: failed to authorize: failed to fetch oauth token: unexpected "
        f"status from GET request to https://{host}/v2/token?scope={scope}&service={host}: "
        "403 Forbidden"
    )


def _pod_ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


def _scaled(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return int(total * int(value[:-1]) / 100)
    return int(value or 0)


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(doc), status=status, content_type="application/json")


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    content_type = request.headers.get("Content-Type", "")
    try:
        if "protobuf" in content_type:
            return k8s_proto.decode(raw)
        if "yaml" in content_type:
            return yaml.safe_load(raw.decode())
        return json.loads(raw or b"null")
    except (ValueError, yaml.YAMLError) as err:
        raise ApiError(
            400, "BadRequest", f"the body of the request could not be decoded: {err}"
        ) from None
