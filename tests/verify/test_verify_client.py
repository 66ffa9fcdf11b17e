"""The BinderHub HTTP client against the fake BinderHub: URLs, /versions, the stream, errors."""

from __future__ import annotations

import http.client
import itertools
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from bhsvc.binderhub import (
    Target,
    build_path,
    get_versions,
    normalize_base_url,
    open_build_stream,
)
from bhsvc.build_watch import Deadlines, follow
from bhsvc.errors import OperationError, UsageError
from bhsvc.events import BuildTracker, Event, EventStreamParser, Outcome
from fakes.binderhub import BUILDER_IMAGE, VERSION, FakeBinderHub
from fakes.k8s_tls import make_tls

SPEC = "gh/binder-examples/requirements/HEAD"


def soon(seconds: float) -> float:
    """A deadline `seconds` from now."""
    return time.monotonic() + seconds


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8585", "http://127.0.0.1:8585/"),
        ("https://hub.example.org/services/binder", "https://hub.example.org/services/binder/"),
        ("https://hub.example.org/services/binder/", "https://hub.example.org/services/binder/"),
        ("  http://[::1]:80/x/  ", "http://[::1]:80/x/"),
    ],
)
def test_base_url_gets_one_trailing_slash(url: str, expected: str) -> None:
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("hub.example.org/services/binder/", "http:// or https://"),
        ("ftp://hub.example.org/", "http:// or https://"),
        ("https://", "no host"),
        ("https://user:pw@hub.example.org/", "not in the URL"),
        ("https://hub.example.org/?x=1", "without '?'"),
        ("http://127.0.0.1:99999/", "not a valid URL"),
        ("http://a b/", "contains spaces or control characters"),
        ("http://exa\nmple.org/", "contains spaces or control characters"),
        ("http://a\x01b/", "contains spaces or control characters"),
        ("http://a\x85b/", "contains spaces or control characters"),
        ("https://hub.example.org/\u200bservices/binder/", "invisible formatting character"),
    ],
)
def test_bad_urls_are_usage_errors(url: str, complaint: str) -> None:
    with pytest.raises(UsageError, match=None) as err:
        normalize_base_url(url)
    assert complaint in str(err.value)
    assert "pw" not in str(err.value)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://me:s3cr3t@hub.example.org/",
        "https://me:s3cr3t@/services/binder/",
        "https://hub.example.org/services/binder/?token=s3cr3t",
        "https://hub.example.org/services/binder/#token=s3cr3t",
        "http://me:s3cr3t@[::1/",
    ],
)
def test_bad_url_messages_leave_out_credentials_and_query(url: str) -> None:
    """People paste URLs with a token in them: the message names the URL without it."""
    with pytest.raises(UsageError) as err:
        normalize_base_url(url)
    assert "s3cr3t" not in str(err.value)
    assert str(err.value).startswith("--url ")


def test_build_path_keeps_escapes_and_always_asks_for_build_only() -> None:
    base = "https://hub.example.org/services/binder/"
    assert build_path(base, "gh/o/r/HEAD") == "/services/binder/build/gh/o/r/HEAD?build_only=true"
    assert (
        build_path(base, "git/https%3A%2F%2Fx/HEAD")
        == "/services/binder/build/git/https%3A%2F%2Fx/HEAD?build_only=true"
    )


def test_versions(binderhub: Callable[..., FakeBinderHub]) -> None:
    fake = binderhub(base_url="/services/binder/", token="secret")  # /versions needs no token
    versions = get_versions(Target(normalize_base_url(fake.url.rstrip("/"))), 5)
    assert (versions.binderhub, versions.builder) == (VERSION, BUILDER_IMAGE)
    assert fake.requests[-1].path == "/services/binder/versions"


def read_all(fake: FakeBinderHub, **target: str) -> tuple[Outcome, BuildTracker]:
    tracker = BuildTracker(time.monotonic())
    with open_build_stream(Target(fake.url, **target), SPEC, soon(5)) as stream:
        outcome = follow(stream, tracker, Deadlines(30, 10, time.monotonic()))
    return outcome, tracker


def test_events_split_across_reads(binderhub: Callable[..., FakeBinderHub]) -> None:
    fake = binderhub(split_events=True, log_lines=5)
    outcome, tracker = read_all(fake)
    assert outcome.ok and outcome.image == fake.image_for(SPEC)
    assert [p["phase"] for p in tracker.phase_durations(0)] == [
        "waiting",
        "fetching",
        "building",
        "pushing",
        "ready",
    ]
    assert tracker.events == fake.wait_for_stream_end().event_count


def test_request_headers(binderhub: Callable[..., FakeBinderHub]) -> None:
    fake = binderhub(token="s3cret")
    outcome, _ = read_all(fake, token="s3cret")
    assert outcome.ok
    request = fake.requests[-1]
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.query == {"build_only": "true"}


def test_the_fake_answers_a_missing_accept_header_like_binderhub(
    binderhub: Callable[..., FakeBinderHub],
) -> None:
    # What a proxy that drops the Accept header would get back: HTTP 200 and one failed event.
    fake = binderhub()
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("GET", f"/build/{SPEC}?build_only=true")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    (event,) = EventStreamParser().feed(response.read())
    conn.close()
    assert event.phase == "failed" and event.status_code == 400  # type: ignore[union-attr]
    assert event.message == "Missing Accept header: text/event-stream\n"  # type: ignore[union-attr]


def test_provider_errors_arrive_as_events(binderhub: Callable[..., FakeBinderHub]) -> None:
    fake = binderhub()
    tracker = BuildTracker(time.monotonic())
    with open_build_stream(Target(fake.url), "gh/does-not-exist/repo/HEAD", soon(5)) as stream:
        outcome = follow(stream, tracker, Deadlines(30, 10, time.monotonic()))
    assert not outcome.ok and outcome.status_code is None
    assert outcome.message.startswith("Could not resolve ref for gh:does-not-exist/repo/HEAD")


def test_stream_that_ends_early(binderhub: Callable[..., FakeBinderHub]) -> None:
    outcome, _ = read_all(binderhub(end_after=3))
    assert not outcome.ok and "ended the build stream before the build finished" in outcome.message
    assert "(last phase: fetching)" in outcome.message


# A proxy's `Connection: close`: http.client closes its connection once it has the
# headers and hands the body on to the response, which must still read it.


def test_versions_from_a_server_that_closes_the_connection(
    binderhub: Callable[..., FakeBinderHub],
) -> None:
    # Dripping, so the body arrives after http.client has closed its end.
    fake = binderhub(connection_close=True, drip=0.001, drip_on=("versions",))
    versions = get_versions(Target(fake.url), 10)
    assert (versions.binderhub, versions.builder) == (VERSION, BUILDER_IMAGE)


def test_a_build_stream_from_a_server_that_closes_the_connection(
    binderhub: Callable[..., FakeBinderHub],
) -> None:
    fake = binderhub("slow", connection_close=True, event_delay=0.01, log_lines=3)
    outcome, tracker = read_all(fake)
    assert outcome.ok and outcome.image == fake.image_for(SPEC)
    assert tracker.events == fake.wait_for_stream_end().event_count


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_one_line() -> None:
    port = free_port()
    with pytest.raises(OperationError) as err:
        get_versions(Target(f"http://127.0.0.1:{port}/"), 2)
    assert str(err.value) == f"cannot reach http://127.0.0.1:{port}: connection refused"


def test_a_silent_server_times_out_with_a_readable_limit() -> None:
    with socket.socket() as listener:  # accepts connections (backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with pytest.raises(OperationError) as err:
            get_versions(Target(f"http://127.0.0.1:{port}/"), 0.2999)
    assert str(err.value) == f"cannot reach http://127.0.0.1:{port}: no answer within 0.3s"


def test_unknown_host_is_one_line() -> None:
    with pytest.raises(OperationError, match=r"^cannot reach https://no-such-host\.invalid: "):
        get_versions(Target("https://no-such-host.invalid/"), 2)


def test_tls_to_a_plain_http_server(binderhub: Callable[..., FakeBinderHub]) -> None:
    fake = binderhub()
    with pytest.raises(OperationError, match=r"^TLS error talking to https://127\.0\.0\.1:\d+: "):
        get_versions(Target(f"https://127.0.0.1:{fake.port}/"), 5)


def test_tls_certificate_not_trusted(binderhub: Callable[..., FakeBinderHub]) -> None:
    fake = binderhub(tls=make_tls())
    with pytest.raises(OperationError) as err:
        get_versions(Target(fake.url), 5)
    assert str(err.value) == (
        f"TLS error talking to https://127.0.0.1:{fake.port}: certificate verify failed "
        "(self-signed certificate in certificate chain); if the certificate is right, "
        "add its CA with SSL_CERT_FILE"
    )


@pytest.mark.parametrize("close", [False, True], ids=["keep-alive", "connection-close"])
def test_https_with_a_trusted_certificate(
    binderhub: Callable[..., FakeBinderHub],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    close: bool,
) -> None:
    tls = make_tls()
    (tmp_path / "ca.pem").write_bytes(tls.ca_pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # OpenSSL's own trust override
    fake = binderhub(tls=tls, log_lines=3, split_events=True, connection_close=close)
    assert get_versions(Target(fake.url), 5).binderhub == VERSION
    outcome, _ = read_all(fake)
    assert outcome.ok and outcome.image == fake.image_for(SPEC)


def test_http_errors(binderhub: Callable[..., FakeBinderHub]) -> None:
    fake = binderhub(base_url="/services/binder/")
    with pytest.raises(
        OperationError, match="answered HTTP 404 Not Found: no BinderHub at this URL"
    ):
        get_versions(Target(f"http://127.0.0.1:{fake.port}/"), 5)
    with pytest.raises(OperationError, match="answered HTTP 404"):
        open_build_stream(Target(f"http://127.0.0.1:{fake.port}/"), SPEC, soon(5))


def test_not_an_event_stream() -> None:
    # Something answers 200 with a web page (a login page, a different app).
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>Sign in</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        with pytest.raises(OperationError, match="answered text/html, not an event stream"):
            open_build_stream(Target(f"http://127.0.0.1:{server.server_port}/"), SPEC, soon(5))
    finally:
        thread.join(5)
        server.server_close()


def one_shot_server(raw: bytes) -> tuple[HTTPServer, threading.Thread]:
    """A server that answers one request with `raw` (status line, headers and body as
    given) and closes the connection."""

    class Raw(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.wfile.write(raw)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Raw)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    return server, thread


EVENT = b'data: {"phase": "waiting", "message": "Waiting for build to start..."}\n\n'
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"


CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        # The connection closes inside a chunk, and between chunks without the last one.
        CHUNKED + b"%x\r\n%s" % (len(EVENT), EVENT[:20]),
        CHUNKED + b"%x\r\n%s\r\n" % (len(EVENT), EVENT),
        # A chunk size that is not hexadecimal.
        CHUNKED + b"zz\r\n" + EVENT,
        # Fewer bytes than the Content-Length announced.
        HEAD + b"Content-Length: %d\r\n\r\n%s" % (len(EVENT) + 50, EVENT),
    ],
    ids=["inside-a-chunk", "between-chunks", "bad-chunk-size", "short-content-length"],
)
def test_a_broken_or_truncated_stream_is_one_line(raw: bytes) -> None:
    server, thread = one_shot_server(raw)
    try:
        target = Target(f"http://127.0.0.1:{server.server_port}/")
        tracker = BuildTracker(time.monotonic())
        with open_build_stream(target, SPEC, soon(5)) as stream:
            outcome = follow(stream, tracker, Deadlines(30, 10, time.monotonic()))
    finally:
        thread.join(5)
        server.server_close()
    assert not outcome.ok
    assert outcome.message == (
        f"the build stream from http://127.0.0.1:{server.server_port} broke off: the connection "
        "closed or a chunk was malformed" + (" (last phase: waiting)" if tracker.phase else "")
    )


def test_the_stream_is_read_as_it_arrives(binderhub: Callable[..., FakeBinderHub]) -> None:
    """Each event is seen when it arrives, not when a buffer fills."""
    fake = binderhub("slow", event_delay=0.2, log_lines=2)
    seen: list[tuple[float, str]] = []
    with open_build_stream(Target(fake.url), SPEC, soon(5)) as stream:
        parser = EventStreamParser()
        while len(seen) < 4:
            for item in parser.feed(stream.read(soon(5))):
                seen.append((time.monotonic(), str(getattr(item, "phase", ""))))
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(seen)]
    assert [phase for _, phase in seen] == ["waiting", "fetching", "fetching", "fetching"]
    assert all(gap > 0.1 for gap in gaps), gaps


def events_until(response: http.client.HTTPResponse, phase: str) -> list[str]:
    """Read events until one with `phase` arrives; their phases."""
    parser, seen = EventStreamParser(), []
    while phase not in seen:
        data = response.read1(65536)
        assert data, f"the stream ended before {phase!r}: {seen}"
        seen += [item.phase for item in parser.feed(data) if isinstance(item, Event)]
    return seen


@pytest.mark.parametrize("token", [None, "s3cret"], ids=["no-auth", "hub-auth"])
def test_the_fake_launches_after_built_although_the_client_hangs_up(
    binderhub: Callable[..., FakeBinderHub], token: str | None
) -> None:
    """BinderHub launches in the build request's handler right after 'built' and notices a
    closed connection only when a later write fails: hanging up after 'built' is too late."""
    fake = binderhub(token=token, token_user="alice", hold_after_launch=0.5)
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    headers = {"Accept": "text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request("GET", f"/build/{SPEC}", headers=headers)  # no build_only
    assert events_until(conn.getresponse(), "built")[-1] == "built"
    conn.close()
    fake.wait_for_stream_end()
    (launch,) = fake.launches
    assert launch.image == fake.image_for(SPEC)
    if token:
        assert (launch.user, launch.temporary_user) == ("alice", False)
    else:
        assert launch.user.startswith("binder-examples-requirements-") and launch.temporary_user


def test_the_fake_launches_in_api_only_mode_too_without_build_only(
    binderhub: Callable[..., FakeBinderHub],
) -> None:
    fake = binderhub("cached", api_only=True, hold_after_launch=0.1)
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("GET", f"/build/{SPEC}", headers={"Accept": "text/event-stream"})
    assert events_until(conn.getresponse(), "ready") == ["built", "launching", "launching", "ready"]
    conn.close()
    assert len(fake.launches) == 1
