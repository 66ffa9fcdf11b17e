"""BinderHub's HTTP API: `/versions` and the build event stream.

Standard library only (http.client), so importing it costs nothing. Every wait
has a timeout; a timeout while streaming is final, because a socket file is in
an undefined state after one. Each failure becomes one line that says what to do.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from bhsvc.errors import OperationError, UsageError

USER_AGENT = "bhsvc-verify"
READ_SIZE = 64 * 1024
MAX_JSON_BYTES = 1 << 20

_PROVIDER = re.compile(r"[A-Za-z0-9_-]+")
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


def validate_token(token: str | None) -> str | None:
    if token is None:
        return None
    token = token.strip()
    if not token:
        return None
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in token):
        raise UsageError("--token: the token contains spaces or control characters")
    return token


def validate_repo_spec(spec: str) -> str:
    """A `<provider>/<spec>` string as BinderHub's build URL takes it, checked."""
    spec = spec.strip().strip("/")
    provider, _, rest = spec.partition("/")
    if not provider or not rest:
        raise UsageError(
            f"--repo {spec!r}: expected <provider>/<spec>, "
            "e.g. gh/binder-examples/requirements/HEAD"
        )
    if not _PROVIDER.fullmatch(provider):
        raise UsageError(f"--repo {spec!r}: {provider!r} is not a repository provider prefix")
    if any(ch.isspace() or ord(ch) < 32 for ch in rest) or "?" in rest or "#" in rest:
        raise UsageError(f"--repo {spec!r}: contains spaces, '?' or '#'")
    if provider == "gh":
        org, repo, ref = [*rest.split("/", 2), "", ""][:3]
        if not (org and repo and ref):
            raise UsageError(
                f"--repo {spec!r}: GitHub specs are gh/<owner>/<repo>/<ref>, "
                "e.g. gh/binder-examples/requirements/HEAD"
            )
    return spec


def build_path(base_url: str, spec: str, build_only: bool) -> str:
    """Path and query of the build request for `spec` under `base_url`."""
    path = urlsplit(base_url).path + "build/" + quote(spec, safe=_PATH_SAFE)
    return path + ("?build_only=true" if build_only else "")


# ---- connections ----------------------------------------------------------


def _connection(target: Target, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(target.base_url)
    host = parts.hostname or ""
    if parts.scheme == "https":
        return http.client.HTTPSConnection(
            host, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    return http.client.HTTPConnection(host, parts.port, timeout=timeout)


def _headers(target: Target, accept: str) -> dict[str, str]:
    headers = {"Accept": accept, "User-Agent": USER_AGENT, "Cache-Control": "no-cache"}
    if target.token:
        headers["Authorization"] = f"Bearer {target.token}"
    return headers


def _connect_error(target: Target, err: BaseException, timeout: float) -> OperationError:
    where = target.origin
    if isinstance(err, ssl.SSLCertVerificationError):
        return OperationError(
            f"TLS error talking to {where}: certificate verify failed ({err.verify_message}); "
            "if the certificate is right, add its CA with SSL_CERT_FILE"
        )
    if isinstance(err, ssl.SSLError):
        reason = err.reason or err.strerror or str(err)
        if reason == "WRONG_VERSION_NUMBER":
            reason += " (the server does not speak TLS on this port; http:// instead of https://?)"
        return OperationError(f"TLS error talking to {where}: {reason}")
    if isinstance(err, socket.gaierror):
        return OperationError(f"cannot reach {where}: unknown host {urlsplit(where).hostname}")
    if isinstance(err, ConnectionRefusedError):
        return OperationError(f"cannot reach {where}: connection refused")
    if isinstance(err, (TimeoutError, socket.timeout)):
        return OperationError(f"cannot reach {where}: no answer within {round(timeout, 1):g}s")
    if isinstance(err, http.client.HTTPException):
        return OperationError(f"{where} did not answer with valid HTTP ({type(err).__name__})")
    if isinstance(err, OSError):
        return OperationError(f"cannot reach {where}: {err.strerror or err}")
    return OperationError(f"cannot reach {where}: {err}")


def _request(
    target: Target, path: str, accept: str, timeout: float
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse, socket.socket]:
    conn = _connection(target, timeout)
    try:
        conn.request("GET", path, headers=_headers(target, accept))
        sock = conn.sock
        response = conn.getresponse()
    except (OSError, http.client.HTTPException) as err:
        conn.close()
        raise _connect_error(target, err, timeout) from None
    assert sock is not None  # request() connected it
    return conn, response, sock


def _status_hint(status: int, location: str | None) -> str:
    if status == 404:
        return "no BinderHub at this URL; check the base URL (e.g. https://hub.example.org/services/binder/)"
    if status in (401, 403):
        return "not allowed: pass a JupyterHub API token with --token or BHSVC_TOKEN"
    if status in (502, 503, 504):
        return "the proxy in front of BinderHub could not reach it; is the BinderHub pod running?"
    if 300 <= status < 400:
        return f"redirected to {location or '?'}; a login page? BinderHub's API does not redirect"
    return "BinderHub should answer 200"


def _check_status(response: http.client.HTTPResponse, url: str) -> None:
    if response.status == 200:
        return
    hint = _status_hint(response.status, response.getheader("Location"))
    raise OperationError(f"GET {url} answered HTTP {response.status} {response.reason}: {hint}")


# ---- /versions --------------------------------------------------------------


@dataclass(frozen=True)
class Versions:
    binderhub: str
    builder_info: dict[str, Any]

    @property
    def builder(self) -> str | None:
        image = self.builder_info.get("build_image")
        return image if isinstance(image, str) else None


def get_versions(target: Target, timeout: float) -> Versions:
    """GET <base>versions: BinderHub's version and builder; never needs auth."""
    url = target.base_url + "versions"
    conn, response, _ = _request(target, urlsplit(url).path, "application/json", timeout)
    try:
        _check_status(response, url)
        try:
            body = response.read(MAX_JSON_BYTES)
        except (OSError, http.client.HTTPException) as err:
            raise _connect_error(target, err, timeout) from None
    finally:
        conn.close()
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("binderhub"), str):
        raise OperationError(f"GET {url} did not answer like BinderHub (no 'binderhub' version)")
    info = data.get("builder_info")
    return Versions(data["binderhub"], info if isinstance(info, dict) else {})


# ---- the build event stream --------------------------------------------------


class StreamTimeout(Exception):
    """No bytes arrived before the deadline the caller gave."""


class ChunkedDecoder:
    """Incremental HTTP/1.1 chunked-transfer decoder (RFC 9112 section 7.1).

    Takes bytes as they arrive, however they are split, and returns the payload.
    It works on whole reads rather than one chunk at a time, so when the reader
    falls behind, one read catches up with hundreds of events.
    """

    MAX_SIZE_LINE = 4096

    def __init__(self) -> None:
        self._buf = b""
        self._left = 0  # payload bytes still due in the current chunk
        self._crlf = False  # the CRLF after a chunk's payload is due
        self._trailers = False  # after the last chunk: trailer lines until a blank one
        self.done = False

    def feed(self, data: bytes) -> bytes:
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        pos, end = 0, len(buf)
        while pos < end and not self.done:
            if self._left:
                take = min(self._left, end - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self._left -= take
                self._crlf = not self._left
                continue
            if self._crlf:
                if end - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise ValueError("chunk payload not followed by CRLF")
                pos += 2
                self._crlf = False
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                if end - pos > self.MAX_SIZE_LINE:
                    raise ValueError("chunk size line too long")
                break
            line = buf[pos:eol]
            pos = eol + 2
            if self._trailers:
                self.done = not line
                continue
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
                raise ValueError(f"bad chunk size line {line[:40]!r}")
            self._left = int(size_text, 16)
            self._trailers = self._left == 0
        self._buf = buf[pos:]
        return out[0] if len(out) == 1 else b"".join(out)


class BuildStream:
    """An open `text/event-stream` response; `read` gives body bytes, chunking removed.

    The body is read from the response's socket file directly: http.client's own
    read1 stops at every chunk boundary, one event per call, while BinderHub
    sends one chunk per event.
    """

    def __init__(
        self,
        conn: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        sock: socket.socket,
        url: str,
        target: Target,
    ) -> None:
        self._conn = conn
        self._response = response
        self._file = response.fp
        self._sock = sock
        self.url = url
        self._target = target
        self._chunked: ChunkedDecoder | None = ChunkedDecoder() if response.chunked else None
        self._length = response.length  # None: the body ends when the connection closes

    def read(self, timeout: float) -> bytes:
        """Some body bytes; b'' at the end of the stream; StreamTimeout after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            if self._chunked is not None and self._chunked.done:
                return b""
            if self._length is not None and self._length <= 0:
                return b""
            size = READ_SIZE if self._length is None else min(READ_SIZE, self._length)
            self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                data = self._file.read1(size)
            except TimeoutError:
                raise StreamTimeout() from None
            except ssl.SSLError as err:
                raise OperationError(
                    f"TLS error while reading the build stream from {self._target.origin}: "
                    f"{err.reason or err}"
                ) from None
            except OSError as err:
                raise OperationError(
                    f"the build stream from {self._target.origin} broke: {err.strerror or err}"
                ) from None
            if not data:
                if self._chunked is not None or self._length:
                    raise OperationError(
                        f"{self._target.origin} closed the connection before the build stream ended"
                    )
                return b""
            if self._length is not None:
                self._length -= len(data)
            if self._chunked is None:
                return data
            try:
                payload = self._chunked.feed(data)
            except ValueError as err:
                raise OperationError(
                    f"{self._target.origin} sent a broken chunked response ({err})"
                ) from None
            if payload or self._chunked.done:
                return payload

    def close(self) -> None:
        # Closing our end tells BinderHub to stop sending (it would otherwise go on
        # to launch, or hold the stream open after a failure).
        self._response.close()
        self._conn.close()

    def __enter__(self) -> BuildStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_build_stream(target: Target, spec: str, build_only: bool, timeout: float) -> BuildStream:
    """GET <base>build/<spec> with `Accept: text/event-stream`; waits at most `timeout`."""
    path = build_path(target.base_url, spec, build_only)
    url = f"{target.origin}{path}"
    conn, response, sock = _request(target, path, "text/event-stream", timeout)
    try:
        _check_status(response, url)
        ctype = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "text/event-stream":
            raise OperationError(
                f"GET {url} answered {ctype or 'no content type'}, not an event stream: "
                "is this BinderHub's base URL?"
            )
    except BaseException:
        conn.close()
        raise
    return BuildStream(conn, response, sock, url, target)
