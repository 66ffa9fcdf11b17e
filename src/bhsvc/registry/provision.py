"""Provision the registry a config describes, whatever the provider.

Google Artifact Registry is created and wired up; for the other providers the
registry exists already and only the push credentials are checked.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bhsvc.config import Config
from bhsvc.errors import UsageError
from bhsvc.registry import keyfile, keys
from bhsvc.registry.credentials import load_credentials
from bhsvc.ui import StepResult

CREDENTIALS_STEP = "push credentials"


@dataclass
class RegistryReport:
    provider: str
    server: str
    image_prefix: str
    username: str
    key_file: Path | None = None
    steps: list[StepResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "server": self.server,
            "image_prefix": self.image_prefix,
            "username": self.username,
            "key_file": str(self.key_file) if self.key_file else None,
        }


def check_inputs(config: Config, rotate_key: bool, env: Mapping[str, str] | None = None) -> None:
    """Every check that needs no network, done before the first API call (bad input: exit 2)."""
    if rotate_key and config.registry.gar is None:
        raise UsageError(
            "--rotate-key only applies to registry.provider 'gar', "
            f"not {config.registry.provider!r}"
        )
    if config.registry.gar is not None:
        from bhsvc.registry.gar import GarTarget
        from bhsvc.registry.gcp_clients import (
            check_credentials_file,
            needs_credentials,
            resolve_endpoints,
        )

        if any(needs_credentials(endpoint) for endpoint in resolve_endpoints(env)):
            check_credentials_file(env)
        check_key_file(config.key_file, GarTarget.from_config(config).email)


def check_key_file(path: Path, email: str) -> None:
    """Refuse a key file init could not write (by then the key would exist in Google),
    or that holds something else than a key of `email` (it is never overwritten)."""
    # os.path answers False where Path.exists would raise (a folder that cannot be searched).
    if os.path.isdir(path):
        raise UsageError(f"registry.gar.key_file: {path} is a directory, not a file")
    if os.path.exists(path) and not os.path.isfile(path):
        raise UsageError(f"registry.gar.key_file: {path} is not a regular file")
    # The folders missing on the way are created: the nearest existing one must allow it.
    folder = path.parent
    while not os.path.exists(folder) and folder != folder.parent:
        folder = folder.parent
    if not os.path.isdir(folder):
        raise UsageError(f"registry.gar.key_file: {path}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"registry.gar.key_file: {path}: cannot write in {folder}")
    keys.read_key_file_info(path, email)
    keyfile.check_companions(path)


def _check_credentials(config: Config, on_step: Callable[[StepResult], None]) -> str:
    result = StepResult(CREDENTIALS_STEP)
    start = time.monotonic()
    try:
        creds = load_credentials(config)
        result.status = "readable"
        result.detail = f"user {creds.username} for {creds.server}"
        return creds.username
    except BaseException:
        result.status = "failed"
        raise
    finally:
        result.seconds = time.monotonic() - start
        on_step(result)


def provision_registry(
    config: Config,
    rotate_key: bool = False,
    on_step: Callable[[StepResult], None] = lambda result: None,
    env: Mapping[str, str] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> RegistryReport:
    """Ensure the registry side of `config`, reporting each step as it ends (and, with
    `on_note`, a wait); raises ProvisionError/UsageError on failure."""
    check_inputs(config, rotate_key, env)
    report = RegistryReport(
        provider=config.registry.provider,
        server=config.registry_server,
        image_prefix=config.image_prefix,
        username=config.registry.username or "",
    )
    steps: list[StepResult] = []

    def record(result: StepResult) -> None:
        steps.append(result)
        on_step(result)

    if config.registry.gar is not None:
        from bhsvc.registry.gar import GarProvisioner, GarTarget
        from bhsvc.registry.gcp_clients import make_clients

        clients = make_clients(env)
        try:
            target = GarTarget.from_config(config)
            gar = GarProvisioner(clients, target, rotate_key, on_step=record, on_note=on_note)
            outcome = gar.run()
        finally:
            clients.close()
        report.warnings.extend(outcome.warnings)
        report.key_file = outcome.key_file
    report.username = _check_credentials(config, record)
    report.steps = steps
    return report
