"""Serving a fake's request handler on a loopback port, in a thread, plain or with TLS."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TypeVar

S = TypeVar("S", bound="Served")


class Served:
    """For the dataclass fakes: `start()` serves `handler` on 127.0.0.1 (https with the
    certificate of `tls`, a fakes.k8s_tls.Tls, when set); the handler finds the fake
    as `self.server.fake`. Use it as a context manager, or start() and stop()."""

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    tls: Any

    def start(self: S) -> S:
        server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        if self.tls is not None:
            server.socket = self.tls.server_context().wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server: ThreadingHTTPServer | None = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
            self._thread.join(timeout=5)

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert getattr(self, "_server", None) is not None, "start() first"
        return int(self._server.server_address[1])


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive, as the real servers), quiet, and calm about clients that
    hang up between two requests."""

    protocol_version = "HTTP/1.1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            super().handle()
