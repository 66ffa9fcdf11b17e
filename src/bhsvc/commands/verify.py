"""`bhsvc verify`: build a repository through BinderHub and say whether it was pushed.

Steps: reach BinderHub (a port-forward to its pod, or --url), read `/versions`,
stream `build/<repo>?build_only=true` and follow the phases until the image is
pushed or the build fails, then (Artifact Registry) confirm the image exists.
Every failure ends as one line that says what to do, exit code 1.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.spinner import Spinner
from rich.text import Text

from bhsvc import ui
from bhsvc.binderhub import (
    BuildStream,
    StreamTimeout,
    Target,
    get_versions,
    normalize_base_url,
    open_build_stream,
    validate_repo_spec,
    validate_token,
)
from bhsvc.config import DEFAULT_CONFIG_PATH, Config, load_config
from bhsvc.errors import OperationError, UsageError
from bhsvc.events import (
    BuildTracker,
    EventStreamParser,
    Outcome,
    explain_failure,
    is_build_only_refusal,
    last_line,
    layer_progress,
)

if TYPE_CHECKING:
    from bhsvc.kube import Kube
    from bhsvc.registry.gar_images import ImageCheck

BINDERHUB_PORT = 8585
BUILD_POD_SELECTOR = "component=binderhub-build"
REQUEST_TIMEOUT = 30.0  # one HTTP request (/versions, or the build stream's first answer)
HEARTBEAT = 30.0  # without a terminal: a progress line this often
MAX_LAYERS_SHOWN = 8
TERMINAL_PHASES = {"ready", "built", "failed"}


def binderhub_selector(release: str) -> str:
    return f"app.kubernetes.io/instance={release},app.kubernetes.io/component=binderhub"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def service_name_of(config: Config | None, base_url: str) -> str | None:
    """The JupyterHub service BinderHub runs as, for the scope a token needs."""
    if config is not None and config.hub.enabled:
        return config.hub.service_name
    match = re.search(r"/services/([^/]+)/$", base_url)
    return match.group(1) if match else None


# ---- the result -------------------------------------------------------------


@dataclass
class VerifyResult:
    repo: str
    mode: str  # "port-forward" or "url"
    target: str | None = None
    build_only: bool = True
    binderhub_version: str | None = None
    builder: str | None = None
    image: str | None = None
    cached: bool = False
    phases: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    events: int = 0
    keepalives: int = 0
    log_tail: list[str] = field(default_factory=list)
    status_code: int | None = None
    registry: dict[str, Any] | None = None
    diagnostics: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.image is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "repo": self.repo,
            "mode": self.mode,
            "target": self.target,
            "build_only": self.build_only,
            "binderhub_version": self.binderhub_version,
            "builder": self.builder,
            "image": self.image,
            "cached": self.cached,
            "phases": self.phases,
            "seconds": round(self.seconds, 3),
            "events": self.events,
            "keepalives": self.keepalives,
            "log_tail": self.log_tail,
            "status_code": self.status_code,
            "registry": self.registry,
            "diagnostics": self.diagnostics,
            "error": self.error,
            "exit_code": 0 if self.ok else OperationError.exit_code,
        }


# ---- the live view ------------------------------------------------------------


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
            from rich.live import Live

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

    def note(self, message: str) -> None:
        if self.enabled:
            self.console.print(f"[yellow]![/] {escape(message)}", soft_wrap=True)

    def update(self, now: float) -> None:
        tracker = self._tracker
        if not self.enabled or tracker is None:
            return
        if len(tracker.spans) - 1 > self._printed:
            self._print_finished(final=False)
        if not self.interactive and now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT
            phase = tracker.phase or "connecting"
            line = last_line(tracker.last_message)
            self.console.print(
                f"  … {escape(phase)} {duration(now - tracker.start)}"
                + (f": {escape(line[:160])}" if line else ""),
                soft_wrap=True,
                highlight=False,
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
            self.console.print(f"{mark} {escape(span.phase)} [dim]{duration(span.seconds(now))}[/]")
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
        line = last_line(tracker.last_message)
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


# ---- following the stream --------------------------------------------------------


@dataclass
class Deadlines:
    """The overall deadline and the idle limit (keepalives do not count as activity)."""

    timeout: float
    idle_timeout: float
    start: float

    @property
    def end(self) -> float:
        return self.start + self.timeout

    def remaining(self, now: float) -> float:
        return self.end - now


def follow(
    stream: BuildStream,
    tracker: BuildTracker,
    deadlines: Deadlines,
    view: BuildView | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Read the stream until the build succeeds or fails, or a time limit passes."""
    parser = EventStreamParser()
    observe = tracker.observe
    while True:
        now = clock()
        idle_end = tracker.last_activity + deadlines.idle_timeout
        wait = min(deadlines.end, idle_end) - now
        if wait <= 0:
            return _timed_out(tracker, deadlines, now)
        try:
            data = stream.read(wait)
        except StreamTimeout:
            continue  # the loop head says which limit passed
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


def _timed_out(tracker: BuildTracker, deadlines: Deadlines, now: float) -> Outcome:
    tracker.close(now)
    phase = f" (phase: {tracker.phase})" if tracker.phase else ""
    if now >= deadlines.end:
        message = f"the build did not finish within --timeout {deadlines.timeout:g}s{phase}"
    else:
        message = (
            f"no build events for {deadlines.idle_timeout:g}s, only keepalives{phase}; "
            "raise --idle-timeout if a build step is silent for longer"
        )
    return Outcome(ok=False, message=message, verbatim=True)


@dataclass
class Watch:
    tracker: BuildTracker
    outcome: Outcome
    build_only: bool


def watch_build(
    target: Target,
    spec: str,
    deadlines: Deadlines,
    view: BuildView | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Watch:
    """Build `spec`; with build_only first, and without it when BinderHub refuses that."""
    build_only = True
    while True:
        now = clock()
        remaining = deadlines.remaining(now)
        if remaining <= 0:
            tracker = BuildTracker(now, build_only)
            return Watch(tracker, _timed_out(tracker, deadlines, now), build_only)
        tracker = BuildTracker(now, build_only)
        wait = min(remaining, deadlines.idle_timeout, REQUEST_TIMEOUT)
        with open_build_stream(target, spec, build_only, wait) as stream:
            if view is None:
                outcome = follow(stream, tracker, deadlines, None, clock)
            else:
                with view.showing(tracker):
                    outcome = follow(stream, tracker, deadlines, view, clock)
        if build_only and is_build_only_refusal(outcome):
            if view is not None:
                view.note(
                    "BinderHub is not in API-only mode, so it cannot build without launching: "
                    "building with launch and stopping at 'built'"
                )
            build_only = False
            continue
        return Watch(tracker, outcome, build_only)


# ---- reaching BinderHub --------------------------------------------------------


@dataclass
class Forward:
    kube: Kube
    pod: str
    errors: list[str] = field(default_factory=list)  # what the API server said about the tunnel

    def explain(self, err: OperationError, wait: float = 1.0) -> OperationError:
        """An HTTP failure through the tunnel, with the tunnel's own complaint when it has one.

        The tunnel closes our connection first and reports why just after, so
        give it a moment to speak.
        """
        deadline = time.monotonic() + wait
        while not self.errors and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.errors:
            return err
        return OperationError(f"{err} ({self.errors[-1]})")


@contextmanager
def port_forward_target(
    config: Config, token: str | None, steps: ui.Steps, deadlines: Deadlines
) -> Iterator[tuple[Target, Forward]]:
    """A Target on a local port forwarded to the release's BinderHub pod."""
    from bhsvc import kube as kube_mod

    namespace = config.kube.namespace
    selector = binderhub_selector(config.binderhub.release)
    with steps.step("find the BinderHub pod") as step:
        kube = kube_mod.connect(config.kube.context)
        pod = kube.find_pod(namespace, selector)
        step.detail = f"{namespace}/{pod} in context {kube.context_name}"
    forward = Forward(kube, pod)
    # The tunnel must outlive our own idle limit: BinderHub's keepalives come every 25 s.
    with kube_mod.port_forward(
        kube, namespace, pod, BINDERHUB_PORT, deadlines.idle_timeout + 60, forward.errors
    ) as local_port:
        yield Target(f"http://127.0.0.1:{local_port}{config.binderhub_base_url}", token), forward


def _load_optional_config(path: Path | None, needed: bool) -> Config | None:
    if path is not None:
        return load_config(path)
    if DEFAULT_CONFIG_PATH.exists():
        return load_config(DEFAULT_CONFIG_PATH)
    if needed:
        raise UsageError(
            f"{DEFAULT_CONFIG_PATH}: config file not found; port-forward mode needs it "
            "(pass --config), or give BinderHub's address with --url"
        )
    return None


# ---- the command ---------------------------------------------------------------


def run(
    config_path: Path | None,
    url: str | None,
    token: str | None,
    repo: str,
    timeout: float,
    idle_timeout: float,
    output: str,
) -> None:
    # Everything the user typed is checked before any connection is made.
    spec = validate_repo_spec(repo)
    token = validate_token(token)
    if timeout <= 0 or idle_timeout <= 0:
        raise UsageError("--timeout and --idle-timeout must be more than 0 seconds")
    base_url = normalize_base_url(url) if url is not None else None
    config = _load_optional_config(config_path, needed=base_url is None)
    if config is not None and config.registry.gar is not None:
        from bhsvc.registry.endpoints import artifact_registry_endpoint

        artifact_registry_endpoint()  # a bad override is bad input: exit 2 now, not later

    quiet = output == "json"
    deadlines = Deadlines(timeout, idle_timeout, time.monotonic())
    result = VerifyResult(repo=spec, mode="url" if base_url else "port-forward")
    steps = ui.Steps(quiet=quiet)
    view = BuildView(ui.err_console, enabled=not quiet)
    try:
        _verify(result, config, base_url, token, spec, deadlines, steps, view)
    except OperationError as err:
        result.error = str(err)
    result.seconds = time.monotonic() - deadlines.start
    if quiet:
        ui.print_json(result.as_dict())
    else:
        _print_summary(result)
    if not result.ok:
        raise OperationError(result.error or "the build did not produce an image")


def _verify(
    result: VerifyResult,
    config: Config | None,
    base_url: str | None,
    token: str | None,
    spec: str,
    deadlines: Deadlines,
    steps: ui.Steps,
    view: BuildView,
) -> None:
    with ExitStack() as stack:
        forward: Forward | None = None
        if base_url is None:
            assert config is not None
            target, forward = stack.enter_context(
                port_forward_target(config, token, steps, deadlines)
            )
        else:
            target = Target(base_url, token)
        result.target = target.base_url
        try:
            with steps.step("BinderHub /versions") as step:
                wait = min(REQUEST_TIMEOUT, max(deadlines.remaining(time.monotonic()), 0.001))
                versions = get_versions(target, wait)
                result.binderhub_version = versions.binderhub
                result.builder = versions.builder
                step.detail = f"BinderHub {versions.binderhub}" + (
                    f", builder {versions.builder}" if versions.builder else ""
                )
            if not steps.quiet:
                ui.err_console.print(
                    f"building {escape(spec)} with BinderHub at {escape(target.base_url)}"
                )
            watch = watch_build(target, spec, deadlines, view)
        except OperationError as err:
            raise forward.explain(err) if forward is not None else err from None
        _record(result, watch)
        outcome = watch.outcome
        if not outcome.ok:
            result.error = explain_failure(
                outcome, token is not None, service_name_of(config, target.base_url)
            )
            if forward is not None and config is not None and outcome.status_code is None:
                result.diagnostics = _diagnose(forward.kube, config.kube.namespace)
            return
    if result.image and config is not None and config.registry.gar is not None:
        with steps.step("image in Artifact Registry") as step:
            check = _check_registry(config, result.image)
            result.registry = {"provider": "gar", **check.as_dict()}
            # Steps marks "failed" with a cross and "skipped" with a dash.
            step.status = {"missing": "failed", "not checked": "skipped"}.get(check.status, "found")
            step.detail = check.detail
        if check.status == "missing":
            result.error = check.detail
    elif result.image:
        provider = config.registry.provider if config is not None else None
        reason = "no bhsvc.yaml" if config is None else f"provider {provider} is not checked"
        result.registry = {"provider": provider, "status": "not checked", "detail": reason}


def _record(result: VerifyResult, watch: Watch) -> None:
    tracker, outcome = watch.tracker, watch.outcome
    now = time.monotonic()
    result.build_only = watch.build_only
    result.phases = tracker.phase_durations(now)
    result.events = tracker.events
    result.keepalives = tracker.keepalives
    result.status_code = outcome.status_code
    if outcome.ok:
        result.image = outcome.image
        result.cached = outcome.cached
        if result.image is None:
            result.error = "BinderHub reported success without naming the image"
    elif outcome.status_code is None:  # a refused request has no build log to show
        result.log_tail = tracker.tail_lines()


def _check_registry(config: Config, image: str) -> ImageCheck:
    from bhsvc.registry.gar_images import check_image

    return check_image(config, image)


def _diagnose(kube: Kube, namespace: str) -> list[str]:
    """Build pod status, events and log tail; never lets a diagnosis error hide the failure."""
    from bhsvc.kube.diagnosis import diagnose

    try:
        lines = diagnose(kube, namespace, BUILD_POD_SELECTOR)
    except Exception as err:  # the build failure is the news, not this
        return [f"could not read the build pods: {err}"]
    return lines or [
        f"no build pod ({BUILD_POD_SELECTOR}) in namespace {namespace} needs attention"
    ]


def _print_summary(result: VerifyResult) -> None:
    out = ui.console
    phases = ", ".join(
        f"{p['phase']} {duration(p['seconds'])}"
        for p in result.phases
        if p["phase"] not in TERMINAL_PHASES
    )
    if result.ok:
        what = "found, already built" if result.cached else "built and pushed"
        out.print(f"[green]✓[/] {what}: [bold]{escape(result.image or '')}[/]", soft_wrap=True)
    else:
        out.print(f"[red]✗[/] verify failed after {duration(result.seconds)}")
    rows = [
        ("repo", result.repo),
        (
            "binderhub",
            result.binderhub_version and f"{result.binderhub_version} at {result.target}",
        ),
        ("builder", result.builder),
        ("mode", None if result.build_only else "UI mode (not API-only): stopped at 'built'"),
        ("phases", phases),
        ("total", duration(result.seconds)),
    ]
    if result.registry:
        rows.append(("registry", f"{result.registry['status']}: {result.registry['detail']}"))
    for name, value in rows:
        if value:
            out.print(f"  [dim]{name:<10}[/] {escape(str(value))}", soft_wrap=True)
    if result.log_tail:
        out.print("  [dim]last log lines:[/]")
        for line in result.log_tail:
            out.print(f"    {escape(line)}", soft_wrap=True, highlight=False)
    if result.diagnostics:
        out.print("  [dim]build pods:[/]")
        for line in result.diagnostics:
            out.print(f"    {escape(line)}", soft_wrap=True, highlight=False)
