"""The Kubernetes API client: namespaces, Secrets, pods, Services, events and logs.

A thin layer over the `kubernetes` client, imported inside the methods that
use it so `bhsvc --help` stays fast. Every API call has a timeout, and every
API failure becomes an OperationError whose message names what was being done
(never a Secret's content: API error messages do not carry object data).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from bhsvc import diagnose as diagnose_mod
from bhsvc.errors import OperationError
from bhsvc.naming import MANAGED_BY, MANAGED_BY_LABEL
from bhsvc.server_text import clean

# (connect, read) seconds for each API request.
REQUEST_TIMEOUT = (5.0, 30.0)

T = TypeVar("T")
SecretChange = Literal["create", "unchanged", "update", "recreate"]


# ---- pure decisions ---------------------------------------------------------


def managed_labels(labels: dict[str, str] | None = None) -> dict[str, str]:
    """`labels` and the label that marks what bhsvc made."""
    return {**(labels or {}), MANAGED_BY_LABEL: MANAGED_BY}


def secret_change(
    current: dict[str, Any] | None,
    data: dict[str, bytes],
    secret_type: str,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
) -> SecretChange:
    """What ensure_secret must do to turn `current` (the API's JSON form) into the wanted Secret."""
    if current is None:
        return "create"
    if current.get("type", "Opaque") != secret_type:
        return "recreate"  # a Secret's type is immutable
    have = {k: base64.b64decode(v) for k, v in (current.get("data") or {}).items()}
    meta = current.get("metadata") or {}
    for wanted, present in ((labels, meta.get("labels")), (annotations, meta.get("annotations"))):
        if any((present or {}).get(k) != v for k, v in (wanted or {}).items()):
            return "update"
    return "update" if have != data else "unchanged"


def api_error_text(status: int, reason: str, body: str | bytes | None) -> str:
    """A one-line description of an API error from its Status body (which holds no object data)."""
    message = ""
    if body:
        try:
            doc = json.loads(body)
            message = str(doc.get("message", "")) if isinstance(doc, dict) else ""
            message = clean(message, 300)  # the server's words, shown safely
        except ValueError:
            message = ""
    if status == 401:
        return "unauthorized: the cluster rejected the kubeconfig's credentials (expired login?)"
    if status == 403:
        return f"forbidden: {message or reason}"
    if status == 0:
        return message or reason or "no answer"
    return f"{message or reason} (HTTP {status})"


# ---- the client -----------------------------------------------------------


@dataclass
class Kube:
    """A connection to one cluster, through one kubeconfig context."""

    context_name: str
    server: str
    api_client: Any = field(repr=False)
    kubeconfig: str = ""

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client)

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one API call with the request timeout; failures become OperationError."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        try:
            return fn(*args, **kwargs)
        except ApiException as err:
            raise OperationError(
                f"{what}: {api_error_text(err.status, err.reason, err.body)}"
            ) from None
        except HTTPError as err:
            reason = getattr(err, "reason", None) or err
            raise OperationError(
                f"{what}: cannot reach the Kubernetes API at {self.server} ({short_reason(reason)})"
            ) from None
        except (ValueError, TypeError, AttributeError, KeyError):
            # A 200 answer the client cannot read (a login page, a proxy, another
            # service on that port): its text is not shown, it may hold anything.
            raise OperationError(
                f"{what}: the server at {self.server} did not answer like a Kubernetes API"
            ) from None

    def _status_of(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Like call(), but a 404 answer is None."""
        try:
            return self.call(what, _reraise_404(fn), *args, **kwargs)
        except _NotFound:
            return None

    def server_version(self, timeout: float = 5.0) -> str:
        """GET /version: proves the cluster answers (with these credentials)."""
        from kubernetes import client

        info = self.call(
            f"reach the cluster of context {self.context_name}",
            client.VersionApi(self.api_client).get_code,
            _request_timeout=(timeout, timeout),
        )
        return clean(str(info.git_version), 100)  # the server's words

    def as_dict(self, obj: Any) -> dict[str, Any]:
        """A client model object in the API's JSON form (camelCase keys)."""
        result = self.api_client.sanitize_for_serialization(obj)
        return result if isinstance(result, dict) else {}

    # ---- namespaces ---------------------------------------------------------

    def namespace_phase(self, name: str) -> str | None:
        """Active, Terminating, or None when the namespace does not exist."""
        found = self._status_of(f"read namespace {name}", self.core.read_namespace, name)
        if found is None:
            return None
        return str(getattr(found.status, "phase", None) or "Active")

    def delete_namespace(self, name: str, uid: str) -> None:
        """Delete the namespace, only if it is still the one with that uid (a namespace
        deleted and made again in between is not bhsvc's to delete); gone is fine."""
        self._delete(f"delete namespace {name}", self.core.delete_namespace, uid, name)

    def namespace_contents(self, namespace: str) -> list[dict[str, Any]]:
        """Every object in the namespace that can be listed and deleted, events aside,
        as {kind, metadata}. The kinds come from the API's discovery, so objects of
        custom resources count too; a kind that cannot be listed is an error."""
        from kubernetes import client

        core = self.core
        found: list[dict[str, Any]] = []
        resources = self.call("discover the core API", core.get_api_resources)
        for res in resources.resources:
            if not _countable(res):
                continue
            lister = getattr(core, f"list_namespaced_{_snake(res.kind)}", None)
            if lister is None:
                raise OperationError(f"cannot list {res.name} in namespace {namespace}")
            items = self.call(f"list {res.name} in namespace {namespace}", lister, namespace)
            for item in items.items:
                found.append({"kind": res.kind, "metadata": self.as_dict(item).get("metadata")})
        custom = client.CustomObjectsApi(self.api_client)
        groups = self.call(
            "discover the API groups", client.ApisApi(self.api_client).get_api_versions
        )
        for group in groups.groups:
            version = group.preferred_version or group.versions[0]
            listed = self.call(
                f"discover {version.group_version}",
                custom.get_api_resources,
                group.name,
                version.version,
            )
            for res in listed.resources:
                if not _countable(res):
                    continue
                objects: Any = self.call(
                    f"list {res.name}.{group.name} in namespace {namespace}",
                    custom.list_namespaced_custom_object,
                    group.name,
                    version.version,
                    namespace,
                    res.name,
                )
                for item in objects.get("items") or []:
                    found.append({"kind": res.kind, "metadata": item.get("metadata")})
        return found

    def ensure_namespace(self, name: str, labels: dict[str, str] | None = None) -> str:
        """'created' or 'present'; one bhsvc creates carries its label and `labels`."""
        from kubernetes import client

        phase = self.namespace_phase(name)
        if phase == "Terminating":
            raise OperationError(
                f"namespace {name} is being deleted: wait until it is gone, then re-run"
            )
        if phase is not None:
            return "present"
        body = client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels=managed_labels(labels))
        )
        try:
            self.call(f"create namespace {name}", _reraise_409(self.core.create_namespace), body)
        except _Conflict:
            return "present"  # created meanwhile by someone else
        return "created"

    # ---- secrets --------------------------------------------------------------

    def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Secret in the API's JSON form, or None."""
        found = self._status_of(
            f"read Secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace
        )
        return None if found is None else self.as_dict(found)

    def read_secret_key(self, namespace: str, name: str, key: str) -> bytes | None:
        secret = self.read_secret(namespace, name)
        if secret is None:
            return None
        value = (secret.get("data") or {}).get(key)
        return None if value is None else base64.b64decode(value)

    def ensure_secret(
        self,
        namespace: str,
        name: str,
        data: dict[str, bytes],
        type: str = "Opaque",
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> str:
        """'created', 'unchanged' or 'updated': written only when content, type, labels
        or annotations differ (labels and annotations it does not set are kept)."""
        wanted_labels = managed_labels(labels)
        where = f"Secret {namespace}/{name}"
        for _attempt in range(3):
            current = self.read_secret(namespace, name)
            change = secret_change(current, data, type, wanted_labels, annotations)
            if change == "unchanged":
                return "unchanged"
            if change == "recreate":
                assert current is not None
                owner = (current.get("metadata", {}).get("labels") or {}).get(MANAGED_BY_LABEL)
                if owner != MANAGED_BY:
                    raise OperationError(
                        f"{where} exists with type {current.get('type')} and was not made by "
                        f"bhsvc: delete it or rename the release (bhsvc needs type {type})"
                    )
                self.call(f"delete {where}", self.core.delete_namespaced_secret, name, namespace)
                current = None
            body = self._secret_body(
                namespace, name, data, type, wanted_labels, annotations or {}, current
            )
            try:
                if current is None:
                    self.call(
                        f"create {where}",
                        _reraise_409(self.core.create_namespaced_secret),
                        namespace,
                        body,
                    )
                    return "created" if change == "create" else "updated"
                self.call(
                    f"update {where}",
                    _reraise_409(self.core.replace_namespaced_secret),
                    name,
                    namespace,
                    body,
                )
                return "updated"
            except _Conflict:
                continue  # changed meanwhile: read it again and decide again
        raise OperationError(f"{where} keeps changing under bhsvc: try again")

    def delete_secret(self, namespace: str, name: str, uid: str) -> None:
        """Delete the Secret, only if it is still the one with that uid; gone is fine."""
        self._delete(
            f"delete Secret {namespace}/{name}",
            self.core.delete_namespaced_secret,
            uid,
            name,
            namespace,
        )

    def _delete(self, what: str, fn: Callable[..., Any], uid: str, *args: Any) -> None:
        from kubernetes import client

        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
        self._status_of(what, fn, *args, body=options)

    @staticmethod
    def _secret_body(
        namespace: str,
        name: str,
        data: dict[str, bytes],
        secret_type: str,
        labels: dict[str, str],
        annotations: dict[str, str],
        current: dict[str, Any] | None,
    ) -> Any:
        from kubernetes import client

        meta = (current or {}).get("metadata") or {}
        merged_labels = {**(meta.get("labels") or {}), **labels}
        merged_annotations = {**(meta.get("annotations") or {}), **annotations}
        return client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=name,
                namespace=namespace,
                labels=merged_labels,
                annotations=merged_annotations or None,
                resource_version=meta.get("resourceVersion"),
            ),
            type=secret_type,
            data={k: base64.b64encode(v).decode() for k, v in data.items()},
        )

    # ---- nodes, pods and services ------------------------------------------------

    def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        found = self.call(
            f"list pods {label_selector} in namespace {namespace}",
            self.core.list_namespaced_pod,
            namespace,
            label_selector=label_selector,
        )
        return [self.as_dict(p) for p in found.items]

    def find_pod(self, namespace: str, label_selector: str, ready_only: bool = True) -> str:
        """The newest (ready) pod matching the selector."""
        pods = [p for p in self.list_pods(namespace, label_selector) if not deleting(p)]
        candidates = [p for p in pods if diagnose_mod.pod_ready(p)] if ready_only else pods
        if not candidates:
            state = "ready pod" if ready_only else "pod"
            detail = ""
            if pods:
                names = ", ".join(p["metadata"]["name"] for p in pods)
                detail = f" ({len(pods)} not ready: {names})"
            raise OperationError(
                f"no {state} matches {label_selector} in namespace {namespace}{detail}"
            )
        candidates.sort(key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)
        return str(candidates[0]["metadata"]["name"])

    def find_service(self, namespace: str, label_selector: str) -> tuple[str, int]:
        """(name, first port) of the Service matching the selector."""
        found = self.call(
            f"list Services {label_selector} in namespace {namespace}",
            self.core.list_namespaced_service,
            namespace,
            label_selector=label_selector,
        )
        services = sorted(
            (self.as_dict(s) for s in found.items), key=lambda s: s["metadata"]["name"]
        )
        for service in services:
            ports = (service.get("spec") or {}).get("ports") or []
            if ports:
                return str(service["metadata"]["name"]), int(ports[0]["port"])
        raise OperationError(f"no Service matches {label_selector} in namespace {namespace}")

    # ---- read-only views: what status shows, what deploy finds left behind ----------

    def _items(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
        return [self.as_dict(item) for item in self.call(what, fn, *args, **kwargs).items]

    def read_namespace(self, name: str) -> dict[str, Any] | None:
        found = self._status_of(f"read namespace {name}", self.core.read_namespace, name)
        return None if found is None else self.as_dict(found)

    def list_nodes(self) -> list[dict[str, Any]]:
        return self._items("list the cluster's nodes", self.core.list_node)

    def list_secret_metadata(self, label_selector: str) -> list[dict[str, Any]]:
        """The metadata of matching Secrets in all namespaces; their data is dropped."""
        found = self._items(
            f"list Secrets {label_selector} in all namespaces",
            self.core.list_secret_for_all_namespaces,
            label_selector=label_selector,
        )
        return [{"metadata": s.get("metadata") or {}, "type": s.get("type")} for s in found]

    def read_service(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = self._status_of(
            f"read Service {namespace}/{name}", self.core.read_namespaced_service, name, namespace
        )
        return None if found is None else self.as_dict(found)

    def list_network_policies(self, namespace: str) -> list[dict[str, Any]]:
        from kubernetes import client

        return self._items(
            f"list NetworkPolicies in namespace {namespace}",
            client.NetworkingV1Api(self.api_client).list_namespaced_network_policy,
            namespace,
        )

    # ---- events and logs ------------------------------------------------

    def pod_events(self, namespace: str, pod: str) -> list[dict[str, Any]]:
        found = self.call(
            f"list events of pod {namespace}/{pod}",
            self.core.list_namespaced_event,
            namespace,
            field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod}",
        )
        return [self.as_dict(e) for e in found.items]

    def warning_events(self, namespace: str) -> list[dict[str, Any]]:
        found = self.call(
            f"list events in namespace {namespace}",
            self.core.list_namespaced_event,
            namespace,
            field_selector="type=Warning",
        )
        return [self.as_dict(e) for e in found.items]

    def pod_log(
        self, namespace: str, pod: str, container: str, lines: int, previous: bool
    ) -> list[str]:
        text = self.call(
            f"read the log of {namespace}/{pod} container {container}",
            self.core.read_namespaced_pod_log,
            pod,
            namespace,
            container=container,
            tail_lines=lines,
            previous=previous,
        )
        return str(text).splitlines()[-lines:]


class _NotFound(Exception):
    pass


class _Conflict(Exception):
    pass


def _reraise_404(fn: Callable[..., T]) -> Callable[..., T]:
    def wrapper(*args: Any, **kwargs: Any) -> T:
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(*args, **kwargs)
        except ApiException as err:
            if err.status == 404:
                raise _NotFound() from None
            raise

    return wrapper


def _reraise_409(fn: Callable[..., T]) -> Callable[..., T]:
    def wrapper(*args: Any, **kwargs: Any) -> T:
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(*args, **kwargs)
        except ApiException as err:
            if err.status == 409:
                raise _Conflict() from None
            raise

    return wrapper


def _countable(resource: Any) -> bool:
    """A kind whose objects make a namespace not empty: namespaced, listed and deleted
    as objects (no subresource, no read-only view such as metrics); events only say
    what happened."""
    verbs = set(resource.verbs or [])
    return (
        bool(resource.namespaced)
        and "/" not in resource.name
        and {"list", "delete"} <= verbs
        and resource.name != "events"
    )


def _snake(kind: str) -> str:
    """ConfigMap -> config_map: how the client names its list_namespaced_* methods."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in kind).lstrip("_")


def deleting(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def short_reason(reason: object) -> str:
    text = str(reason)
    # urllib3 wraps the useful part: "...: Failed to establish a new connection: [Errno 111] ..."
    if "Errno" in text:
        text = text[text.index("[Errno") :]
    return text.strip("'\"()<> ")[:200]
