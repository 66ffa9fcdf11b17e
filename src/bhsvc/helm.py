"""The helm adapter: find or fetch a pinned helm, build argument lists, run with timeouts."""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bhsvc.errors import OperationError, UsageError
from bhsvc.files import cache_home
from bhsvc.kube.kubeconfig import check_kubeconfig_files
from bhsvc.server_text import clean

MIN_VERSION = (3, 14, 0)
PINNED_VERSION = "v4.1.4"
HELM_ENV = "BHSVC_HELM"
DOWNLOAD_URL_ENV = "BHSVC_HELM_DOWNLOAD_URL"
DOWNLOAD_SHA_ENV = "BHSVC_HELM_DOWNLOAD_SHA256"
DEFAULT_TIMEOUT = 60.0
# How long helm gets to record a release as failed after Ctrl-C or a timeout.
GRACE_SECONDS = 30.0
# helm's error, as shown: room for a schema's list of refusals, not for megabytes.
ERROR_LIMIT = 4000

# SHA-256 of the official release archives of PINNED_VERSION, per platform.
_OFFICIAL_SHA256 = {
    "linux-amd64": "70b2c30a19da4db264dfd68c8a3664e05093a361cefd89572ffb36f8abfa3d09",
    "linux-arm64": "13d03672be289045d2ff00e4e345d61de1c6f21c1257a45955a30e8ae036d8f1",
    "darwin-amd64": "abf09c8503ad1d8ef76d3737a058c3456a998aae5f5966fce4bb3031aeb1654e",
    "darwin-arm64": "7c2eca678e8001fa863cdf8cbf6ac1b3799f9404a89eb55c08260ef5732e658d",
}


@dataclass(frozen=True)
class Helm:
    path: Path
    version: tuple[int, int, int]

    @property
    def major(self) -> int:
        return self.version[0]

    @property
    def version_text(self) -> str:
        return "v" + ".".join(map(str, self.version))


@dataclass(frozen=True)
class Source:
    url: str
    sha256: str


def platform_tag() -> str:
    system = {"linux": "linux", "darwin": "darwin"}.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return f"{system}-{arch}"


def download_sources(env: dict[str, str]) -> list[Source]:
    """Where the pinned helm can be fetched from, in order of preference."""
    url = env.get(DOWNLOAD_URL_ENV)
    if url:
        sha = env.get(DOWNLOAD_SHA_ENV, "")
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise UsageError(
                f"{DOWNLOAD_URL_ENV} is set: {DOWNLOAD_SHA_ENV} must hold the file's SHA-256 "
                "(64 hex digits)"
            )
        return [Source(url, sha)]
    tag = platform_tag()
    sources = []
    if tag in _OFFICIAL_SHA256:
        sources.append(
            Source(f"https://get.helm.sh/helm-{PINNED_VERSION}-{tag}.tar.gz", _OFFICIAL_SHA256[tag])
        )
    return sources


def cache_dir(env: dict[str, str]) -> Path:
    return cache_home(env) / "helm" / PINNED_VERSION


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    if not match:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def probe(path: Path, timeout: float = 15.0) -> Helm:
    """Ask a helm binary for its version; refuse one older than MIN_VERSION."""
    version = _ask_version(path, timeout)
    if version < MIN_VERSION:
        have = ".".join(map(str, version))
        need = ".".join(map(str, MIN_VERSION))
        raise UsageError(
            f"helm {have} at {path} is too old: bhsvc needs helm {need} or newer "
            f"(pass --helm PATH or unset {HELM_ENV} to use the pinned {PINNED_VERSION})"
        )
    return Helm(path, version)


def _ask_version(path: Path, timeout: float) -> tuple[int, int, int]:
    try:
        proc = subprocess.run(
            [str(path), "version", "--template", "{{.Version}}"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise UsageError(f"helm not found at {path}") from None
    except PermissionError:
        raise UsageError(f"{path} is not executable") from None
    except subprocess.TimeoutExpired:
        raise OperationError(f"{path} version did not answer within {timeout:.0f}s") from None
    except OSError as err:
        raise UsageError(f"{path} cannot run: {err.strerror}") from None
    version = parse_version(proc.stdout)
    if proc.returncode != 0 or version is None:
        raise UsageError(f"{path} does not look like helm (version said {proc.stdout.strip()!r})")
    return version


def _extract_from_tarball(data: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.endswith("/helm"):
                extracted = archive.extractfile(member)
                if extracted is not None:
                    return extracted.read()
    raise OperationError("the helm archive holds no helm binary")


def _fetch(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data: bytes = response.read()
        return data


def download(
    sources: Sequence[Source],
    target: Path,
    timeout: float = 120.0,
    notify: Callable[[str], None] | None = None,
) -> Path:
    """Fetch helm from the first source that answers, verify its SHA-256, install it."""
    problems = []
    for source in sources:
        if notify:
            notify(f"downloading helm {PINNED_VERSION} from {source.url}")
        try:
            data = _fetch(source.url, timeout)
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            reason = getattr(err, "reason", None) or err
            problems.append(f"{source.url}: {reason}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != source.sha256:
            raise OperationError(
                f"helm download from {source.url} has SHA-256 {digest}, expected "
                f"{source.sha256}: refusing to use it"
            )
        binary = _extract_from_tarball(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target, then rename: a crash never leaves half a binary.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".helm-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(binary)
            os.chmod(tmp, 0o755)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target
    detail = "; ".join(problems) or f"no download is known for {platform_tag()}"
    raise OperationError(
        f"helm is not on PATH and could not be downloaded ({detail}); "
        f"install helm >= 3.14 or pass --helm PATH"
    )


def locate(explicit: str | None, env: dict[str, str]) -> Path | None:
    """--helm, then $BHSVC_HELM, then PATH, then the cached pinned download; None when
    it would have to be downloaded. Nothing is run or fetched."""
    chosen = explicit or env.get(HELM_ENV)
    if chosen:
        return Path(chosen)
    on_path = shutil.which("helm", path=env.get("PATH"))
    if on_path:
        return Path(on_path)
    cached = cache_dir(env) / "helm"
    return cached if cached.exists() else None


def find_helm(
    explicit: str | None = None,
    env: dict[str, str] | None = None,
    notify: Callable[[str], None] | None = None,
) -> Helm:
    """The helm `locate` names (downloaded first when missing), its version checked."""
    env = dict(os.environ) if env is None else env
    check_kubeconfig_files(None, env)  # helm reads them, even for `helm version`
    path = locate(explicit, env)
    if path is None:
        path = download(download_sources(env), cache_dir(env) / "helm", notify=notify)
    return probe(path)


# ---- running ------------------------------------------------------------


class HelmFailed(OperationError):
    """helm ran and said no (or did not finish in time)."""


def helm_error(stderr: str) -> str:
    """helm's own error, without its log lines: the text from its last 'Error:' on."""
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("level=")]
    starts = [i for i, line in enumerate(lines) if line.startswith("Error:")]
    chosen = lines[starts[-1] :] if starts else lines[-3:]
    text = " ".join(line.strip() for line in chosen).removeprefix("Error: ")
    # helm repeats what servers said (the API server, a registry): shown safely.
    return clean(text, ERROR_LIMIT) or "no output"


def _stop(process: subprocess.Popen[str], command: str, grace: float) -> None:
    """Interrupt helm the way Ctrl-C does, so it records the release as failed (or rolls
    back) instead of dying mid-way; kill it only if it does not end in time, or on a
    second Ctrl-C (which leaves the release pending)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        if grace > GRACE_SECONDS:
            sys.stderr.write(
                f"waiting up to {grace:.0f}s for helm {command} to finish (it rolls back); "
                "Ctrl-C again stops it now and leaves the release pending\n"
            )
    try:
        process.wait(grace)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        process.kill()
        process.wait()


def run(
    helm: Helm,
    args: Sequence[str],
    timeout: float = DEFAULT_TIMEOUT,
    env: dict[str, str] | None = None,
    stop_grace: float = GRACE_SECONDS,
    stdin: str | None = None,
) -> str:
    """Run helm (`stdin` is its standard input, for `--values -`) and return what it
    printed; a failure is a HelmFailed with helm's own message.

    `stop_grace`: how long helm may take to wind down after a timeout or Ctrl-C (a
    rollback waits as long as the upgrade did).
    """
    process = subprocess.Popen(
        [str(helm.path), *args],
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    command = args[0]
    try:
        stdout, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process, command, stop_grace)
        raise HelmFailed(f"helm {command} did not finish within {timeout:.0f}s") from None
    except KeyboardInterrupt:
        _stop(process, command, stop_grace)
        raise
    if process.returncode != 0:
        raise HelmFailed(f"helm {command} failed: {helm_error(stderr)}")
    return stdout


def run_json(
    helm: Helm,
    args: Sequence[str],
    timeout: float = DEFAULT_TIMEOUT,
    env: dict[str, str] | None = None,
) -> Any:
    out = run(helm, [*args, "--output", "json"], timeout=timeout, env=env)
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        raise OperationError(f"helm {args[0]} printed something that is not JSON") from None


def values_args(values_files: Sequence[Path | str]) -> list[str]:
    """`--values FILE` for each; a relative path that starts with '-' gets './' so
    that helm reads it as a file, never as a flag ('-' alone is standard input)."""
    args: list[str] = []
    for path in values_files:
        text = str(path)
        if text.startswith("-") and text != "-":
            text = f"./{text}"
        args += ["--values", text]
    return args


def template_args(
    release: str,
    chart: str,
    namespace: str,
    values_files: Sequence[Path | str],
    version: str | None = None,
) -> list[str]:
    """`helm template`; a values file "-" is read from standard input."""
    args = ["template", release, chart, "--namespace", namespace]
    if version:
        args += ["--version", version]
    return [*args, *values_args(values_files)]


# What makes `helm upgrade` roll back on failure: helm 4's flag, helm 3's.
ROLLBACK_FLAGS = ("--rollback-on-failure", "--atomic")


def upgrade_install_args(
    helm: Helm,
    release: str,
    chart: str,
    namespace: str,
    values_files: Sequence[Path],
    timeout_seconds: int = 600,
    version: str | None = None,
    kube_context: str | None = None,
    install: bool = True,
) -> list[str]:
    """`helm upgrade --install` that waits and rolls back on failure (flag per major).

    Without `install`: an upgrade of a release that must exist, to exactly the
    values files given (--reset-values: without files, helm keeps the old values).
    """
    args = ["upgrade", *(["--install"] if install else ["--reset-values"]), release, chart]
    args += ["--namespace", namespace]
    if version:
        args += ["--version", version]
    if kube_context:
        args += ["--kube-context", kube_context]
    args += values_args(values_files)
    args += ["--wait", "--timeout", f"{timeout_seconds}s"]
    args.append(ROLLBACK_FLAGS[0] if helm.major >= 4 else ROLLBACK_FLAGS[1])
    return args


def uninstall_args(
    release: str, namespace: str, timeout_seconds: int, kube_context: str | None = None
) -> list[str]:
    """`helm uninstall` that waits until the release's objects are gone, and their
    dependents first (foreground deletion: pods before their Deployment), so that
    nothing of it is left when it returns."""
    args = ["uninstall", release, "--namespace", namespace]
    if kube_context:
        args += ["--kube-context", kube_context]
    return [*args, "--wait", "--cascade", "foreground", "--timeout", f"{timeout_seconds}s"]
