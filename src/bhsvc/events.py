"""BinderHub's build event stream: an incremental parser and a phase tracker.

Pure code, no I/O: `EventStreamParser.feed` takes bytes exactly as they come off
the wire (events may be split across reads at any byte) and returns what it
completed; `BuildTracker.observe` turns events into phases with durations and
decides when the build has succeeded or failed. Both use constant memory however
long the log is: only the current line, the last message and the latest push
progress are kept.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bhsvc.server_text import clean

# A line longer than this is dropped rather than buffered, so a broken or hostile
# server cannot make the client grow without bound.
MAX_LINE_BYTES = 1 << 20

# Phases that end a build. "failure" is what older repo2docker versions sent.
FAILED = "failed"
UNKNOWN = "unknown"
_ALIASES = {"failure": FAILED}
# Phase names are shown and kept as they come; anything else is taken as a log line.
_KNOWN_PHASES = {"waiting", "fetching", "building", "pushing", "built", "launching", "ready"}
_PHASE = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class Keepalive:
    """A comment line (`:keepalive`): proof of life, not of progress."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "KEEPALIVE"


KEEPALIVE = Keepalive()


@dataclass(slots=True)
class Event:
    """One `data:` event. `data` is the JSON object, empty when the payload was not JSON."""

    phase: str
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def image_name(self) -> str | None:
        value = self.data.get("imageName")
        return value if isinstance(value, str) and value else None

    @property
    def status_code(self) -> int | None:
        value = self.data.get("status_code")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def progress(self) -> dict[str, Any] | None:
        value = self.data.get("progress")
        return value if isinstance(value, dict) else None


def decode_event(payload: bytes) -> Event:
    """An event from the bytes of its data lines; anything but a JSON object is a log line."""
    try:
        text = payload.decode()
    except UnicodeDecodeError:
        return Event(UNKNOWN, payload.decode("utf-8", "replace"))
    try:
        data = json.loads(text)  # str is faster to parse than bytes
    except ValueError:
        return Event(UNKNOWN, text)
    if type(data) is not dict:
        return Event(UNKNOWN, text)
    phase = data.get("phase")
    if type(phase) is not str or not phase:
        phase = UNKNOWN
    elif phase not in _KNOWN_PHASES:
        phase = phase.lower()
        phase = _ALIASES.get(phase, phase if _PHASE.fullmatch(phase) else UNKNOWN)
    message = data.get("message")
    return Event(phase, message if type(message) is str else "", data)


class EventStreamParser:
    """Incremental `text/event-stream` parser (the subset BinderHub uses, per the SSE rules).

    `data:` lines accumulate until a blank line dispatches them as one event;
    lines starting with `:` are comments (keepalives); other fields (`event:`,
    `id:`, `retry:`) are ignored. Lines end with LF or CRLF. The loop is written
    out flat because it runs once per log line of the build.
    """

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._max = max_line_bytes
        self._partial = b""
        self._overflow = False
        self._data: list[bytes] = []
        self._data_size = 0
        notice = {
            "phase": UNKNOWN,
            "message": f"(a line longer than {max_line_bytes} bytes was dropped)",
        }
        self._too_long = b"data: " + json.dumps(notice).encode()

    def feed(self, chunk: bytes) -> list[Event | Keepalive]:
        if b"\n" not in chunk:
            self._hold(chunk)
            return []
        lines = chunk.split(b"\n")
        if self._overflow:
            lines[0] = self._too_long
            self._overflow = False
        elif self._partial:
            joined = self._partial + lines[0]
            lines[0] = joined if len(joined) <= self._max else self._too_long
        self._partial = b""
        tail = lines.pop()
        out: list[Event | Keepalive] = []
        data = self._data
        for line in lines:
            if line[-1:] == b"\r":
                line = line[:-1]
            if not line:  # a blank line ends the event
                if data:
                    out.append(decode_event(data[0] if len(data) == 1 else b"\n".join(data)))
                    data = self._data = []
                    self._data_size = 0
                continue
            if line[:6] == b"data: ":
                value = line[6:]
            elif line[:1] == b":":
                out.append(KEEPALIVE)
                continue
            else:
                name, _, value = line.partition(b":")
                if name != b"data":
                    continue  # event:, id:, retry: and unknown fields carry nothing we use
                if value[:1] == b" ":
                    value = value[1:]
            self._data_size += len(value)
            if self._data_size > self._max:
                value = b"(event data too long, dropped)"
                data.clear()
                self._data_size = len(value)
            data.append(value)
        self._hold(tail)
        return out

    def _hold(self, piece: bytes) -> None:
        """Keep the start of an unfinished line, or forget it once it is too long."""
        if self._overflow:
            return
        if len(self._partial) + len(piece) > self._max:
            self._partial = b""
            self._overflow = True
        else:
            self._partial += piece


# ---- the tracker ----------------------------------------------------------


@dataclass
class PhaseSpan:
    phase: str
    start: float
    end: float | None = None

    def seconds(self, now: float) -> float:
        return (self.end if self.end is not None else now) - self.start


@dataclass(frozen=True)
class Outcome:
    ok: bool
    image: str | None = None
    cached: bool = False
    message: str = ""
    status_code: int | None = None
    verbatim: bool = False  # the message already says it all (timeouts, a broken stream)
    phase: str | None = None  # of a failure: the phase the build was in when it failed


TAIL_LINES = 20
MAX_TAIL_WIDTH = 400
MAX_MESSAGE = 1000  # the message of a failure, in the error line
MAX_KEPT = 8192  # of each log message, the end is kept (the tail shows last lines)
LAUNCHING = (
    "BinderHub answered build_only=true with 'built' and is launching a server: it "
    "ignores build_only (a BinderHub from before 2023?); upgrade BinderHub"
)

# The phases that only carry log lines: they never change the current phase.
_LOG_ONLY = {UNKNOWN}


def last_line(message: str) -> str:
    """The last non-blank line of a message, for a one-line display."""
    for line in reversed(message.replace("\r", "\n").split("\n")):
        if line.strip():
            return line.strip()
    return ""


def _without_last_line(message: str) -> str:
    """The message up to its last non-blank line."""
    last = last_line(message)
    return message[: message.rstrip().rfind(last)] if last else ""


class BuildTracker:
    """Follows the phases of one build-only build and says when it is over.

    verify always asks for `build_only=true`, so success is a `ready` event with
    `imageName`. A `built` event means BinderHub went on to launch a server
    (it ignored build_only): that is a failure, reported as such.
    """

    def __init__(self, start: float) -> None:
        self.start = start
        self.spans: list[PhaseSpan] = []
        self.last_message = ""
        self.progress: dict[str, Any] = {}
        self.events = 0
        self.keepalives = 0
        self.log_lines = 0
        self.last_activity = start
        self.outcome: Outcome | None = None
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)

    @property
    def phase(self) -> str | None:
        return self.spans[-1].phase if self.spans else None

    def observe(self, item: Event | Keepalive, now: float) -> Outcome | None:
        if isinstance(item, Keepalive):
            self.keepalives += 1
            return None
        self.events += 1
        self.last_activity = now
        if item.message:
            self.log_lines += 1
            kept = item.message[-MAX_KEPT:]
            self.last_message = kept
            if item.phase == FAILED:  # its last line becomes the error: said once, there
                kept = _without_last_line(kept)
            if kept:
                self.tail.append(kept)
        before = self.phase
        if item.phase not in _LOG_ONLY:
            self._enter(item.phase, now)
        if item.phase == "pushing" and item.progress is not None:
            self.progress = item.progress
        outcome = self._decide(item, before)
        if outcome is not None:
            self.outcome = outcome
            self.close(now)
        return outcome

    def _enter(self, phase: str, now: float) -> None:
        if self.spans and self.spans[-1].phase == phase:
            return
        if self.spans:
            self.spans[-1].end = now
        self.spans.append(PhaseSpan(phase, now))

    def _decide(self, event: Event, before: str | None) -> Outcome | None:
        if event.phase == FAILED:
            return Outcome(
                ok=False,
                message=clean(last_line(event.message), MAX_MESSAGE) or "the build failed",
                status_code=event.status_code,
                phase=before,
            )
        if event.phase == "built":
            return Outcome(ok=False, image=event.image_name, message=LAUNCHING, verbatim=True)
        image = event.image_name
        if image and event.phase == "ready":
            cached = "found built image" in event.message.lower()
            return Outcome(ok=True, image=image, cached=cached)
        return None

    def close(self, now: float) -> None:
        if self.spans and self.spans[-1].end is None:
            self.spans[-1].end = now

    def tail_lines(self) -> list[str]:
        """The last log lines, cleaned, each trimmed to one screen line's worth."""
        lines: list[str] = []
        for message in self.tail:
            for line in message.replace("\r", "\n").split("\n"):
                if line.strip():
                    lines.append(line.rstrip())
        return [clean(line, MAX_TAIL_WIDTH) for line in lines[-TAIL_LINES:]]

    def phase_durations(self, now: float) -> list[dict[str, Any]]:
        return [
            {"phase": span.phase, "seconds": round(span.seconds(now), 3)} for span in self.spans
        ]


def layer_progress(progress: dict[str, Any]) -> list[tuple[str, str]]:
    """(layer id, text) for each layer of a push progress object.

    repo2docker reports each layer either as docker's progress detail
    (`{"current": bytes, "total": bytes}`) or as a status string
    ("Preparing", "Pushed", "Layer already exists").
    """
    rows: list[tuple[str, str]] = []
    for layer, detail in progress.items():
        if isinstance(detail, dict):
            current, total = detail.get("current"), detail.get("total")
            if isinstance(current, int) and isinstance(total, int) and total > 0:
                percent = min(100, current * 100 // total)
                text = f"{percent:3d}% of {_size(total)}"
            elif isinstance(current, int):
                text = _size(current)
            else:
                text = "…"
        else:
            text = str(detail)
        rows.append((clean(str(layer), 40), clean(text, 60)))
    return rows


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


# ---- what a failure means ---------------------------------------------------


def is_build_only_refusal(outcome: Outcome) -> bool:
    """BinderHub's 400 for `build_only=true` when it is not in API-only mode."""
    text = outcome.message.lower()
    return (
        not outcome.ok
        and outcome.status_code == 400
        and ("enable_api_only_mode" in text or "not permitted" in text)
    )


def build_only_refused(hub_launches: bool) -> str:
    """What to change when BinderHub refuses build_only=true."""
    why = (
        " (hub.launch binderhub needs it off: BinderHub then starts servers for the hub, "
        "and verify cannot check it)"
        if hub_launches
        else ""
    )
    return (
        "BinderHub is not in API-only mode, so it refuses build_only=true, and verify never "
        "builds without it (BinderHub would start a server with the test image): set "
        "binderhub.api_only: true in bhsvc.yaml, or the chart value "
        f"config.BinderHub.enable_api_only_mode: true{why}"
    )


def auth_advice(token_sent: bool, service_name: str | None) -> str:
    """What to do when BinderHub (or the hub in front of it) refuses with 401/403:
    the one place this advice is worded, for HTTP answers and failed events alike."""
    scope = f"access:services!service={service_name or '<service name>'}"
    if token_sent:
        return f"the token was rejected or lacks the scope {scope}"
    return (
        f"no token was sent: pass --token or set BHSVC_TOKEN to a JupyterHub API token with {scope}"
    )


# How registries and docker word a refused login or push.
_AUTH_WORDS = ("unauthorized", "denied", "authentication", "forbidden", " 401", " 403")


def is_push_auth_failure(outcome: Outcome) -> bool:
    """A build that failed logging in to the registry or pushing to it, refused."""
    text = outcome.message.lower()
    pushing = outcome.phase == "pushing" or "push" in text or "login" in text
    return (
        not outcome.ok
        and outcome.status_code is None
        and pushing
        and any(word in f" {text}" for word in _AUTH_WORDS)
    )


def keyless_push_refused(message: str) -> str:
    """What a refused push means with Workload Identity, and what to do."""
    return (
        f"the registry refused the build's push ({message}): with registry.gar.auth "
        "workload-identity each build pushes with an access token BinderHub got from the "
        "GKE metadata server just before it started, which lives at most an hour (less when "
        "the server hands out one it cached); a build whose push starts after that fails, "
        "and starting it again gets a new token. If the build was shorter, run 'bhsvc init "
        "--non-interactive' to restore the pusher's roles (roles/artifactregistry.writer on "
        "the repository, roles/iam.workloadIdentityUser for BinderHub's ServiceAccount) and "
        "check that BinderHub's pod runs on a node with the GKE metadata server"
    )


def explain_failure(
    outcome: Outcome,
    token_sent: bool,
    service_name: str | None,
    hub_launches: bool = False,
    keyless: bool = False,
) -> str:
    """One line saying what went wrong and what to do about it. `keyless`: builds push
    with Workload Identity's short-lived tokens."""
    code, message = outcome.status_code, outcome.message.strip()
    if outcome.verbatim:
        return message
    if is_build_only_refusal(outcome):
        return build_only_refused(hub_launches)
    if keyless and is_push_auth_failure(outcome):
        return keyless_push_refused(message)
    if code in (401, 403):
        return (
            f"BinderHub refused the build ({code} {message}): "
            f"{auth_advice(token_sent, service_name)}"
        )
    if code == 400 and "accept" in message.lower():
        return (
            f"BinderHub did not see 'Accept: text/event-stream' (400 {message}): a proxy between "
            "here and BinderHub drops or rewrites the Accept header"
        )
    if code == 429:
        return f"BinderHub's rate limit stopped the build (429 {message}); try again later"
    if code is not None:
        return f"BinderHub refused the build ({code} {message})"
    return f"the build failed: {message}" if message else "the build failed"
