"""Fixtures for `bhsvc init` tests (the Google Cloud fakes and `run_cli` are shared)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BHSVC_REGISTRY_PASSWORD", raising=False)
    return tmp_path
