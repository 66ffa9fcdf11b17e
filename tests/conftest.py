"""Fixtures shared by every test area: the real helm binaries and the example configs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from clirun import RunCli, run_in_process
from fakes.gcp_services import Gcp, serve_gcp

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
