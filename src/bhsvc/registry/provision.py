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
from bhsvc.registry.credentials import Credentials, load_credentials, read_pull_key
from bhsvc.ui import StepResult

CREDENTIALS_STEP = "push credentials"
PULL_CREDENTIALS_STEP = "pull credentials"


@dataclass
class RegistryReport:
    provider: str
    server: str
    image_prefix: str
    username: str
    key_file: Path | None = None
    steps: list[StepResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    auth: str | None = None  # registry.gar.auth
    pull_key_file: Path | None = None  # auth key with a hub: the hub's users pull with it
    pusher: str | None = None  # the pusher service account (Artifact Registry)
    workload_identity: str | None = None  # the Kubernetes ServiceAccount acting as the pusher
    node_account: str | None = None  # who pulls on the nodes (workload-identity)

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "provider": self.provider,
            "server": self.server,
            "image_prefix": self.image_prefix,
            "username": self.username,
            "key_file": str(self.key_file) if self.key_file else None,
        }
        if self.auth is not None:
            document.update(
                auth=self.auth,
                pusher=self.pusher,
                pull_key_file=str(self.pull_key_file) if self.pull_key_file else None,
                workload_identity=self.workload_identity,
                node_service_account=self.node_account,
            )
        return document


def check_inputs(
    config: Config,
    rotate_key: bool,
    env: Mapping[str, str] | None = None,
    delete_old_keys: bool = False,
) -> None:
    """Every check that needs no network, done before the first API call (bad input: exit 2)."""
    if rotate_key and config.registry.gar is None:
        raise UsageError(
            "--rotate-key only applies to registry.provider 'gar', "
            f"not {config.registry.provider!r}"
        )
    if rotate_key and config.keyless:
        raise UsageError(
            "--rotate-key: registry.gar.auth is workload-identity, which uses no key "
            "(--delete-old-keys deletes the keys left from auth key)"
        )
    if delete_old_keys and not config.keyless:
        raise UsageError(
            "--delete-old-keys only applies with registry.gar.auth: workload-identity "
            "(with auth key, BinderHub pushes with the key)"
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
        for holder in GarTarget.from_config(config).key_holders():
            check_key_file(holder.key_file, holder.email, holder.field)


def check_key_file(path: Path, email: str, key: str = keys.KEY_FIELD) -> None:
    """Refuse a key file init could not write (by then the key would exist in Google),
    or that holds something else than a key of `email` (it is never overwritten).
    `key` is the config key that names the file."""
    # os.path answers False where Path.exists would raise (a folder that cannot be searched).
    if os.path.isdir(path):
        raise UsageError(f"{key}: {path} is a directory, not a file")
    if os.path.exists(path) and not os.path.isfile(path):
        raise UsageError(f"{key}: {path} is not a regular file")
    # The folders missing on the way are created: the nearest existing one must allow it.
    folder = path.parent
    while not os.path.exists(folder) and folder != folder.parent:
        folder = folder.parent
    if not os.path.isdir(folder):
        raise UsageError(f"{key}: {path}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{key}: {path}: cannot write in {folder}")
    keys.read_key_file_info(path, email, key)
    keyfile.check_companions(path, key)


def _check_credentials(
    name: str, load: Callable[[], Credentials], on_step: Callable[[StepResult], None]
) -> str:
    result = StepResult(name)
    start = time.monotonic()
    try:
        creds = load()
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
    delete_old_keys: bool = False,
) -> RegistryReport:
    """Ensure the registry side of `config`, reporting each step as it ends (and, with
    `on_note`, a wait); raises ProvisionError/UsageError on failure."""
    check_inputs(config, rotate_key, env, delete_old_keys)
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

        target = GarTarget.from_config(config)
        clients = make_clients(env)
        try:
            gar = GarProvisioner(
                clients, target, rotate_key, delete_old_keys, on_step=record, on_note=on_note
            )
            outcome = gar.run()
        finally:
            clients.close()
        report.warnings.extend(outcome.warnings)
        report.key_file = outcome.key_file
        report.pull_key_file = outcome.pull_key_file
        report.auth = config.registry.gar.auth
        report.pusher = target.email
        if target.keyless:
            report.workload_identity = target.workload_member
            report.node_account = outcome.node_account
            report.steps = steps
            return report  # no credentials outside the cluster to check
    report.username = _check_credentials(CREDENTIALS_STEP, lambda: load_credentials(config), record)
    if report.pull_key_file is not None:
        _check_credentials(PULL_CREDENTIALS_STEP, lambda: read_pull_key(config), record)
    report.steps = steps
    return report
