"""Following a build's event stream to its end, within the command's deadlines."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bhsvc.binderhub import BuildStream, Target, open_build_stream
from bhsvc.build_view import BuildView
from bhsvc.errors import OperationError
from bhsvc.events import BuildTracker, EventStreamParser, Outcome
from bhsvc.httpio import Timeout

REQUEST_TIMEOUT = 30.0  # one request: /versions, the registry check


@dataclass
class Deadlines:
    """--timeout bounds the whole command; --idle-timeout the gap between build events
    (keepalives do not count as events). Deadlines are time.monotonic() values."""

    timeout: float
    idle_timeout: float
    start: float

    @property
    def end(self) -> float:
        return self.start + self.timeout

    def remaining(self, now: float) -> float:
        return self.end - now

    def request(self, now: float, limit: float = REQUEST_TIMEOUT) -> float:
        """Seconds one request may take: `limit`, or less when the run ends sooner."""
        return min(self.end - now, limit)

    def overall_message(self, doing: str) -> str:
        return f"verify did not finish within --timeout {self.timeout:g}s ({doing})"


def follow(
    stream: BuildStream,
    tracker: BuildTracker,
    deadlines: Deadlines,
    view: BuildView | None = None,
) -> Outcome:
    """Read the stream until the build succeeds or fails, or a time limit passes."""
    parser = EventStreamParser()
    observe = tracker.observe
    clock = time.monotonic
    while True:
        idle_end = tracker.last_activity + deadlines.idle_timeout
        try:
            data = stream.read(min(deadlines.end, idle_end))
        except Timeout:
            return _timed_out(tracker, deadlines, idle=idle_end < deadlines.end)
        except OperationError as err:
            # A broken stream is a failed build like any other: what arrived so far
            # (phases, log tail) and the build pods' diagnosis are still reported.
            tracker.close(clock())
            phase = f" (last phase: {tracker.phase})" if tracker.phase else ""
            return Outcome(ok=False, message=f"{err}{phase}", verbatim=True)
        now = clock()
        if not data:
            tracker.close(now)
            return Outcome(
                ok=False,
                message="BinderHub ended the build stream before the build finished"
                + (f" (last phase: {tracker.phase})" if tracker.phase else ""),
                verbatim=True,
            )
        for item in parser.feed(data):
            outcome = observe(item, now)
            if outcome is not None:
                if view is not None:
                    view.update(now)
                return outcome
        if view is not None:
            view.update(now)


def _timed_out(tracker: BuildTracker, deadlines: Deadlines, idle: bool) -> Outcome:
    tracker.close(time.monotonic())
    phase = f" (phase: {tracker.phase})" if tracker.phase else ""
    if not idle:
        message = f"the build did not finish within --timeout {deadlines.timeout:g}s{phase}"
    else:
        message = (
            f"no build event for {deadlines.idle_timeout:g}s (keepalives do not count){phase}; "
            "raise --idle-timeout if a build step is silent for longer"
        )
    return Outcome(ok=False, message=message, verbatim=True)


@dataclass
class Watch:
    tracker: BuildTracker
    outcome: Outcome


def watch_build(
    target: Target,
    spec: str,
    deadlines: Deadlines,
    view: BuildView | None = None,
) -> Watch:
    """Build `spec` with build_only=true (never anything that would launch a server)."""
    now = time.monotonic()
    tracker = BuildTracker(now)
    # Until BinderHub's first event arrives, the idle limit applies as between events.
    idle_end = now + deadlines.idle_timeout
    try:
        stream = open_build_stream(target, spec, min(deadlines.end, idle_end))
    except Timeout:
        return Watch(tracker, _timed_out(tracker, deadlines, idle_end < deadlines.end))
    with stream:
        if view is None:
            return Watch(tracker, follow(stream, tracker, deadlines, None))
        with view.showing(tracker):
            return Watch(tracker, follow(stream, tracker, deadlines, view))
