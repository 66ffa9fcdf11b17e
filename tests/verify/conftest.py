"""Fixtures for `bhsvc verify`: fake BinderHubs and registries per test, and an in-process
CLI runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from verify_fixtures import PASSWORD, USER

from clirun import RunCli
from fakes.binderhub import FakeBinderHub
from fakes.registry_v2 import FakeRegistry


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
def registry() -> Iterator[Callable[..., FakeRegistry]]:
    """Start fake v2 registries (stopped at the end of the test); user USER may log in."""
    started: list[FakeRegistry] = []

    def start(**knobs: Any) -> FakeRegistry:
        knobs.setdefault("users", {USER: PASSWORD})
        fake = FakeRegistry(**knobs).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


@pytest.fixture
def run_cli(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> RunCli:
    """The shared in-process runner, in an empty directory, with no token or endpoint set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BHSVC_TOKEN", raising=False)
    monkeypatch.delenv("BHSVC_ARTIFACT_REGISTRY_ENDPOINT", raising=False)
    monkeypatch.delenv("BHSVC_REGISTRY_PASSWORD", raising=False)
    return run_cli
