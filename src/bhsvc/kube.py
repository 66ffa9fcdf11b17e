"""The Kubernetes adapter: kubeconfig context, namespaces, Secrets, pod and Service
discovery, port-forwarding and failure diagnosis.

A thin layer over the `kubernetes` client, imported inside the functions that
use it so `bhsvc --help` stays fast. Every API call has a timeout, and every
API failure becomes an OperationError whose message names what was being done
(never a Secret's content: API error messages do not carry object data).
"""

from __future__ import annotations

import base64
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from bhsvc import diagnose as diagnose_mod
from bhsvc.errors import OperationError, UsageError

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "bhsvc"
# (connect, read) seconds for each API request.
REQUEST_TIMEOUT = (5.0, 30.0)
# How long a kubeconfig credential plugin (exec: gke-gcloud-auth-plugin, aws ...)
# may take to hand out a token.
CREDENTIAL_PLUGIN_TIMEOUT = 60.0
DEFAULT_KUBECONFIG = "~/.kube/config"

T = TypeVar("T")
SecretChange = Literal["create", "unchanged", "update", "recreate"]


# ---- pure decisions ---------------------------------------------------------


def kubeconfig_paths(explicit: str | None, env: dict[str, str]) -> list[Path]:
    """The kubeconfig files: the explicit one, else $KUBECONFIG (a list), else ~/.kube/config."""
    raw = explicit or env.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def secret_change(
    current: dict[str, Any] | None,
    data: dict[str, bytes],
    secret_type: str,
    labels: dict[str, str],
) -> SecretChange:
    """What ensure_secret must do to turn `current` (the API's JSON form) into the wanted Secret."""
    if current is None:
        return "create"
    if current.get("type", "Opaque") != secret_type:
        return "recreate"  # a Secret's type is immutable
    have = {k: base64.b64decode(v) for k, v in (current.get("data") or {}).items()}
    have_labels = (current.get("metadata") or {}).get("labels") or {}
    if have != data or any(have_labels.get(k) != v for k, v in labels.items()):
        return "update"
    return "unchanged"


def api_error_text(status: int, reason: str, body: str | bytes | None) -> str:
    """A one-line description of an API error from its Status body (which holds no object data)."""
    import json

    message = ""
    if body:
        try:
            doc = json.loads(body)
            message = str(doc.get("message", "")) if isinstance(doc, dict) else ""
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
                f"{what}: cannot reach the Kubernetes API at {self.server} ({_short(reason)})"
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
        return str(info.git_version)

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

    def ensure_namespace(self, name: str, dry_run: bool = False) -> str:
        """'created' or 'present' ('create' when dry_run and it is missing)."""
        from kubernetes import client

        phase = self.namespace_phase(name)
        if phase == "Terminating":
            raise OperationError(
                f"namespace {name} is being deleted: wait until it is gone, then re-run"
            )
        if phase is not None:
            return "present"
        if dry_run:
            return "create"
        body = client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={MANAGED_BY_LABEL: MANAGED_BY})
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
        dry_run: bool = False,
    ) -> str:
        """'created', 'unchanged' or 'updated': written only when content, type or labels differ.

        With dry_run, nothing is written and the answer is what would happen
        ('create', 'unchanged', 'update').
        """
        wanted_labels = {**(labels or {}), MANAGED_BY_LABEL: MANAGED_BY}
        where = f"Secret {namespace}/{name}"
        for _attempt in range(3):
            current = self.read_secret(namespace, name)
            change = secret_change(current, data, type, wanted_labels)
            if dry_run:
                return "update" if change == "recreate" else change
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
            body = self._secret_body(namespace, name, data, type, wanted_labels, current)
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

    @staticmethod
    def _secret_body(
        namespace: str,
        name: str,
        data: dict[str, bytes],
        secret_type: str,
        labels: dict[str, str],
        current: dict[str, Any] | None,
    ) -> Any:
        from kubernetes import client

        meta = (current or {}).get("metadata") or {}
        merged_labels = {**(meta.get("labels") or {}), **labels}
        return client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=name,
                namespace=namespace,
                labels=merged_labels,
                annotations=meta.get("annotations"),
                resource_version=meta.get("resourceVersion"),
            ),
            type=secret_type,
            data={k: base64.b64encode(v).decode() for k, v in data.items()},
        )

    # ---- pods and services ------------------------------------------------------

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
        pods = [p for p in self.list_pods(namespace, label_selector) if not _deleting(p)]
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

    # ---- diagnosis ----------------------------------------------------------

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

    def diagnose(self, namespace: str, label_selector: str, log_lines: int = 20) -> list[str]:
        """Why the matching pods are not ready: waiting reasons, scheduler messages,
        the last events and log lines. Empty when every matching pod is ready."""
        try:
            pods = [p for p in self.list_pods(namespace, label_selector) if not _deleting(p)]
        except OperationError as err:
            return [f"could not read the pods: {err}"]
        if not pods:
            lines = [f"no pod matches {label_selector} in namespace {namespace}"]
            try:
                events = self.warning_events(namespace)
            except OperationError as err:
                return [*lines, f"could not read the events: {err}"]
            return lines + diagnose_mod.event_lines(events, limit=5)
        lines = []
        for pod in pods:
            if diagnose_mod.pod_ready(pod):
                continue
            name = pod["metadata"]["name"]
            lines += diagnose_mod.pod_problems(pod)
            try:
                lines += diagnose_mod.event_lines(
                    self.pod_events(namespace, name), limit=5, indent="  "
                )
            except OperationError as err:
                lines.append(f"  could not read the events: {err}")
            for container, previous in diagnose_mod.containers_with_logs(pod):
                try:
                    log = self.pod_log(namespace, name, container, log_lines, previous)
                except OperationError:
                    continue  # no log yet (the container never started)
                lines += diagnose_mod.log_lines(container, log, previous)
        return lines


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


def _deleting(obj: dict[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def _short(reason: object) -> str:
    text = str(reason)
    # urllib3 wraps the useful part: "...: Failed to establish a new connection: [Errno 111] ..."
    if "Errno" in text:
        text = text[text.index("[Errno") :]
    return text.strip("'\"()<> ")[:200]


# ---- connecting --------------------------------------------------------------


def _within(seconds: float, what: str, fn: Callable[[], object]) -> None:
    """Run `fn` (which cannot be given a timeout) with a deadline; it is left behind
    in a daemon thread when it does not finish."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as err:  # re-raised in the caller's thread
            errors.append(err)

    worker = threading.Thread(target=target, name="bhsvc-kubeconfig", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise OperationError(f"{what} did not answer within {seconds:g}s")
    if errors:
        raise errors[0]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("exec:"):
            self.messages.append(message.splitlines()[0])


@contextmanager
def _plugin_failures() -> Iterator[list[str]]:
    """What the kubernetes client logs (and then goes on without credentials) when a
    credential plugin fails: collected to be raised, instead of a stray log line."""
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    try:
        yield collect.messages
    finally:
        root.removeHandler(collect)


def connect(context: str | None, kubeconfig: str | None = None) -> Kube:
    """Load the kubeconfig (no request is made) and pick the context.

    UsageError when `context` is named but not in the kubeconfig; OperationError
    when there is no kubeconfig or it cannot be used.
    """
    import yaml
    from kubernetes import client
    from kubernetes import config as kconfig
    from kubernetes.config.config_exception import ConfigException

    paths = kubeconfig_paths(kubeconfig, dict(os.environ))
    existing = [p for p in paths if p.is_file()]
    where = os.pathsep.join(str(p) for p in paths)
    if not existing:
        raise OperationError(
            f"no kubeconfig at {where}: get credentials for your cluster first (for GKE: "
            "gcloud container clusters get-credentials <cluster>), or set KUBECONFIG"
        )
    source = os.pathsep.join(str(p) for p in existing)
    try:
        contexts, active = kconfig.list_kube_config_contexts(config_file=source)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError) as err:
        raise OperationError(f"cannot read the kubeconfig {source}: {_short(err)}") from None
    except yaml.YAMLError:
        raise OperationError(f"cannot read the kubeconfig {source}: not valid YAML") from None
    except (TypeError, AttributeError, KeyError):
        # The client indexes the parsed YAML without checking its shape.
        raise OperationError(
            f"cannot read the kubeconfig {source}: not a kubeconfig (unexpected structure)"
        ) from None
    names = [c["name"] for c in contexts or []]
    if context is not None:
        if context not in names:
            available = ", ".join(names) or "none"
            raise UsageError(
                f"kube.context {context!r} is not in the kubeconfig ({source}); "
                f"available contexts: {available}"
            )
        chosen = context
    else:
        if not active:
            raise OperationError(
                f"the kubeconfig ({source}) has no current context: set kube.context in "
                "bhsvc.yaml or run kubectl config use-context <name>"
            )
        chosen = active["name"]
    configuration = client.Configuration()
    try:
        with _plugin_failures() as failures:
            _within(
                CREDENTIAL_PLUGIN_TIMEOUT,
                f"the credential plugin of context {chosen} (kubeconfig user 'exec')",
                lambda: kconfig.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=source,
                    context=chosen,
                    client_configuration=configuration,
                    persist_config=False,
                ),
            )
        if failures:
            raise OperationError(
                f"the credential plugin of context {chosen} failed: {_short(failures[0])}"
            )
    except (ConfigException, OSError, ValueError) as err:
        raise OperationError(f"cannot use context {chosen} of {source}: {_short(err)}") from None
    except (TypeError, AttributeError, KeyError):
        raise OperationError(
            f"cannot use context {chosen} of {source}: its cluster or user entry is malformed"
        ) from None
    # One retry at most: a dead cluster should fail fast, not after urllib3's default three.
    configuration.retries = 1
    return Kube(chosen, str(configuration.host), client.ApiClient(configuration), source)


# ---- port-forwarding ------------------------------------------------------------


@contextmanager
def port_forward(
    kube: Kube,
    namespace: str,
    pod: str,
    remote_port: int,
    idle_timeout: float = 60.0,
    errors: list[str] | None = None,
) -> Iterator[int]:
    """Listen on a free port of 127.0.0.1 and relay each connection to `remote_port` of
    the pod over the API server's port-forward websocket; yields the local port.

    Each accepted connection gets its own websocket, as `kubectl port-forward` gives
    each its own stream. Errors the API server sends for a connection (nothing
    listening in the pod, ...) are appended to `errors` when given.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    relays: list[threading.Thread] = []

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            relay = threading.Thread(
                target=_relay,
                args=(kube, namespace, pod, remote_port, conn, stop, idle_timeout, errors),
                name=f"port-forward {pod}:{remote_port}",
                daemon=True,
            )
            relays.append(relay)
            relay.start()

    acceptor = threading.Thread(target=accept_loop, name="port-forward accept", daemon=True)
    acceptor.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        listener.close()
        acceptor.join(2)
        for relay in relays:
            relay.join(2)


def _relay(
    kube: Kube,
    namespace: str,
    pod: str,
    remote_port: int,
    conn: socket.socket,
    stop: threading.Event,
    idle_timeout: float,
    errors: list[str] | None,
) -> None:
    from kubernetes.stream import portforward

    forward = None
    try:
        try:
            forward = kube.call(
                f"port-forward to {namespace}/{pod}:{remote_port}",
                portforward,
                kube.core.connect_get_namespaced_pod_portforward,
                pod,
                namespace,
                ports=str(remote_port),
            )
        except OperationError as err:
            if errors is not None:
                errors.append(str(err))
            return
        remote = forward.socket(remote_port)
        last = time.monotonic()
        while not stop.is_set() and time.monotonic() - last < idle_timeout:
            readable, _, _ = select.select([conn, remote], [], [], 0.2)
            if not readable:
                continue
            last = time.monotonic()
            done = False
            for source in readable:
                data = source.recv(65536)
                if not data:
                    done = True
                    break
                (remote if source is conn else conn).sendall(data)
            if done:
                break
    except OSError:
        pass  # either side went away: nothing more to relay
    finally:
        # Record the API server's complaint before closing: whoever sees the closed
        # connection may look for it at once.
        if forward is not None:
            error = forward.error(remote_port)
            if error and errors is not None:
                errors.append(f"port-forward to {namespace}/{pod}:{remote_port}: {error.strip()}")
        conn.close()
        if forward is not None:
            forward.close()
