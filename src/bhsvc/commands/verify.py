"""`bhsvc verify`: build a repository through BinderHub and say whether it was pushed.

Steps: reach BinderHub (a port-forward to its pod, or --url), read `/versions`,
stream `build/<repo>?build_only=true` and follow the phases until the image is
pushed or the build fails, then (Artifact Registry) confirm the image exists.
verify never sends a build request without build_only=true: BinderHub would
launch a server with the image, even if verify hung up at once. Every failure
ends as one line that says what to do, exit code 1.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape

from bhsvc import kube as kube_mod
from bhsvc import naming, ui
from bhsvc.binderhub import (
    Target,
    check_token_transport,
    get_versions,
    normalize_base_url,
    validate_token,
)
from bhsvc.build_view import TERMINAL_PHASES, BuildView, duration, say
from bhsvc.build_watch import Deadlines, Watch, watch_build
from bhsvc.config import DEFAULT_CONFIG_PATH, Config, load_config
from bhsvc.errors import OperationError, UsageError
from bhsvc.events import (
    explain_failure,
)
from bhsvc.httpio import Timeout
from bhsvc.kube import Kube
from bhsvc.kube.diagnosis import diagnose
from bhsvc.registry.credentials import load_credentials
from bhsvc.registry.endpoints import artifact_registry_endpoint
from bhsvc.registry.gar_images import check_image
from bhsvc.registry.images import (
    FOUND,
    MISSING,
    NOT_CHECKED,
    ImageCheck,
    ImageName,
    location_problem,
    parse_image,
)
from bhsvc.registry.v2_images import Login
from bhsvc.registry.v2_images import check_image as check_v2
from bhsvc.repo_spec import parse_repo

MAX_IMAGE = 300  # of a malformed image name, in the error (as a Python literal: escapes shown)
NO_CONFIG = "no bhsvc.yaml, so where the image went was not checked (pass --config)"


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
    namespace = config.kube.namespace
    selector = naming.binderhub_selector(config)
    with steps.step("find the BinderHub pod") as step:
        kube = kube_mod.connect(config.kube.context)
        pod = kube.find_pod(namespace, selector)
        step.detail = f"{namespace}/{pod} in context {kube.context_name}"
    forward = Forward(kube, pod)
    # The tunnel must outlive our own idle limit: BinderHub's keepalives come every 25 s.
    with kube_mod.port_forward(
        kube, namespace, pod, naming.BINDERHUB_PORT, deadlines.idle_timeout + 60, forward.errors
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
    token_source: str = "--token",
) -> None:
    # Everything the user typed is checked before any connection is made.
    spec = parse_repo(repo)
    token = validate_token(token, token_source)
    if timeout <= 0 or idle_timeout <= 0:
        raise UsageError("--timeout and --idle-timeout must be more than 0 seconds")
    base_url = normalize_base_url(url) if url is not None else None
    if token and base_url is not None:
        check_token_transport(base_url)
    config = _load_optional_config(config_path, needed=base_url is None)
    login = None
    if config is not None and config.registry.gar is not None:
        artifact_registry_endpoint()  # a bad override is bad input: exit 2 now, not later
    elif config is not None:
        login = _registry_login(config)  # an unreadable password file: exit 2 now

    quiet = output == "json"
    deadlines = Deadlines(timeout, idle_timeout, time.monotonic())
    result = VerifyResult(repo=spec, mode="url" if base_url else "port-forward")
    steps = ui.Steps(quiet=quiet)
    view = BuildView(ui.err_console, enabled=not quiet)
    try:
        _verify(result, config, login, base_url, token, spec, deadlines, steps, view)
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
    login: Login | None,
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
                versions = get_versions(target, deadlines.request(time.monotonic()))
                result.binderhub_version = versions.binderhub
                result.builder = versions.builder
                step.detail = f"BinderHub {versions.binderhub}" + (
                    f", builder {versions.builder}" if versions.builder else ""
                )
            if not steps.quiet:
                say(
                    ui.err_console,
                    f"building {escape(spec)} with BinderHub at {escape(target.base_url)}",
                )
            watch = watch_build(target, spec, deadlines, view)
        except Timeout as err:
            if time.monotonic() >= deadlines.end:
                raise OperationError(deadlines.overall_message("BinderHub /versions")) from None
            raise forward.explain(err) if forward is not None else err from None
        except OperationError as err:
            raise forward.explain(err) if forward is not None else err from None
        _record(result, watch)
        outcome = watch.outcome
        if not outcome.ok:
            result.error = explain_failure(
                outcome,
                token is not None,
                service_name_of(config, target.base_url),
                hub_launches=config is not None
                and config.hub.enabled
                and config.hub.launch_way == "binderhub",
                keyless=config is not None and config.keyless,
            )
            if forward is not None and config is not None and outcome.status_code is None:
                result.diagnostics = _diagnose(forward.kube, config.kube.namespace)
            return
    if result.image:
        _check_image(result, result.image, config, login, deadlines, steps)


def _check_image(
    result: VerifyResult,
    image: str,
    config: Config | None,
    login: Login | None,
    deadlines: Deadlines,
    steps: ui.Steps,
) -> None:
    """Is the image BinderHub named well-formed, where the config says, and there?"""
    name = parse_image(image)
    if name is None:
        result.image = None
        shown = repr(image) if len(image) <= MAX_IMAGE else f"{image[:MAX_IMAGE]!r}…"
        result.error = f"BinderHub named the image {shown}, which is not a valid image reference"
        return
    if config is None:
        result.registry = {"provider": None, "status": NOT_CHECKED, "detail": NO_CONFIG}
        return
    problem = location_problem(name, config.image_prefix)
    if problem is not None:
        result.image = None
        result.error = (
            f"BinderHub named the image {image}, outside the image prefix "
            f"{config.image_prefix} of the config: {problem}"
        )
        return
    provider = config.registry.provider
    gar = provider == "gar"
    with steps.step("image in Artifact Registry" if gar else "image in the registry") as step:
        check = _look_up(config, image, name, login, deadlines)
        result.registry = {"provider": provider, **check.as_dict()}
        # Steps marks "failed" with a cross and "skipped" with a dash.
        step.status = {MISSING: "failed", NOT_CHECKED: "skipped"}.get(check.status, "found")
        step.detail = check.detail
    if check.status == MISSING:
        result.error = check.detail


def _registry_login(config: Config) -> Login | None:
    """The push credentials, read as deploy reads them; None when no password is given
    (the registry may allow anonymous reads)."""
    try:
        credentials = load_credentials(config)
    except UsageError:
        if config.registry.password_file is not None:
            raise  # a password file that cannot be read is bad input
        return None
    return Login(credentials.username, credentials.password)


def _record(result: VerifyResult, watch: Watch) -> None:
    tracker, outcome = watch.tracker, watch.outcome
    now = time.monotonic()
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


def _look_up(
    config: Config, image: str, name: ImageName, login: Login | None, deadlines: Deadlines
) -> ImageCheck:
    timeout = deadlines.request(time.monotonic())
    if timeout <= 0:
        return ImageCheck(NOT_CHECKED, f"no time left within --timeout {deadlines.timeout:g}s")
    if config.registry.gar is not None:
        return check_image(config, image, timeout=timeout)
    return check_v2(name, login, time.monotonic() + timeout)


def _diagnose(kube: Kube, namespace: str) -> list[str]:
    """Build pod status, events and log tail; never lets a diagnosis error hide the failure."""
    try:
        lines = diagnose(kube, namespace, naming.BUILD_POD_SELECTOR)
    except Exception as err:  # the build failure is the news, not this
        return [f"could not read the build pods: {err}"]
    return lines or [
        f"no build pod ({naming.BUILD_POD_SELECTOR}) in namespace {namespace} needs attention"
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
        if (result.registry or {}).get("status") != FOUND:  # only BinderHub's word for it
            what = f"BinderHub says {what}"
        say(out, f"[green]✓[/] {what}: [bold]{escape(result.image or '')}[/]")
    else:
        say(out, f"[red]✗[/] verify failed after {duration(result.seconds)}")
    rows = [
        ("repo", result.repo),
        (
            "binderhub",
            result.binderhub_version and f"{result.binderhub_version} at {result.target}",
        ),
        ("builder", result.builder),
        ("phases", phases),
        ("total", duration(result.seconds)),
    ]
    if result.registry:
        rows.append(("registry", f"{result.registry['status']}: {result.registry['detail']}"))
    for name, value in rows:
        if value:
            say(out, f"  [dim]{name:<10}[/] {escape(str(value))}")
    if result.log_tail:
        say(out, "  [dim]last log lines:[/]")
        for line in result.log_tail:
            say(out, f"    {escape(line)}")
    if result.diagnostics:
        say(out, "  [dim]build pods:[/]")
        for line in result.diagnostics:
            say(out, f"    {escape(line)}")
