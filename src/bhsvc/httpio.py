"""HTTP/1.1 requests with http.client in which every wait ends at one deadline.

A socket timeout bounds each `recv` only: a server that sends a byte now and
then holds a plain http.client read open for as long as it likes. Here the
response's socket reads check a deadline (a `time.monotonic()` value) that the
caller gives and may move, and connecting, the TLS handshake and sending the
request end by it too. http.client still parses the response and decodes
chunked bodies (`read1`, `readline`), reading through the socket's own file, so
a `Connection: close` response keeps its socket until it is closed. Standard
library only, so importing this costs nothing.
"""

from __future__ import annotations

import http.client
import io
import socket
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

from bhsvc.errors import OperationError

READ_SIZE = 64 * 1024


class Timeout(OperationError):
    """The deadline passed; the response (if any) is unusable from then on."""


class TLSError(OperationError):
    """The TLS handshake failed for another reason than the certificate (often: the
    server does not speak TLS on that port)."""


def seconds(value: float) -> str:
    return f"{round(value, 1):g}s"


class _DeadlineReader(io.RawIOBase):
    """A response's socket reads, each refused or cut short at the connection's deadline."""

    def __init__(self, sock: socket.socket, conn: Connection) -> None:
        self._sock = sock
        # Read through the socket's own file, as a plain HTTPResponse does: it keeps the
        # socket open when http.client closes the connection after the headers of a
        # `Connection: close` response, until the response has read its body.
        self._file = sock.makefile("rb", buffering=0)
        self._conn = conn

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self._sock.settimeout(self._conn.time_left())
        return self._file.readinto(buffer)

    def close(self) -> None:
        self._file.close()  # the last user of a closed connection's socket closes it
        super().close()

    def makefile(self, mode: str) -> io.BufferedReader:
        # http.client asks its "socket" for a file once, to read the response from.
        return io.BufferedReader(self, READ_SIZE)


class Connection(http.client.HTTPConnection):
    """One request's connection, plain or with verified TLS, bounded by `deadline`."""

    def __init__(self, scheme: str, host: str, port: int | None, deadline: float) -> None:
        self.deadline = deadline
        self._response: http.client.HTTPResponse | None = None
        self._tls: ssl.SSLContext | None = None
        if scheme == "https":
            self._tls = ssl.create_default_context()
            self._tls.set_alpn_protocols(["http/1.1"])
        super().__init__(host, port or (443 if self._tls else 80))

    def time_left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left

    def connect(self) -> None:
        self.timeout = self.time_left()
        super().connect()
        assert self.sock is not None
        if self._tls is not None:
            self.sock.settimeout(self.time_left())
            self.sock = self._tls.wrap_socket(self.sock, server_hostname=self.host)
        self.sock.settimeout(self.time_left())  # sending the request

    # http.client builds the response from `response_class(sock, method=...)`.
    def response_class(  # type: ignore[override]
        self, sock: socket.socket, *args: Any, **kwargs: Any
    ) -> http.client.HTTPResponse:
        reader: Any = _DeadlineReader(sock, self)  # all HTTPResponse wants is makefile("rb")
        return http.client.HTTPResponse(reader, *args, **kwargs)

    def getresponse(self) -> http.client.HTTPResponse:
        self._response = super().getresponse()
        return self._response

    def close(self) -> None:
        super().close()
        # http.client lets go of a `Connection: close` response, which holds the socket
        # open until it is closed: closing the connection ends that one too.
        if self._response is not None:
            self._response.close()


def connect_error(origin: str, err: BaseException) -> OperationError:
    """What went wrong talking to `origin`, in one line that says what to try."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return OperationError(
            f"TLS error talking to {origin}: certificate verify failed ({err.verify_message}); "
            "if the certificate is right, add its CA with SSL_CERT_FILE"
        )
    if isinstance(err, ssl.SSLError):
        reason = err.reason or err.strerror or str(err)
        if reason == "WRONG_VERSION_NUMBER":
            reason += " (the server does not speak TLS on this port; http:// instead of https://?)"
        return TLSError(f"TLS error talking to {origin}: {reason}")
    if isinstance(err, socket.gaierror):
        return OperationError(f"cannot reach {origin}: unknown host {urlsplit(origin).hostname}")
    if isinstance(err, ConnectionRefusedError):
        return OperationError(f"cannot reach {origin}: connection refused")
    if isinstance(err, http.client.HTTPException):
        return OperationError(f"{origin} did not answer with valid HTTP ({type(err).__name__})")
    if isinstance(err, OSError):
        return OperationError(f"cannot reach {origin}: {err.strerror or err}")
    return OperationError(f"cannot reach {origin}: {err}")


def open_request(
    url: str, method: str, headers: dict[str, str], deadline: float
) -> tuple[Connection, http.client.HTTPResponse]:
    """Send a request and read the status line and headers, all by `deadline`.

    The caller reads the body (moving `conn.deadline` as it likes) and closes
    the connection. Timeout when the deadline passes, another OperationError
    (one line) when the server cannot be reached or does not speak HTTP.
    """
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    waited = deadline - time.monotonic()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn = Connection(parts.scheme, parts.hostname or "", parts.port, deadline)
    try:
        conn.request(method, target or "/", headers=headers)
        response = conn.getresponse()
    except TimeoutError:
        conn.close()
        raise Timeout(f"cannot reach {origin}: no answer within {seconds(waited)}") from None
    except (OSError, http.client.HTTPException) as err:
        conn.close()
        raise connect_error(origin, err) from None
    return conn, response
