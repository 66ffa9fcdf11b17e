"""Does an image exist in a registry that speaks the registry HTTP API (v2, OCI)?

One request answers it: `HEAD /v2/<repository>/manifests/<tag>`, accepting OCI
and docker manifests and indexes. A registry that wants a login answers 401
with `WWW-Authenticate`:

- `Bearer realm=...,service=...,scope=...` (Docker Hub, GHCR, Quay, most
  others): ask the realm for a token (`GET realm?service=...&scope=...`, with
  the push credentials as basic auth, or anonymously without any), then
  repeat the HEAD with `Authorization: Bearer <token>`;
- `Basic realm=...` (a registry with an htpasswd file): repeat it with basic
  auth.

The registry host comes from the image name (Docker Hub's API is at
registry-1.docker.io). TLS is verified; plain http only to this machine, which
is tried when its https fails (as docker does for local registries).
Credentials are sent only where the registry's challenge asked, never over
plain http to another machine, and never after a redirect to another origin.
Every request ends by one deadline. The check never fails the caller for
reasons of its own: those become a "not checked" result that says why.
Credentials and tokens never reach a result or a message.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit

from bhsvc.errors import OperationError
from bhsvc.httpio import TLSError, open_request
from bhsvc.names import REGISTRY_PASSWORD_ENV
from bhsvc.registry.endpoints import is_loopback
from bhsvc.registry.images import FOUND, MISSING, NOT_CHECKED, ImageCheck, ImageName
from bhsvc.server_text import clean

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
USER_AGENT = "bhsvc-verify"
DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")
DOCKER_HUB_API = "registry-1.docker.io"
MAX_REDIRECTS = 3
MAX_BODY = 64 * 1024  # a token answer
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Za-z0-9=_-]{32,256}")
_TOKEN = re.compile(r"[\x21-\x7e]{1,16384}")  # visible ASCII: safe in a header
_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True)
class Login:
    username: str
    password: str = field(repr=False)

    @property
    def basic(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercased: "bearer", "basic", ...
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a `WWW-Authenticate` header."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {}
    for match in _PARAM.finditer(rest):
        value = match[2] if match[2] is not None else match[3]
        params[match[1].lower()] = re.sub(r"\\(.)", r"\1", value)
    return Challenge(scheme.lower(), params)


def api_location(image: ImageName) -> tuple[str, str]:
    """(host[:port] of the registry API, repository) for an image, as docker reads names."""
    host = image.host or "docker.io"
    if host.lower() in DOCKER_HUB:
        path = image.path if "/" in image.path else f"library/{image.path}"
        return DOCKER_HUB_API, path
    return host, image.path


@dataclass
class _Answer:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes
    url: str  # after redirects


class _NotChecked(Exception):
    """Why the check stopped short: becomes a NOT_CHECKED result."""


def check_image(image: ImageName, login: Login | None, deadline: float) -> ImageCheck:
    """Look the image's tag up in its registry, all by `deadline` (time.monotonic())."""
    host, repository = api_location(image)
    hostname = urlsplit(f"//{host}").hostname or host
    schemes = ("https", "http") if is_loopback(hostname) else ("https",)
    checker = _Checker(image, repository, login, deadline)
    try:
        for scheme in schemes:
            try:
                return checker.run(f"{scheme}://{host}")
            except TLSError:
                if scheme == schemes[-1]:
                    raise
        raise AssertionError("unreachable")
    except _NotChecked as why:
        return ImageCheck(NOT_CHECKED, str(why))
    except OperationError as err:  # cannot reach, timeouts, TLS
        return ImageCheck(NOT_CHECKED, clean(str(err), 300))


@dataclass
class _Checker:
    image: ImageName
    repository: str
    login: Login | None = field(repr=False)
    deadline: float

    def run(self, base: str) -> ImageCheck:
        url = f"{base}/v2/{self.repository}/manifests/{self.image.tag}"
        answer = self._exchange("HEAD", url, None)
        if answer.status == 401:
            header = answer.headers.get("WWW-Authenticate") or ""
            answer = self._exchange("HEAD", url, self._authorization(parse_challenge(header)))
        return self._verdict(answer)

    def _authorization(self, challenge: Challenge | None) -> str:
        if challenge is not None and challenge.scheme == "bearer":
            return f"Bearer {self._token(challenge)}"
        if challenge is not None and challenge.scheme == "basic":
            if self.login is None:
                raise _NotChecked(self._no_login())
            return self.login.basic
        scheme = clean(challenge.scheme, 40) if challenge else "no"
        raise _NotChecked(f"the registry asks for {scheme} authentication, which verify lacks")

    def _token(self, challenge: Challenge) -> str:
        realm = challenge.params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise _NotChecked(f"the registry named no usable token service ({clean(realm, 200)})")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise _NotChecked(
                f"the registry's token service {clean(realm, 200)} is plain http: credentials "
                "are never sent that way"
            )
        query = {"scope": challenge.params.get("scope") or f"repository:{self.repository}:pull"}
        if "service" in challenge.params:
            query = {"service": challenge.params["service"], **query}
        url = realm + ("&" if parts.query else "?") + urlencode(query)
        answer = self._exchange("GET", url, self.login.basic if self.login else None)
        if answer.status in (401, 403):
            raise _NotChecked(self._refused(answer.status, "token service"))
        if answer.status != 200:
            raise _NotChecked(f"the registry's token service answered HTTP {answer.status}")
        try:
            data = json.loads(answer.body)
        except ValueError:
            data = None
        token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise _NotChecked("the registry's token service answered without a usable token")
        return token

    def _verdict(self, answer: _Answer) -> ImageCheck:
        name = f"{self.image.name}:{self.image.tag}"
        if answer.status == 200:
            digest = answer.headers.get("Docker-Content-Digest") or ""
            if _DIGEST.fullmatch(digest):
                return ImageCheck(FOUND, f"{self.image.name}@{digest}")
            return ImageCheck(FOUND, name)
        if answer.status == 404:
            return ImageCheck(
                MISSING,
                f"BinderHub reported the image pushed, but the registry has no {name}",
            )
        if answer.status in (401, 403):
            raise _NotChecked(self._refused(answer.status, "registry"))
        reason = clean(answer.reason, 80)
        raise _NotChecked(f"the registry answered HTTP {answer.status} {reason}")

    def _refused(self, status: int, who: str) -> str:
        if self.login is None:
            return self._no_login() + f" (the {who} answered {status})"
        return (
            f"the {who} refused registry.username {clean(self.login.username, 100)!r} and its "
            f"password to read the image ({status}): check them, or the account's pull access"
        )

    @staticmethod
    def _no_login() -> str:
        return (
            "the registry wants a login and no password is configured: set "
            f"registry.password_file or {REGISTRY_PASSWORD_ENV}"
        )

    def _exchange(self, method: str, url: str, authorization: str | None) -> _Answer:
        """One request, following up to MAX_REDIRECTS redirects; the Authorization
        header never follows one to another origin, nor to plain http elsewhere."""
        for _ in range(MAX_REDIRECTS + 1):
            headers = {"Accept": ACCEPT, "User-Agent": USER_AGENT}
            if authorization:
                headers["Authorization"] = authorization
            conn, response = open_request(url, method, headers, self.deadline)
            try:
                body = response.read(MAX_BODY) if method == "GET" else b""
            except TimeoutError:
                raise _NotChecked(f"{_origin(url)} did not answer in time") from None
            except (OSError, http.client.HTTPException) as err:
                raise _NotChecked(f"reading the answer of {_origin(url)} failed: {err}") from None
            finally:
                conn.close()
            location = response.getheader("Location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                return _Answer(response.status, response.reason, response.msg, body, url)
            target = urljoin(url, location)
            parts = urlsplit(target)
            if parts.scheme not in ("https", "http") or (
                parts.scheme == "http" and not is_loopback(parts.hostname or "")
            ):
                raise _NotChecked(f"the registry redirected to {clean(target, 200)}, not https")
            if _origin(target) != _origin(url):
                authorization = None
            url = target
        raise _NotChecked(f"the registry redirected more than {MAX_REDIRECTS} times")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
