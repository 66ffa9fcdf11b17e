"""Fixtures for `bhsvc verify`: a fake BinderHub per test and an in-process CLI runner."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from verify_testing import CliResult

from bhsvc import cli
from fakes.binderhub import FakeBinderHub


@pytest.fixture
def binderhub() -> Iterator[Callable[..., FakeBinderHub]]:
    """Start fake BinderHubs (stopped at the end of the test): binderhub(scenario, **knobs)."""
    started: list[FakeBinderHub] = []

    def start(scenario: str = "success", **knobs: Any) -> FakeBinderHub:
        fake = FakeBinderHub(scenario, **knobs).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Callable[..., CliResult]:
    """Run `bhsvc <args>` in this process, in an empty directory; returns code and output."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BHSVC_TOKEN", raising=False)
    monkeypatch.delenv("BHSVC_ARTIFACT_REGISTRY_ENDPOINT", raising=False)

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["bhsvc", *args])
        code = 0
        try:
            cli.main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run
