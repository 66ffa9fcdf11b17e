"""Fixtures for the registry tests: the Google Cloud fakes and the real clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gar_testing import QUICK, RunGar, gar_config

from bhsvc.config import Config
from bhsvc.registry.gar import GarProvisioner, GarTarget, ProvisionReport, RetryPolicy
from bhsvc.registry.gcp_clients import make_clients
from fakes.gcp_services import Gcp


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return gar_config(tmp_path)


@pytest.fixture
def run_gar(gcp: Gcp, config: Config) -> RunGar:
    """Provision `config` (or another) against the fakes with the real client libraries."""

    def run(
        cfg: Config | None = None, policy: RetryPolicy = QUICK, **kwargs: Any
    ) -> ProvisionReport:
        clients = make_clients(gcp.env)
        try:
            target = GarTarget.from_config(cfg or config)
            return GarProvisioner(clients, target, policy=policy, **kwargs).run()
        finally:
            clients.close()

    return run
