"""Fixtures shared by every test area: the real helm binaries, the example configs and
real OCI registries."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from clirun import RunCli, run_in_process
from fakes.gcp_services import Gcp, serve_gcp
from helm_repository import HelmRepository
from oci_registry import Registries, Registry

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _helm_path(env_var: str, fallback_on_path: bool) -> Path | None:
    chosen = os.environ.get(env_var)
    if chosen:
        return Path(chosen)
    if fallback_on_path:
        found = shutil.which("helm")
        return Path(found) if found else None
    return None


@pytest.fixture(scope="session")
def helm4_path() -> Path:
    """helm v4 (the pinned major); the test session provides it."""
    path = _helm_path("BHSVC_TEST_HELM4", fallback_on_path=True)
    if path is None:
        pytest.fail("no helm 4: run the tests through 'nox -s tests' or set BHSVC_TEST_HELM4")
    return path


@pytest.fixture(scope="session")
def helm3_path() -> Path:
    path = _helm_path("BHSVC_TEST_HELM3", fallback_on_path=False)
    if path is None:
        pytest.fail("no helm 3: run the tests through 'nox -s tests' or set BHSVC_TEST_HELM3")
    return path


@pytest.fixture(scope="session", autouse=True)
def z2jh_repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelmRepository | None]:
    """No test reaches hub.jupyter.org, nor writes to the user's cache: bhsvc fetches
    z2jh from a helm repository on loopback (BHSVC_HUB_CHART_REPO) that serves the
    stand-in z2jh charts 4.3.1 and 4.4.0 (z2jh's real schemas), into a cache of the
    session's own (XDG_CACHE_HOME). Without helm there is no repository, and the
    variable names a port where nothing answers."""
    from hub.hublib import fake_z2jh_chart

    folder = tmp_path_factory.mktemp("z2jh-repository")
    helm = _helm_path("BHSVC_TEST_HELM4", fallback_on_path=True)
    repository = HelmRepository(folder / "served", helm) if helm else None
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder / "cache"))
        patch.setenv(
            "BHSVC_HUB_CHART_REPO", repository.url if repository else "http://127.0.0.1:9/"
        )
        if repository is not None:
            for version in ("4.3.1", "4.4.0"):
                repository.add(fake_z2jh_chart(folder / "charts" / version, version))
        yield repository
    if repository is not None:
        repository.close()


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RunCli:
    """`bhsvc ARGS` in this process: the exit code and what it printed."""
    return lambda *args: run_in_process(monkeypatch, capsys, *args)


@pytest.fixture
def gcp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gcp]:
    """The local Artifact Registry and IAM fakes, with bhsvc's endpoints pointed at them."""
    with serve_gcp() as services:
        for name, value in services.env.items():
            monkeypatch.setenv(name, value)
        yield services


def _debian_tool(command: str) -> str:
    """A command from the Debian package of the same name, or skip: `nox -s tests`
    installs it when it runs as root with apt."""
    found = shutil.which(command)
    if found is None:
        pytest.skip(
            f"{command} is not installed (Debian package {command}): run the tests "
            "through 'nox -s tests' as root, or apt-get install it"
        )
    return found


@pytest.fixture(scope="session")
def oci_registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registries]:
    """Real registries (docker-registry, the CNCF distribution registry) on loopback,
    one of each kind started on first use: `.get(auth=..., tls=...)`."""
    registries = Registries(
        _debian_tool("docker-registry"), tmp_path_factory.mktemp("oci-registries")
    )
    yield registries
    registries.close()


@pytest.fixture(scope="session")
def oci_registry(oci_registries: Registries) -> Registry:
    """A registry on plain HTTP without authentication (helm needs --plain-http)."""
    return oci_registries.get()


@pytest.fixture(scope="session")
def oci_registry_tls(oci_registries: Registries) -> Registry:
    """A registry on HTTPS (certificate from `ca_file`) without authentication."""
    return oci_registries.get(tls=True)


@pytest.fixture(scope="session")
def oci_registry_auth(oci_registries: Registries) -> Registry:
    """A registry on HTTPS with htpasswd authentication (`username`, `password`)."""
    return oci_registries.get(auth=True, tls=True)


@pytest.fixture(scope="session")
def skopeo_path() -> str:
    return _debian_tool("skopeo")
