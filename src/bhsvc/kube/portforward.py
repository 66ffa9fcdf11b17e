"""Port-forwarding to a pod through the API server's websocket, as `kubectl
port-forward` does: a local listener on 127.0.0.1, one relay per connection."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bhsvc.errors import OperationError
from bhsvc.kube.client import Kube


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

    forward = remote = None
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
        if remote is not None:
            _hang_up(remote)
        if forward is not None:
            error = forward.error(remote_port)
            if error and errors is not None:
                errors.append(f"port-forward to {namespace}/{pod}:{remote_port}: {error.strip()}")
        conn.close()
        if forward is not None:
            forward.close()


def _hang_up(remote: socket.socket, timeout: float = 2.0) -> None:
    """End the stream without resetting it: say we are done, then read what the pod
    still sends until the kubernetes library closes its end. Closing a socket with
    unread data resets its peer, and the library's proxy thread dies of that with
    a traceback on the user's terminal."""
    deadline = time.monotonic() + timeout
    try:
        remote.shutdown(socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            remote.settimeout(left)
            if not remote.recv(65536):
                return
    except OSError:
        pass  # the library's end is gone already, or the pod keeps talking
