"""The steps of `bhsvc deploy`, each idempotent: read the cluster, change only what
differs, say what was done.

Pure decisions (what the Secrets hold, which helm commands run in which order,
how helm's answer reads) are kept apart from the functions that act
(`ensure_*`, `install`, `smoke_check`), which take a `Kube` and a `Helm`.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bhsvc import helm as helm_mod
from bhsvc import hub as hub_mod
from bhsvc.config import Config
from bhsvc.errors import OperationError, UsageError
from bhsvc.files import SECRET_MODE, read_values_file, write_if_changed
from bhsvc.plan import HUB_APPLIED_FILE, HUB_VALUES_FILE, values_dir
from bhsvc.values import deep_merge

if TYPE_CHECKING:
    from bhsvc.binderhub import Versions
    from bhsvc.kube import Kube

# BinderHub's port in its pod (BinderHub.port); z2jh's proxy pod serves http on 8000.
BINDERHUB_PORT = 8585
HUB_PROXY_PORT = 8000
DEFAULT_TIMEOUT = 600
# Longest wait for BinderHub's /versions after helm reports success.
SMOKE_TIMEOUT = 180.0
REGISTRY_SECRET_TYPE = "kubernetes.io/dockerconfigjson"


# ---- pure decisions ----------------------------------------------------------


def with_context(config: Config, context: str) -> Config:
    """The config acting on `context` (the one the kubeconfig resolved), so helm and
    the Python client act on the same cluster."""
    kube = config.kube.model_copy(update={"context": context})
    return config.model_copy(update={"kube": kube})


def registry_secret_data(docker_config_json: str) -> dict[str, bytes]:
    """The registry Secret's keys: `.dockerconfigjson` (its type's key, for image pulls)
    and `config.json` (the file name docker and BinderHub's build pods read)."""
    data = docker_config_json.encode()
    return {".dockerconfigjson": data, "config.json": data}


def binderhub_selector(config: Config) -> str:
    return (
        f"app.kubernetes.io/instance={config.binderhub.release},"
        "app.kubernetes.io/component=binderhub"
    )


def release_selector(release: str) -> str:
    """Every pod of a binderhub-service release (BinderHub and the container engine)."""
    return f"app.kubernetes.io/instance={release}"


def hub_proxy_selector(config: Config) -> str:
    """z2jh's proxy pod of the hub release (z2jh's own labels)."""
    return f"component=proxy,release={config.hub.release}"


@dataclass(frozen=True)
class ReleaseInfo:
    name: str
    namespace: str
    revision: int
    status: str
    chart_version: str
    app_version: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "release": self.name,
            "namespace": self.namespace,
            "revision": self.revision,
            "status": self.status,
            "chart_version": self.chart_version,
            "app_version": self.app_version,
        }


def parse_release(document: Any) -> ReleaseInfo:
    """The release `helm upgrade --output json` printed (helm 3 and 4 share the shape)."""
    if not isinstance(document, dict):
        raise OperationError("helm printed no release document")
    chart = (document.get("chart") or {}).get("metadata") or {}
    return ReleaseInfo(
        name=str(document.get("name", "")),
        namespace=str(document.get("namespace", "")),
        revision=int(document.get("version") or 0),
        status=str((document.get("info") or {}).get("status", "")),
        chart_version=str(chart.get("version", "")),
        app_version=str(chart.get("appVersion", "")),
    )


# ---- running helm ----------------------------------------------------------------


def install(helm: helm_mod.Helm, args: Sequence[str], timeout_seconds: int) -> ReleaseInfo:
    """`helm upgrade --install ... --wait` and the release it made.

    helm may wait `timeout_seconds` for the upgrade and as long again for the
    rollback after a failure; stopping it during the rollback would leave the
    release pending, so the process gets both and a margin.
    """
    process_timeout = 2 * timeout_seconds + helm_mod.GRACE_SECONDS
    out = helm_mod.run(
        helm,
        [*args, "--output", "json"],
        process_timeout,
        # Interrupted, helm rolls back, waiting up to the timeout again.
        stop_grace=timeout_seconds + helm_mod.GRACE_SECONDS,
    )
    try:
        return parse_release(json.loads(out))
    except ValueError:
        raise OperationError("helm upgrade printed something that is not JSON") from None


def releases(
    helm: helm_mod.Helm, namespace: str, context: str, names: Sequence[str]
) -> dict[str, Any]:
    """Installed releases among `names` in `namespace`: name -> helm list's entry."""
    states = ["--deployed", "--failed", "--pending"]
    args = [
        "list",
        "--namespace",
        namespace,
        "--kube-context",
        context,
        *states,
        "--output",
        "json",
    ]
    listed = json.loads(helm_mod.run(helm, args, 60) or "[]")
    return {r["name"]: r for r in listed if isinstance(r, dict) and r.get("name") in names}


def recovery_hint(release: str, namespace: str, context: str) -> str:
    """What to run when helm left `release` pending (a run was killed mid-way)."""
    where = f"--namespace {namespace} --kube-context {context}"
    return (
        f"if no other helm or bhsvc run is changing it, an earlier one was interrupted: "
        f"'helm history {release} {where}' shows its revisions, 'helm rollback {release} "
        f"{where}' restores the last good one (or 'helm uninstall' if it never installed); "
        "then run bhsvc again"
    )


def check_no_pending(helm: helm_mod.Helm, config: Config) -> None:
    """Stop before any change when helm holds a release in a pending state: another
    run is changing it, or one was killed, and the upgrade would be refused."""
    context = config.kube.context or ""
    targets = [(config.binderhub.release, config.kube.namespace)]
    if config.hub.enabled:
        targets.insert(0, (config.hub.release, config.hub_namespace))
    for release, namespace in targets:
        try:
            found = releases(helm, namespace, context, [release]).get(release) or {}
        except OperationError as err:
            raise OperationError(
                f"cannot read the helm releases in namespace {namespace}: {err}"
            ) from None
        status = str(found.get("status", ""))
        if status.startswith("pending"):
            raise OperationError(
                f"release {release} in {namespace} is {status} (since {found.get('updated')}): "
                + recovery_hint(release, namespace, context)
            )


# ---- acting on the cluster ---------------------------------------------------------


def ensure_namespaces(kube: Kube, config: Config, dry_run: bool = False) -> dict[str, str]:
    wanted = [config.kube.namespace]
    if config.hub.enabled and config.hub_namespace not in wanted:
        wanted.append(config.hub_namespace)
    return {ns: kube.ensure_namespace(ns, dry_run=dry_run) for ns in wanted}


def ensure_registry_secret(
    kube: Kube, config: Config, docker_config_json: str, dry_run: bool = False
) -> str:
    return kube.ensure_secret(
        config.kube.namespace,
        config.registry_secret_name,
        registry_secret_data(docker_config_json),
        REGISTRY_SECRET_TYPE,
        {"app.kubernetes.io/instance": config.binderhub.release},
        dry_run=dry_run,
    )


def ensure_pull_secret(
    kube: Kube, config: Config, docker_config_json: str, dry_run: bool = False
) -> str:
    """The hub's user pods pull built images with this Secret (z2jh's singleuser pullSecrets)."""
    ref = hub_mod.image_pull_secret(config)
    return kube.ensure_secret(
        ref.namespace,
        ref.name,
        {ref.key: docker_config_json.encode()},
        REGISTRY_SECRET_TYPE,
        {"app.kubernetes.io/instance": config.binderhub.release},
        dry_run=dry_run,
    )


def deployed_values(
    helm: helm_mod.Helm, release: str, namespace: str, context: str | None
) -> dict[str, Any]:
    """The release's user-supplied values, {} when it is not installed; an
    OperationError when they cannot be read (the caller decides whether to go on)."""
    args = ["get", "values", release, "--namespace", namespace]
    if context:
        args += ["--kube-context", context]
    try:
        found = helm_mod.run_json(helm, args, timeout=30)
    except OperationError as err:
        if "not found" in str(err):
            return {}
        raise OperationError(f"cannot read the values of release {release}: {err}") from None
    return found if isinstance(found, dict) else {}


def check_nothing_dropped(
    config: Config, deployed: dict[str, Any] | None, new_values: dict[str, Any]
) -> None:
    """Refuse a hub upgrade that would drop settings the release holds today.

    Settings from bhsvc's own file of the last run whose hub upgrade succeeded
    are bhsvc's to change: a new home strategy, say, removes the old one's hook.
    That file is kept apart (HUB_APPLIED_FILE) because a run that failed after
    writing its values has not applied them.
    """
    if not deployed:
        return
    kept = new_values
    applied = values_dir(config) / HUB_APPLIED_FILE
    # Before the first run that kept a record: the file of the previous run.
    previous = applied if applied.is_file() else values_dir(config) / HUB_VALUES_FILE
    if previous.is_file():
        # Unreadable: compare with the new values alone.
        with contextlib.suppress(UsageError):
            kept = deep_merge(read_values_file(previous, "bhsvc's previous values"), kept)
    dropped = hub_mod.dropped_values(deployed, kept)
    if dropped:
        shown = ", ".join(dropped[:6]) + (", ..." if len(dropped) > 6 else "")
        raise UsageError(
            f"the hub release {config.hub.release} holds values your files do not set "
            f"({shown}); an upgrade would drop them: list the files you installed the hub "
            "with in hub.values_files (or pass --hub-values), or set them in hub.values"
        )


def check_chart_values(
    config: Config,
    source: str,
    helm: helm_mod.Helm,
    chart: str,
    hub_values_in: dict[str, Any] | None,
) -> None:
    """Render BinderHub's chart offline, so settings it refuses stop a run before any
    change (exit 2) rather than in the middle of it."""
    from bhsvc import render

    render.render(config, source, helm, chart, hub_values_in)


def credentials_notes(config: Config, command: str) -> list[str]:
    """What a real run would stop at locally: push credentials it cannot read yet
    (a dry run's plan is still worth showing before `bhsvc init` wrote the key)."""
    from bhsvc.registry.credentials import load_credentials

    try:
        load_credentials(config)
    except UsageError as err:
        return [f"{command} would stop here (exit code 2): {err}"]
    return []


def record_applied_hub_values(config: Config) -> None:
    """After the hub release took them: bhsvc's hub values are what the release holds."""
    folder = values_dir(config)
    write_if_changed(folder / HUB_APPLIED_FILE, (folder / HUB_VALUES_FILE).read_text(), SECRET_MODE)


def write_values(
    config: Config,
    source: str,
    hub_values_in: dict[str, Any] | None = None,
    service: tuple[str, int] | None = None,
) -> list[Path]:
    """Write both charts' values files (no secrets in them, only Secret names)."""
    from bhsvc.render import values_files

    written = []
    for name, text in values_files(config, source, hub_values_in, service).items():
        path = values_dir(config) / name
        try:
            write_if_changed(path, text, SECRET_MODE)  # the user's own values may hold secrets
        except OSError as err:
            raise OperationError(f"{path}: cannot write the values file ({err.strerror})") from None
        written.append(path)
    return written


def copy_hub_token(kube: Kube, config: Config, hub_values_in: dict[str, Any]) -> str:
    """Copy the service's API token from the hub's Secret into BinderHub's namespace
    (a Secret can only be mounted in its own namespace). `hub_values_in`: the user's
    z2jh values, which can rename the hub's Secret."""
    source = hub_mod.token_source(config, hub_values_in)
    target = hub_mod.token_target(config, hub_values_in)
    if (source.namespace, source.name) == (target.namespace, target.name):
        return "unchanged"
    token = kube.read_secret_key(source.namespace, source.name, source.key)
    if token is None:
        raise OperationError(
            f"Secret {source.namespace}/{source.name} has no key {source.key}: the hub "
            f"chart did not generate the token of service {config.hub.service_name}"
        )
    return kube.ensure_secret(
        target.namespace,
        target.name,
        {target.key: token},
        "Opaque",
        {"app.kubernetes.io/instance": config.binderhub.release},
    )


def smoke_check(
    kube: Kube,
    namespace: str,
    selector: str,
    port: int,
    base_url: str,
    timeout: float,
    pause: float = 1.0,
) -> Versions:
    """Port-forward to the newest ready pod and GET <base_url>versions, retrying until
    `timeout` (the pod may need a moment after helm's wait)."""
    from bhsvc.binderhub import Target, get_versions
    from bhsvc.kube import port_forward

    deadline = time.monotonic() + timeout
    problem = "no attempt"
    while True:
        remaining = deadline - time.monotonic()
        errors: list[str] = []
        try:
            pod = kube.find_pod(namespace, selector)
            with port_forward(kube, namespace, pod, port, errors=errors) as local:
                target = Target(f"http://127.0.0.1:{local}{base_url}")
                return get_versions(target, max(1.0, min(10.0, remaining)))
        except OperationError as err:
            problem = f"{err}; {errors[-1]}" if errors else str(err)
        if time.monotonic() + pause >= deadline:
            raise OperationError(
                f"no answer to GET {base_url}versions within {timeout:.0f}s: {problem}"
            )
        time.sleep(pause)


@dataclass
class DiagnosisSampler:
    """Samples `Kube.diagnose` in the background while helm waits, keeping the last
    non-empty result: after a failed wait helm rolls back, and the pods that
    explain the failure are gone by the time it returns."""

    kube: Kube
    namespace: str
    selector: str
    interval: float = 3.0
    last: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="diagnosis sampler", daemon=True)

    def __enter__(self) -> DiagnosisSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(35)

    def _run(self) -> None:
        wait = min(1.0, self.interval)  # a first look early: short --timeout runs too
        while not self._stop.wait(wait):
            wait = self.interval
            lines = self.kube.diagnose(self.namespace, self.selector)
            if lines and not lines[0].startswith("could not"):
                self.last = lines

    def result(self) -> list[str]:
        """What is wrong now, or else what was wrong during the wait."""
        now = self.kube.diagnose(self.namespace, self.selector)
        if now and not now[0].startswith(("no pod matches", "could not")):
            return now
        if self.last:
            return ["while helm waited:", *(f"  {line}" for line in self.last)]
        return now
