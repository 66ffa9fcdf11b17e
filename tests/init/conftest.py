"""Fixtures for `bhsvc init` tests: the Google Cloud fakes and an in-process CLI runner."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from init_testing import CliRun, RunCli

from bhsvc import cli
from fakes.gcp_services import Gcp, serve_gcp


@pytest.fixture
def gcp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gcp]:
    with serve_gcp() as services:
        for name, value in services.env.items():
            monkeypatch.setenv(name, value)
        yield services


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BHSVC_REGISTRY_PASSWORD", raising=False)
    return tmp_path


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RunCli:
    """`bhsvc ARGS` in this process, through `cli.main` (so exit codes map as for users)."""

    def run(*args: str) -> CliRun:
        monkeypatch.setattr(sys, "argv", ["bhsvc", *args])
        try:
            cli.main()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        out, err = capsys.readouterr()
        return CliRun(code, out, err)

    return run
