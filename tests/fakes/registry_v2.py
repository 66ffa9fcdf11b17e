"""A local container registry speaking the registry HTTP API (v2) the way the
distribution registry and the hosted ones (Docker Hub, GHCR, Quay) do, for
manifest lookups.

- `GET /v2/`: 200 `{}`, or 401 with the registry's challenge.
- `HEAD|GET /v2/<name>/manifests/<reference>`: 200 with `Content-Type` (the
  manifest's media type), `Docker-Content-Digest`, `Content-Length` and
  `Docker-Distribution-Api-Version: registry/2.0` (a HEAD sends no body);
  404 `MANIFEST_UNKNOWN` for a tag it does not have; when the client's
  `Accept` lacks the manifest's media type, 404 for an OCI manifest and 400
  `MANIFEST_INVALID` for a docker one (distribution 2.8 no longer converts to
  schema 1); 401 with a challenge (and an `UNAUTHORIZED` error body) without
  valid authorization. (Checked against distribution 2.8's answers.)
- Authentication (`auth`):
  - "none": everything is readable;
  - "basic" (an htpasswd file): `WWW-Authenticate: Basic realm="Registry Realm"`,
    then `Authorization: Basic` with a user of `users`;
  - "token" (token authentication): `WWW-Authenticate: Bearer realm="<token
    service>",service="<service>",scope="repository:<name>:pull"`. The token
    service (`GET /token?service=...&scope=...`, on this server or on
    `token_server`) takes basic auth of a user of `users`, or no auth at all
    (anonymous), and answers `{"token", "access_token", "expires_in",
    "issued_at"}`; the token grants pull on the scope's repository when the
    user is known, or anonymously when the repository is in `public`. A
    token without that grant gets 401 with `error="insufficient_scope"`.
    Wrong credentials get 401 from the token service.
- `redirect_manifests_to`: answer manifest requests with a 307 to another
  origin (a CDN or mirror), where the client must not take its credentials.

Every request is recorded (method, path, query, headers) in `requests`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes.served import Handler, Served

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
_MANIFEST_PATH = re.compile(r"/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeRegistry(Served):
    auth: str = "token"  # "none", "basic" or "token"
    users: dict[str, str] = field(default_factory=dict)  # user -> password
    public: set[str] = field(default_factory=set)  # repositories anonymous tokens may pull
    service: str = "fake-registry"
    token_server: FakeRegistry | None = None  # where the token service runs (default: here)
    realm: str | None = None  # announce this realm instead of the token server's
    redirect_manifests_to: str | None = None  # an origin, e.g. http://127.0.0.1:PORT
    tls: Any = None  # a fakes.k8s_tls.Tls: serve https with its certificate

    requests: list[Recorded] = field(default_factory=list)
    manifests: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    tokens: dict[str, set[str]] = field(default_factory=dict)  # token -> repositories

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        """host:port, as image names write it."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls is not None else 'http'}://{self.host}"

    def push(self, name: str, tag: str, media_type: str = OCI_MANIFEST) -> str:
        """Store a manifest for name:tag; its digest."""
        body = json.dumps({"schemaVersion": 2, "mediaType": media_type, "name": name}).encode()
        with self._lock:
            self.manifests[(name, tag)] = (media_type, body)
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def issue_token(self, repositories: set[str]) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = repositories
        return token


class _Handler(Handler):
    server_version = "registry/2.8"

    @property
    def fake(self) -> FakeRegistry:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def do_GET(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route()

    # ---- answers ---------------------------------------------------------------

    def _send(
        self, status: int, headers: dict[str, str], body: bytes = b"", ctype: str = ""
    ) -> None:
        self.send_response(status)
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        if ctype:
            self.send_header("Content-Type", ctype)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(
        self, status: int, code: str, message: str, headers: dict[str, str], detail: Any = None
    ) -> None:
        error: dict[str, Any] = {"code": code, "message": message}
        if detail is not None:
            error["detail"] = detail
        body = json.dumps({"errors": [error]})
        self._send(status, headers, body.encode(), "application/json; charset=utf-8")

    # ---- routing ---------------------------------------------------------------------

    def _route(self) -> None:
        fake = self.fake
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with fake._lock:
            fake.requests.append(Recorded(self.command, url.path, query, dict(self.headers)))
        if url.path == "/token" and self.command == "GET":
            return self._token(query)
        if url.path == "/v2/":
            if self._allowed(None):
                return self._send(200, {}, b"{}", "application/json")
            return self._unauthorized(None, "")
        match = _MANIFEST_PATH.fullmatch(url.path)
        if not match:
            return self._error(404, "NOT_FOUND", "not found", {})
        name, reference = match["name"], match["reference"]
        if fake.redirect_manifests_to:
            return self._send(307, {"Location": fake.redirect_manifests_to + url.path})
        if not self._allowed(name):
            # A valid token without this repository's grant: insufficient scope.
            extra = ',error="insufficient_scope"' if self._bearer_grants() is not None else ""
            return self._unauthorized(name, extra)
        with fake._lock:
            stored = fake.manifests.get((name, reference))
        if stored is None:
            return self._error(404, "MANIFEST_UNKNOWN", "manifest unknown", {})
        media_type, body = stored
        accepted = {a.split(";")[0].strip() for a in self.headers.get("Accept", "").split(",")}
        if media_type not in accepted:
            # distribution 2.8: an OCI manifest is "unknown" to such a client; a docker one
            # would be converted to schema 1, which it no longer does.
            if media_type.startswith("application/vnd.oci."):
                message = "OCI manifest found, but accept header does not support OCI manifests"
                return self._error(404, "MANIFEST_UNKNOWN", message, {})
            return self._error(400, "MANIFEST_INVALID", "manifest invalid", {})
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self._send(200, {"Docker-Content-Digest": digest, "Etag": f'"{digest}"'}, body, media_type)

    # ---- authentication -----------------------------------------------------------------

    def _basic_user(self) -> str | None:
        """The user of a valid `Authorization: Basic` header."""
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except ValueError:
            return None
        return user if self.fake.users.get(user) == password else None

    def _bearer_grants(self) -> set[str] | None:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        issuer = self.fake.token_server or self.fake
        with issuer._lock:
            return issuer.tokens.get(value.strip())

    def _allowed(self, name: str | None) -> bool:
        fake = self.fake
        if fake.auth == "none":
            return True
        if fake.auth == "basic":
            return self._basic_user() is not None
        grants = self._bearer_grants()
        return grants is not None and (name is None or name in grants)

    def _unauthorized(self, name: str | None, extra: str) -> None:
        fake = self.fake
        if fake.auth == "basic":
            challenge = 'Basic realm="Registry Realm"'
        else:
            realm = fake.realm or f"{(fake.token_server or fake).url}/token"
            challenge = f'Bearer realm="{realm}",service="{fake.service}"'
            if name is not None:
                challenge += f',scope="repository:{name}:pull"'
            challenge += extra
        detail = [{"Type": "repository", "Class": "", "Name": name, "Action": "pull"}]
        self._error(
            401,
            "UNAUTHORIZED",
            "authentication required",
            {"WWW-Authenticate": challenge},
            detail if name is not None else None,
        )

    def _token(self, query: dict[str, str]) -> None:
        fake = self.fake
        given = self.headers.get("Authorization")
        user = self._basic_user()
        if given is not None and user is None:
            body = json.dumps({"details": "incorrect username or password"}).encode()
            return self._send(401, {}, body, "application/json")
        grants: set[str] = set()
        scope = query.get("scope", "")
        match = re.fullmatch(r"repository:(?P<name>[^:]+):(?P<actions>[a-z,*]+)", scope)
        pull = match is not None and "pull" in match["actions"].split(",")
        if match and pull and (user is not None or match["name"] in fake.public):
            grants.add(match["name"])
        token = fake.issue_token(grants)
        body = {
            "token": token,
            "access_token": token,
            "expires_in": 300,
            "issued_at": "2026-11-20T10:00:00Z",
        }
        self._send(200, {}, json.dumps(body).encode(), "application/json")


FakeRegistry.handler = _Handler
