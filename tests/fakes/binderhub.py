"""A local BinderHub that answers `/versions`, `/health` and `/build/...` as BinderHub does.

What it reproduces, from BinderHub's handlers:

- The build stream is `text/event-stream` over chunked transfer: one chunk per
  event (`data: <json>\\n\\n`), `:keepalive\\n\\n` every `keepalive_interval`
  seconds, and the terminating zero-length chunk when the handler returns.
- Errors raised before the first event (missing `Accept: text/event-stream`,
  `build_only=true` outside API-only mode, auth) are *HTTP 200* responses with a
  Content-Length and a single `failed` event carrying `status_code` and
  `message`, because an EventSource cannot see HTTP status codes.
- With auth enabled, a missing or unknown token is 403 "Forbidden"; a known
  token without `access:services!service=<name>` is 403 "<kind> <name> is not
  allowed.". `/versions` and `/health` never need auth.
- Without `build_only=true` (in either mode) BinderHub launches: right after
  `built` it writes `launching` and asks for a server in the same handler. A
  client that hangs up after `built` does not stop that: BinderHub notices a
  closed connection only when a later write fails. Each attempt is recorded in
  `launches` (without auth for a temporary user, with auth for the token's
  owner, `token_user`).
- After a failed build the stream stays open (keepalives only) until the
  client goes away; after a launch it is held for `hold_after_launch` seconds,
  as BinderHub does so EventSource clients do not reconnect.
- Image names follow BinderHub's `<prefix><safe slug>:<resolved ref>` shape.

Scenarios: success, failure (at the build, or with `fail_when_pushing` at the
push), cached, stalled, slow (set `event_delay`), huge (set `log_lines`). UI mode
is `api_only=False`; auth is `token=...`; `connection_close=True` answers as a
proxy that closes each connection after its response.

Run it on its own (for benchmarks), from tests/: `python -m fakes.binderhub --scenario
huge --log-lines 100000` prints the port, then serves until killed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import secrets
import select
import socket
import string
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes.served import Handler, Served

VERSION = "1.0.0-0.dev.git.3983.h383374de"
BUILDER_IMAGE = "quay.io/jupyterhub/repo2docker:2024.07.0-146.g7e9c4e5"
IMAGE_PREFIX = "europe-west10-docker.pkg.dev/my-project/binder/binder-"
PROVIDERS = {"gh", "gist", "git", "gl", "zenodo", "figshare", "hydroshare", "dataverse", "ckan"}
MISSING_ORG = "does-not-exist"  # gh/<MISSING_ORG>/... does not resolve
BUILD_ONLY_REFUSED = (
    "Building but not launching is not permitted when the API only mode was not enabled "
    "by setting `enable_api_only_mode` to True. "
)
SCENARIOS = ("success", "failure", "cached", "stalled", "slow", "huge")
_SAFE = set(string.ascii_letters + string.digits)
_AUTH_HEADER = re.compile(r"(?:token|bearer)\s+(.+)", re.IGNORECASE)


# ---- image naming (the shape BinderHub gives image names) --------------------


def _escape(text: str) -> str:
    return "".join(c if c in _SAFE else "".join(f"-{b:02X}" for b in c.encode()) for c in text)


def safe_slug(slug: str, limit: int, hash_length: int = 6) -> str:
    digest = hashlib.sha256(slug.encode()).hexdigest()[:hash_length]
    return f"{_escape(slug)[: limit - hash_length - 1]}-{digest}".lower()


def resolved_ref(spec: str) -> str:
    return hashlib.sha1(spec.encode()).hexdigest()  # a stand-in for the commit GitHub returns


def image_name(prefix: str, owner: str, repo: str, ref: str) -> str:
    slug = safe_slug(f"{owner}-{repo}", 255 - len(prefix))
    return f"{prefix}{slug}:{ref}".replace("_", "-").lower()


# ---- records ----------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


@dataclass
class Stream:
    """One build response: what was sent and who ended it."""

    path: str
    build_only: bool
    started: float
    events: list[dict[str, Any]] = field(default_factory=list)
    keepalives: int = 0
    ended: float | None = None
    closed_by_client: bool = False
    event_count: int = 0  # counts every event, also the ones not kept in `events`


@dataclass
class Launch:
    """A server BinderHub asked for: what a build without build_only=true leads to."""

    user: str
    temporary_user: bool  # BinderHub without auth creates a user for each launch
    image: str
    at: float


@dataclass(frozen=True)
class _StartServer:
    """A step of the event script: ask for a server (BinderHub's launcher.launch)."""

    image: str
    repo: str  # owner-repo, what a temporary user's name starts with


class _ClientGone(Exception):
    pass


# ---- the fake ----------------------------------------------------------------------


@dataclass
class FakeBinderHub(Served):
    scenario: str = "success"
    api_only: bool = True
    base_url: str = "/"
    token: str | None = None  # set: auth enabled, this token has the access scope
    token_user: str = "verify-user"  # the owner of `token`
    knows_build_only: bool = True  # False: a BinderHub from before build_only, which ignores it
    unscoped_tokens: dict[str, str] = field(default_factory=dict)  # token -> user name
    keepalive_interval: float = 25.0
    event_delay: float = 0.0
    log_lines: int = 30
    hold_after_launch: float = 60.0
    hold_after_failure: float = 60.0
    split_events: bool = False  # write each event in several chunks
    end_after: int | None = None  # end the stream after this many events (a crashed BinderHub)
    # Drop the connection after this many events, without the last chunk (a pod
    # restart or a proxy timeout mid-build).
    cut_after: int | None = None
    keep_events: int = 1000  # how many events each Stream record keeps
    # A slow-drip server: the responses to these requests ("versions", "build") are
    # written one byte at a time, `drip` seconds apart, from byte `drip_from` of the
    # response on (0: the status line and headers drip too).
    drip: float = 0.0
    drip_on: tuple[str, ...] = ("versions", "build")
    drip_from: int = 0
    # Every response says `Connection: close` (as some proxies do) and the server hangs
    # up after it; http.client then closes its socket before the body is read.
    connection_close: bool = False
    version: str = VERSION
    image_prefix: str = IMAGE_PREFIX
    image_name: str | None = None  # report this imageName instead (a broken or hostile BinderHub)
    log_messages: tuple[str, ...] = ()  # more build log lines, before the build steps
    failure_message: str = (  # repo2docker's last words in the failure scenario
        "The command '/bin/sh -c ${KERNEL_PYTHON_PREFIX}/bin/pip install --no-cache-dir "
        '-r "binder/requirements.txt"\' returned a non-zero code: 1'
    )
    fail_when_pushing: bool = False  # the failure scenario fails at the push, not the build
    hub_healthy: bool = False
    tls: Any = None  # a fakes.k8s_tls.Tls: serve https with its certificate

    requests: list[Request] = field(default_factory=list)
    streams: list[Stream] = field(default_factory=list)
    launches: list[Launch] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}")
        if not (self.base_url.startswith("/") and self.base_url.endswith("/")):
            raise ValueError("base_url must start and end with '/'")
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # ---- lifecycle -------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()  # streams waiting in a pause end now
        super().stop()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{self.base_url}"

    def image_for(self, spec: str) -> str:
        """The image name for a GitHub spec (with or without the gh/ prefix)."""
        if self.image_name is not None:
            return self.image_name
        spec = spec.removeprefix("gh/")
        owner, repo, _ = spec.split("/", 2)
        return image_name(self.image_prefix, owner, repo, resolved_ref(spec))

    def wait_for_stream_end(self, timeout: float = 5.0) -> Stream:
        """The last stream, once the server saw it end (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.streams and self.streams[-1].ended is not None:
                    return self.streams[-1]
            time.sleep(0.01)
        raise AssertionError("the build stream did not end")

    # ---- the event scripts -----------------------------------------------------

    def script(
        self, spec: str, build_only: bool
    ) -> Iterator[dict[str, Any] | float | _StartServer]:
        """What the build handler emits after the checks: events, and pauses (floats)."""
        image = self.image_for(spec)
        if self.scenario == "cached":
            if build_only:
                yield {"phase": "ready", "imageName": image, "message": "Done! Found built image\n"}
            else:
                yield {
                    "phase": "built",
                    "imageName": image,
                    "message": "Found built image, launching...\n",
                }
                yield from self._launch(spec, image)
            return
        yield {"phase": "waiting", "message": "Waiting for build to start...\n"}
        if self.scenario == "stalled":
            yield float("inf")
            return
        yield from self._paced(self._repo2docker(spec, image))
        if self.scenario == "failure":
            yield {"phase": "failed"}  # the build pod's status change
            yield float(self.hold_after_failure)  # BinderHub keeps the stream open after a failure
            return
        if build_only:
            yield {"phase": "ready", "message": "Done! Image built\n", "imageName": image}
            return
        yield {"phase": "built", "message": "Built image, launching...\n", "imageName": image}
        yield from self._launch(spec, image)

    def _paced(self, events: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any] | float]:
        for event in events:
            if self.event_delay:
                yield float(self.event_delay)
            yield event

    def _repo2docker(self, spec: str, image: str) -> Iterator[dict[str, Any]]:
        """Log lines as repo2docker's JSON logger writes them (message first, then extras)."""
        ref = resolved_ref(spec)
        yield {"message": "Picked Git content provider.\n", "phase": "fetching"}
        yield {"message": "Cloning into '/tmp/repo2dockerr7y0y_hb'...\n", "phase": "fetching"}
        yield {
            "message": f"HEAD is now at {ref[:7]} Update requirements.txt\n",
            "phase": "fetching",
        }
        yield {"message": "Using PythonBuildPack builder\n", "phase": "building"}
        for message in self.log_messages:
            yield {"message": message, "phase": "building"}
        total = self.log_lines
        step = "RUN pip install --no-cache-dir -r requirements.txt"
        for n in range(1, total + 1):
            yield {"message": f"Step {n}/{total} : {step} # {n}\n", "phase": "building"}
        if self.scenario == "failure" and not self.fail_when_pushing:
            yield {"message": self.failure_message, "phase": "failed"}
            return
        yield {"message": f"Successfully tagged {image}\n", "phase": "building"}
        if self.scenario == "failure":  # repo2docker logs in just before it pushes
            yield {"message": f"Pushing image {image}\n", "phase": "pushing"}
            yield {"message": self.failure_message, "phase": "failed"}
            return
        layers = [f"{n:x}" * 12 for n in range(10, 14)]
        total = 52_400_000
        for step in range(4):
            progress: dict[str, Any] = {}
            for i, layer in enumerate(layers):
                if step == 0:
                    progress[layer] = "Preparing"
                elif i == 0:
                    progress[layer] = "Layer already exists"
                elif step == 3:
                    progress[layer] = "Pushed"
                else:
                    progress[layer] = {
                        "current": total * step // 3 // (i + 1),
                        "total": total // (i + 1),
                    }
            yield {
                "message": "Pushing image\n",
                "progress": progress,
                "layers": {layer: {"id": layer, "status": "Pushing"} for layer in layers},
                "phase": "pushing",
            }
        yield {"message": f"Successfully pushed {image}", "phase": "pushing"}

    def _launch(self, spec: str, image: str) -> Iterator[dict[str, Any] | float | _StartServer]:
        # BinderHub's launch(): the first write, then the hub is asked for a server.
        yield {"phase": "launching", "message": "Launching server...\n"}
        yield _StartServer(image, "-".join(spec.split("/")[:2]).lower())
        yield {"phase": "launching", "message": "Server requested\n"}
        url = f"http://127.0.0.1:{self.port}/user/fake-user/"
        yield {
            "phase": "ready",
            "message": f"server running at {url}\n",
            "image": image,
            "url": url,
            "token": "launch-token-not-for-display",
        }
        yield float(self.hold_after_launch)


# ---- HTTP ------------------------------------------------------------------------


class _Handler(Handler):
    server_version = "TornadoServer/6.5.2"

    def version_string(self) -> str:
        return self.server_version

    @property
    def fake(self) -> FakeBinderHub:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def handle(self) -> None:
        self._drip = 0.0
        self._written = 0
        super().handle()

    def _write(self, data: bytes) -> None:
        fast = len(data) if not self._drip else max(0, self.fake.drip_from - self._written)
        fast = min(fast, len(data))
        if fast:
            self.wfile.write(data[:fast])
            self._written += fast
        for byte in data[fast:]:
            self.wfile.write(bytes([byte]))
            self._written += 1
            if self.fake._stopping.wait(self._drip):
                raise BrokenPipeError("the server is shutting down")

    def end_headers(self) -> None:
        if self.fake.connection_close:
            self.send_header("Connection", "close")  # also ends the connection after this response
        super().end_headers()

    def flush_headers(self) -> None:
        self._write(b"".join(self._headers_buffer))  # type: ignore[attr-defined]
        self._headers_buffer = []  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        fake = self.fake
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with fake._lock:
            fake.requests.append(
                Request("GET", url.path, query, dict(self.headers.items()), time.monotonic())
            )
        if not url.path.startswith(fake.base_url):
            return self._not_found()
        rel = url.path[len(fake.base_url) :]
        self._drip, self._written = 0.0, 0
        if fake.drip and rel.partition("/")[0] in fake.drip_on:
            self._drip = fake.drip
        if rel == "versions":
            body = {
                "builder_info": {"build_image": BUILDER_IMAGE},
                "binderhub": fake.version,
                "builder": BUILDER_IMAGE,
            }
            return self._send(200, "application/json", json.dumps(body).encode(), cors=True)
        if rel == "health":
            checks = [{"service": "JupyterHub API", "ok": fake.hub_healthy}]
            status = 200 if fake.hub_healthy else 503
            body = {"ok": fake.hub_healthy, "checks": checks}
            return self._send(status, "application/json; charset=UTF-8", json.dumps(body).encode())
        match = re.fullmatch(r"build/([^/]+)/(.+)", rel)
        if match:
            return self._build(match.group(1), match.group(2), query)
        if not fake.api_only and rel == "":
            return self._send(
                200, "text/html; charset=UTF-8", b"<!DOCTYPE html><title>Binder</title>"
            )
        return self._not_found()

    # ---- plain responses --------------------------------------------------------

    def _send(self, status: int, ctype: str, body: bytes, cors: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if cors:
            self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._write(body)

    def _not_found(self) -> None:
        body = b"<html><title>404: Not Found</title><body>404: Not Found</body></html>"
        self._send(404, "text/html; charset=UTF-8", body)

    def _error_event(self, status_code: int, message: str) -> None:
        """BinderHub's send_error: status stays 200, one failed event, Content-Length."""
        event = {"phase": "failed", "status_code": status_code, "message": message + "\n"}
        body = f"data: {json.dumps(event)}\n\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Access-Control-Allow-Headers", "cache-control")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._write(body)

    # ---- the build handler --------------------------------------------------------

    def _auth_error(self) -> str | None:
        fake = self.fake
        if fake.token is None:
            return None
        match = _AUTH_HEADER.match(self.headers.get("Authorization", ""))
        token = match.group(1).strip() if match else ""
        if token == fake.token:
            return None
        if token in fake.unscoped_tokens:
            return f"user {fake.unscoped_tokens[token]} is not allowed."
        return "Forbidden"  # tornado's reason phrase for the 403 raised instead of a login redirect

    def _build(self, provider: str, spec: str, query: dict[str, str]) -> None:
        fake = self.fake
        accept = {s.strip().lower() for s in self.headers.get("Accept", "").split(";")}
        if "text/event-stream" not in accept:
            return self._error_event(400, "Missing Accept header: text/event-stream")
        auth_error = self._auth_error()
        if auth_error is not None:
            return self._error_event(403, auth_error)
        build_only = fake.knows_build_only and query.get("build_only", "").lower() == "true"
        record = Stream(self.path, build_only, time.monotonic())
        with fake._lock:
            fake.streams.append(record)
        spec = spec.rstrip("/")
        if provider not in PROVIDERS:
            return self._stream(record, iter([_fail(f"No provider found for prefix {provider}")]))
        parts = spec.split("/", 2)
        if provider == "gh" and (len(parts) < 3 or not all(parts)):
            message = f'Spec is not of the form "user/repo/ref", provided: "{spec}".'
            return self._stream(record, iter([_fail(message)]))
        if provider != "gh" or parts[0] == MISSING_ORG:
            message = (
                f"Could not resolve ref for {provider}:{spec}. "
                "Double check your URL and that your repo is public."
            )
            return self._stream(record, iter([_fail(message)]))
        if build_only and not fake.api_only:
            with fake._lock:
                record.ended = time.monotonic()
            return self._error_event(400, BUILD_ONLY_REFUSED)
        self._stream(record, fake.script(spec, build_only))

    # ---- chunked streaming --------------------------------------------------------

    def _stream(
        self, record: Stream, script: Iterator[dict[str, Any] | float | _StartServer]
    ) -> None:
        fake = self.fake
        self._write_lock = threading.Lock()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Access-Control-Allow-Headers", "cache-control")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        done = threading.Event()
        keepalive = threading.Thread(target=self._keepalive, args=(record, done), daemon=True)
        keepalive.start()
        try:
            for step in script:
                if isinstance(step, float):
                    self._pause(step)
                    continue
                if isinstance(step, _StartServer):
                    self._start_server(step)
                    continue
                if fake.end_after is not None and record.event_count >= fake.end_after:
                    break
                if fake.cut_after is not None and record.event_count >= fake.cut_after:
                    self.close_connection = True
                    return
                self._event(record, step)
            self._chunk(b"")  # the terminating chunk: BinderHub's handler returned
        except _ClientGone:
            record.closed_by_client = True
            self.close_connection = True
        finally:
            done.set()
            with fake._lock:
                record.ended = time.monotonic()

    def _start_server(self, step: _StartServer) -> None:
        fake = self.fake
        if fake.token is not None:
            user, temporary = fake.token_user, False
        else:  # launcher.unique_name_from_repo: the repository's path and a random suffix
            user, temporary = f"{step.repo}-{secrets.token_hex(4)}", True
        with fake._lock:
            fake.launches.append(Launch(user, temporary, step.image, time.monotonic()))

    def _event(self, record: Stream, event: dict[str, Any]) -> None:
        data = f"data: {json.dumps(event)}\n\n".encode()
        if self.fake.split_events and len(data) > 8:
            # Uneven pieces, each its own chunk and TCP write, so the client's reads
            # end inside "data:", inside the JSON and between the two newlines.
            cuts = [3, len(data) // 2, len(data) - 1]
            pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
            for piece in pieces:
                self._chunk(piece)
                time.sleep(0.002)
        else:
            self._chunk(data)
        record.event_count += 1
        if len(record.events) < self.fake.keep_events:
            record.events.append(event)

    def _chunk(self, data: bytes) -> None:
        frame = f"{len(data):x}\r\n".encode() + data + b"\r\n"
        try:
            with self._write_lock:
                self._write(frame)
        except (BrokenPipeError, ConnectionResetError, OSError):
            raise _ClientGone() from None

    def _pause(self, seconds: float) -> None:
        """Wait, noticing when the client closes its end (as BinderHub's on_finish does)."""
        deadline = time.monotonic() + seconds
        while not self.fake._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                # The client sends nothing after its request, so readable means it
                # closed (EOF, or a TLS close_notify, which MSG_PEEK cannot look at).
                try:
                    peek = self.connection.recv(1, socket.MSG_PEEK)
                except (OSError, ValueError):
                    peek = b""
                if not peek:
                    raise _ClientGone()
                time.sleep(min(left, 0.05))
        raise _ClientGone()  # the server is shutting down

    def _keepalive(self, record: Stream, done: threading.Event) -> None:
        while not done.wait(self.fake.keepalive_interval):
            try:
                self._chunk(b":keepalive\n\n")
            except _ClientGone:
                return
            record.keepalives += 1


FakeBinderHub.handler = _Handler


def _fail(message: str) -> dict[str, Any]:
    return {"phase": "failed", "message": message + "\n"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="success", choices=SCENARIOS)
    parser.add_argument("--log-lines", type=int, default=30)
    parser.add_argument("--event-delay", type=float, default=0.0)
    parser.add_argument("--keepalive", type=float, default=25.0)
    parser.add_argument("--ui-mode", action="store_true", help="not API-only mode")
    parser.add_argument("--base-url", default="/")
    args = parser.parse_args(argv)
    fake = FakeBinderHub(
        args.scenario,
        api_only=not args.ui_mode,
        base_url=args.base_url,
        log_lines=args.log_lines,
        event_delay=args.event_delay,
        keepalive_interval=args.keepalive,
        keep_events=0,
    ).start()
    sys.stdout.write(f"{fake.port}\n")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
