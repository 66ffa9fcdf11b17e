"""BinderHub's HTTP API: `/versions` and the build event stream.

Standard library only (http.client, through bhsvc.httpio), so importing it
costs nothing. Every wait ends at a deadline the caller gives; a timeout while
streaming is final, because a response is in an undefined state after one.
Each failure becomes one line that says what to do.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from bhsvc.errors import OperationError, UsageError
from bhsvc.events import auth_advice
from bhsvc.httpio import READ_SIZE, Connection, Timeout, connect_error, open_request
from bhsvc.registry.endpoints import is_loopback
from bhsvc.server_text import clean
from bhsvc.text import unplain_problem

USER_AGENT = "bhsvc-verify"
MAX_JSON_BYTES = 1 << 20
MAX_FIELD = 200  # a version or image name from /versions, as shown

# Characters that may stay as they are in a URL path; everything else is %-encoded.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class Target:
    """Where BinderHub answers: its base URL (ending in '/') and an optional API token."""

    base_url: str
    token: str | None = field(default=None, repr=False)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"


def normalize_base_url(url: str) -> str:
    """The URL with exactly one trailing '/', or a UsageError naming what is wrong."""
    url = url.strip()
    # Messages show the URL without user info and query, where people paste tokens.
    shown = re.sub(r"//[^/?#]*@", "//", url, count=1).split("?")[0].split("#")[0]
    # Before urlsplit, which drops tabs and line breaks without a word (exa\nmple.org
    # would become example.org); http.client refuses the rest with a traceback.
    if any(ch.isspace() or ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in url):
        raise UsageError(f"--url {shown!r}: contains spaces or control characters")
    problem = unplain_problem(url)
    if problem:
        raise UsageError(f"--url {shown!r}: {problem}")
    if not url.isascii():  # http.client sends ASCII only, and says so with a traceback
        raise UsageError(
            f"--url {shown!r}: holds characters outside ASCII: write the path %-encoded "
            "and the host name in its ASCII form (xn--...)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise UsageError(f"--url {shown!r}: not a valid URL ({err})") from None
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"--url {shown!r}: must start with http:// or https://")
    if not parts.hostname:
        raise UsageError(f"--url {shown!r}: has no host name")
    if parts.username is not None or parts.password is not None:
        raise UsageError("--url: put credentials in --token or BHSVC_TOKEN, not in the URL")
    if parts.query or parts.fragment:
        raise UsageError(f"--url {shown!r}: give BinderHub's base URL, without '?' or '#' parts")
    if port == 0:
        raise UsageError(f"--url {shown!r}: port 0 is not a valid port")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"{parts.scheme}://{parts.netloc}{path}"


def check_token_transport(base_url: str) -> None:
    """A token travels in plain text only to this machine (a port-forward, a local test)."""
    parts = urlsplit(base_url)
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        raise UsageError(
            f"--url {base_url}: a token is never sent over plain http to another machine; "
            "use https://"
        )


def validate_token(token: str | None, source: str = "--token") -> str | None:
    """The token without surrounding blanks, or None; `source` (the flag or the
    variable it came from) names it in a complaint."""
    if token is None:
        return None
    token = token.strip()
    if not token:
        return None
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in token):
        raise UsageError(f"{source}: the token contains spaces or control characters")
    return token


def build_path(base_url: str, spec: str) -> str:
    """Path and query of the build-only request for `spec` under `base_url`.

    Always build_only=true: without it BinderHub launches a server after the
    build, in the same request, and a client that hangs up does not stop it.
    """
    return urlsplit(base_url).path + "build/" + quote(spec, safe=_PATH_SAFE) + "?build_only=true"


# ---- requests ------------------------------------------------------------------


def _headers(target: Target, accept: str, with_token: bool) -> dict[str, str]:
    headers = {"Accept": accept, "User-Agent": USER_AGENT, "Cache-Control": "no-cache"}
    if with_token and target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    return headers


def _status_hint(status: int, location: str | None, token_sent: bool) -> str:
    if status == 404:
        return "no BinderHub at this URL; check the base URL (e.g. https://hub.example.org/services/binder/)"
    if status in (401, 403):
        return f"not allowed: {auth_advice(token_sent, None)}"
    if status in (502, 503, 504):
        return "the proxy in front of BinderHub could not reach it; is the BinderHub pod running?"
    if 300 <= status < 400:
        return f"redirected to {location or '?'}; a login page? BinderHub's API does not redirect"
    return "BinderHub should answer 200"


def _check_status(response: http.client.HTTPResponse, url: str, token_sent: bool) -> None:
    if response.status == 200:
        return
    location = response.getheader("Location")
    hint = _status_hint(response.status, clean(location, 200) if location else None, token_sent)
    reason = clean(response.reason, 100)
    raise OperationError(f"GET {url} answered HTTP {response.status} {reason}: {hint}")


# ---- /versions --------------------------------------------------------------


@dataclass(frozen=True)
class Versions:
    binderhub: str
    builder_info: dict[str, Any]

    @property
    def builder(self) -> str | None:
        image = self.builder_info.get("build_image")
        return clean(image, MAX_FIELD) if isinstance(image, str) else None


def get_versions(target: Target, timeout: float) -> Versions:
    """GET <base>versions: BinderHub's version and builder. It needs no auth, so no token
    is sent. The whole request takes at most `timeout` seconds, however slowly the
    server answers."""
    url = target.base_url + "versions"
    deadline = time.monotonic() + timeout
    conn, response = open_request(url, "GET", _headers(target, "application/json", False), deadline)
    try:
        _check_status(response, url, token_sent=False)
        try:
            body = response.read(MAX_JSON_BYTES)
        except TimeoutError:
            raise Timeout(f"GET {url}: the answer did not arrive in time") from None
        except (OSError, http.client.HTTPException) as err:
            raise connect_error(target.origin, err) from None
    finally:
        conn.close()
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("binderhub"), str):
        raise OperationError(f"GET {url} did not answer like BinderHub (no 'binderhub' version)")
    info = data.get("builder_info")
    return Versions(clean(data["binderhub"], MAX_FIELD), info if isinstance(info, dict) else {})


# ---- the build event stream --------------------------------------------------


class BuildStream:
    """An open `text/event-stream` response; `read` gives body bytes as they arrive.

    http.client decodes the chunked transfer; BinderHub sends one chunk per event,
    so a read gives about one event.
    """

    def __init__(
        self, conn: Connection, response: http.client.HTTPResponse, url: str, origin: str
    ) -> None:
        self._conn = conn
        self._response = response
        self.url = url
        self._origin = origin

    def read(self, deadline: float) -> bytes:
        """Some body bytes; b'' at the end of the stream; Timeout once `deadline` passes.

        A timeout is final: the response cannot be read on after one.
        """
        self._conn.deadline = deadline
        try:
            data = self._response.read1(READ_SIZE)
        except TimeoutError:
            raise Timeout(f"the build stream from {self._origin} stalled") from None
        except http.client.IncompleteRead:
            raise self._broken() from None
        except http.client.HTTPException as err:
            raise OperationError(
                f"{self._origin} sent a malformed build stream ({type(err).__name__})"
            ) from None
        except ssl.SSLError as err:
            raise OperationError(
                f"TLS error while reading the build stream from {self._origin}: {err.reason or err}"
            ) from None
        except OSError as err:
            raise OperationError(
                f"the build stream from {self._origin} broke: {err.strerror or err}"
            ) from None
        if not data and self._response.length:  # fewer bytes than its Content-Length said
            raise self._broken()
        return data

    def _broken(self) -> OperationError:
        return OperationError(
            f"the build stream from {self._origin} broke off: the connection closed "
            "or a chunk was malformed"
        )

    def close(self) -> None:
        # Closing our end tells BinderHub to stop sending (it holds the stream open
        # after a failure).
        self._response.close()
        self._conn.close()

    def __enter__(self) -> BuildStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_build_stream(target: Target, spec: str, deadline: float) -> BuildStream:
    """GET <base>build/<spec> with `Accept: text/event-stream`; the answer must begin by
    `deadline` (Timeout otherwise)."""
    path = build_path(target.base_url, spec)
    url = f"{target.origin}{path}"
    conn, response = open_request(url, "GET", _headers(target, "text/event-stream", True), deadline)
    try:
        _check_status(response, url, token_sent=target.token is not None)
        ctype = clean(response.getheader("Content-Type") or "", 100).split(";")[0].strip().lower()
        if ctype != "text/event-stream":
            raise OperationError(
                f"GET {url} answered {ctype or 'no content type'}, not an event stream: "
                "is this BinderHub's base URL?"
            )
    except BaseException:
        conn.close()
        raise
    return BuildStream(conn, response, url, target.origin)
