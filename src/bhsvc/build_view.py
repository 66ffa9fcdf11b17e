"""How verify shows a build as it happens: phases with their times, the pushing
layers, and without a terminal a heartbeat line; never wrapped."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.text import Text

from bhsvc.events import BuildTracker, last_line, layer_progress
from bhsvc.server_text import clean

HEARTBEAT = 30.0  # without a terminal: a progress line this often
MAX_LAYERS_SHOWN = 8
TERMINAL_PHASES = {"ready", "built", "failed"}


def say(console: Console, markup: str) -> None:
    """One line as it is: specs, URLs and image names are copied from here, so never
    wrapped (a console without a terminal wraps at 80 columns) nor highlighted."""
    console.print(markup, soft_wrap=True, highlight=False)


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class BuildView:
    """Shows the build while it runs: phase, elapsed time, last log line, push layers.

    On a terminal a rich Live display redraws a few times a second from the
    tracker's current state (the reader only updates plain fields, so a fast
    stream costs no rendering). Elsewhere (CI logs) it prints a line per phase
    and a heartbeat line every HEARTBEAT seconds.
    """

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self.interactive = enabled and console.is_terminal
        self._tracker: BuildTracker | None = None
        self._printed = 0
        self._next_heartbeat = 0.0
        self._live: Any = None
        self._spinner = Spinner("dots")  # one instance, so it animates from frame to frame
        self._clock: Callable[[], float] = time.monotonic

    @contextmanager
    def showing(self, tracker: BuildTracker) -> Iterator[None]:
        self._tracker = tracker
        self._printed = 0
        self._next_heartbeat = tracker.start + HEARTBEAT
        if self.interactive:
            self._live = Live(
                get_renderable=self._render,
                console=self.console,
                refresh_per_second=4,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        try:
            yield
        finally:
            if self._live is not None:
                self._live.stop()
                self._live = None
            self._print_finished(final=True)

    def update(self, now: float) -> None:
        tracker = self._tracker
        if not self.enabled or tracker is None:
            return
        if len(tracker.spans) - 1 > self._printed:
            self._print_finished(final=False)
        if not self.interactive and now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT
            phase = tracker.phase or "connecting"
            line = clean(last_line(tracker.last_message), 160)
            say(
                self.console,
                f"  … {escape(phase)} {duration(now - tracker.start)}"
                + (f": {escape(line)}" if line else ""),
            )

    def _print_finished(self, final: bool) -> None:
        tracker = self._tracker
        if not self.enabled or tracker is None:
            return
        spans = tracker.spans if final else tracker.spans[:-1]
        now = self._clock()
        for span in spans[self._printed :]:
            if span.phase in TERMINAL_PHASES:
                continue
            mark = (
                "[red]✗[/]"
                if final and span is tracker.spans[-1] and not _ok(tracker)
                else "[green]✓[/]"
            )
            say(self.console, f"{mark} {escape(span.phase)} [dim]{duration(span.seconds(now))}[/]")
        self._printed = len(spans)

    def _render(self) -> RenderableType:
        tracker = self._tracker
        if tracker is None:
            return Text("")
        now = self._clock()
        span = tracker.spans[-1] if tracker.spans else None
        phase = span.phase if span else "connecting"
        in_phase = duration(span.seconds(now)) if span else ""
        head = Text.assemble(
            (phase, "bold"),
            " ",
            (in_phase, "cyan"),
            ("  total " + duration(now - tracker.start), "dim"),
        )
        self._spinner.update(text=head)
        parts: list[RenderableType] = [self._spinner]
        line = clean(last_line(tracker.last_message), 500)
        if line:
            parts.append(Text("  " + line, style="dim", no_wrap=True, overflow="ellipsis"))
        if phase == "pushing" and tracker.progress:
            rows = layer_progress(tracker.progress)
            for layer, text in rows[:MAX_LAYERS_SHOWN]:
                parts.append(Text(f"    {layer[:12]:<12}  {text}", no_wrap=True))
            if len(rows) > MAX_LAYERS_SHOWN:
                parts.append(
                    Text(f"    … and {len(rows) - MAX_LAYERS_SHOWN} more layers", style="dim")
                )
        return Group(*parts)


def _ok(tracker: BuildTracker) -> bool:
    return tracker.outcome is not None and tracker.outcome.ok
