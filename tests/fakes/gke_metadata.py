"""A local GKE metadata server: the part a pod with Workload Identity uses for tokens.

What it reproduces, as GKE's metadata server answers a pod whose Kubernetes
ServiceAccount is bound to a Google service account (clients find it through
`GCE_METADATA_HOST`, as google-auth does):

- `GET /computeMetadata/v1/instance/service-accounts/default/token`:
  `{"access_token", "expires_in", "token_type": "Bearer"}` (JSON, with the
  response header `Metadata-Flavor: Google`). The token is cached: the same
  one is handed out, with the seconds it has left, until fewer than
  `refresh_below` remain; then a new one, valid `lifetime` seconds.
- `GET /computeMetadata/v1/instance/service-accounts/default/email`: the
  Google service account, as text.
- Without the request header `Metadata-Flavor: Google`, or with an
  `X-Forwarded-For` header (a request relayed by a proxy), 403; an unknown
  path, 404.

Every request is recorded; `fail_next` answers the next requests with a 500.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fakes.served import Handler, Served

TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
EMAIL_PATH = "/computeMetadata/v1/instance/service-accounts/default/email"


def _new_token() -> str:
    return "ya29.fake-" + secrets.token_urlsafe(32)


@dataclass
class FakeMetadataServer(Served):
    email: str = "binderhub-pusher@my-project.iam.gserviceaccount.com"
    issue: Callable[[], str] = _new_token  # makes each new access token
    lifetime: int = 3599
    refresh_below: int = 300
    tls: Any = None

    requests: list[dict[str, str]] = field(default_factory=list)  # each request's headers
    issued: list[str] = field(default_factory=list)
    fail_next: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._cached: tuple[str, float] | None = None  # token, when it expires (monotonic)

    @property
    def host(self) -> str:
        """What GCE_METADATA_HOST holds to reach it."""
        return f"127.0.0.1:{self.port}"

    def expire_in(self, seconds: float) -> None:
        """The cached token has `seconds` left (a token cached for a while)."""
        with self._lock:
            token = self._cached[0] if self._cached else self._issue_locked()
            self._cached = (token, time.monotonic() + seconds)

    def _issue_locked(self) -> str:
        token = self.issue()
        self.issued.append(token)
        self._cached = (token, time.monotonic() + self.lifetime)
        return token

    def token(self) -> tuple[str, int]:
        """The token handed out now, and the whole seconds it has left."""
        with self._lock:
            now = time.monotonic()
            if self._cached is None or self._cached[1] - now < self.refresh_below:
                self._issue_locked()
            assert self._cached is not None
            token, expires = self._cached
            return token, int(expires - now)


class _Handler(Handler):
    server_version = "Metadata Server for VM"

    @property
    def fake(self) -> FakeMetadataServer:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        fake = self.fake
        with fake._lock:
            fake.requests.append(dict(self.headers))
            failing = fake.fail_next > 0
            fake.fail_next -= 1 if failing else 0
        if self.headers.get("Metadata-Flavor") != "Google" or "X-Forwarded-For" in self.headers:
            body = b'Missing required header "Metadata-Flavor": "Google"\n'
            return self._send(403, body, "text/plain; charset=utf-8")
        if failing:
            return self._send(500, b"Internal error\n", "text/plain; charset=utf-8")
        path = self.path.split("?", 1)[0]
        if path == TOKEN_PATH:
            token, seconds = fake.token()
            body = {"access_token": token, "expires_in": seconds, "token_type": "Bearer"}
            return self._send(200, json.dumps(body).encode(), "application/json")
        if path == EMAIL_PATH:
            return self._send(200, fake.email.encode(), "application/text")
        self._send(404, b"Not Found\n", "text/plain; charset=utf-8")


FakeMetadataServer.handler = _Handler
