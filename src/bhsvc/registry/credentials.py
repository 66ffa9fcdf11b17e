"""Push credentials: read them from where the config says, turn them into a docker config.json.

The password is held in a `Credentials` whose repr hides it, so it never reaches
a log line or an exception message by accident.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

from bhsvc import private_env
from bhsvc.config import Config
from bhsvc.errors import UsageError
from bhsvc.files import SECRET_LIMIT, read_user_file, shown_path
from bhsvc.names import REGISTRY_PASSWORD_ENV
from bhsvc.text import has_surrogate

GAR_USERNAME = "_json_key"


@dataclass(frozen=True)
class Credentials:
    server: str
    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        # A variable holding bytes the locale could not decode: no encoder takes it.
        if has_surrogate(self.password):
            raise UsageError(f"the registry password for {self.server} is not UTF-8 text")


def _read_secret_file(path: Path, what: str) -> str:
    text = read_user_file(path, what, SECRET_LIMIT)
    if not text.strip():
        raise UsageError(f"{shown_path(path)}: the {what} is empty")
    return text


def read_password_file(path: Path) -> str:
    """The password or token in a password file, without the blanks around it."""
    return _read_secret_file(path, "password file").strip()


def read_key_file(path: Path) -> str:
    """A service-account key file's text, checked to be one without showing it."""
    text = _read_secret_file(path, "service-account key file")
    try:
        key = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise UsageError(f"{shown_path(path)}: the service-account key file is not JSON") from None
    if (
        not isinstance(key, dict)
        or key.get("type") != "service_account"
        or "private_key" not in key
    ):
        raise UsageError(
            f"{shown_path(path)}: not a service-account key (no type/private_key fields)"
        )
    return text


def load_credentials(config: Config) -> Credentials:
    """The push credentials the config points at (key file, password file or env var)."""
    reg = config.registry
    if config.keyless:
        raise UsageError(
            "registry.gar.auth is workload-identity: BinderHub gets short-lived push "
            "credentials in the cluster, and none exist outside it"
        )
    if reg.gar is not None:
        return Credentials(config.registry_server, GAR_USERNAME, read_key_file(config.key_file))
    if reg.password_file is not None:
        password = _read_secret_file(config.path(reg.password_file), "password file").strip()
    else:
        # Without the blanks around it, as a password file is read.
        password = (private_env.get(REGISTRY_PASSWORD_ENV) or "").strip()
    if not password:
        raise UsageError(
            f"registry.password_file is not set and {REGISTRY_PASSWORD_ENV} is empty: "
            "give the registry password or token one of these ways"
        )
    return Credentials(config.registry_server, reg.username or "", password)


def load_pull_credentials(config: Config) -> Credentials | None:
    """What the hub's users pull images with: with Artifact Registry the pull account's
    key (it may read the repository and nothing else), or None with Workload Identity
    (the nodes pull as their own service account); other registries have one set of
    credentials, the push credentials."""
    if config.keyless:
        return None
    if config.registry.gar is not None:
        return read_pull_key(config)
    return load_credentials(config)


def secret_docker_configs(config: Config) -> tuple[str | None, str | None]:
    """The docker config.json of the registry Secret and of the hub's image pull
    Secret; None where bhsvc writes no such Secret (Workload Identity; no hub)."""
    push = None if config.keyless else docker_config_json(load_credentials(config))
    pull = load_pull_credentials(config) if config.hub.enabled else None
    return push, docker_config_json(pull) if pull is not None else None


def read_pull_key(config: Config) -> Credentials:
    """The Artifact Registry pull account's key, as registry credentials."""
    path = config.pull_key_file
    if not path.exists():
        raise UsageError(
            f"registry.gar.pull_key_file: {shown_path(path)} does not exist: run "
            "'bhsvc init' (it creates the pull account's key when hub.enabled is true)"
        )
    return Credentials(config.registry_server, GAR_USERNAME, read_key_file(path))


def docker_config_json(credentials: Credentials) -> str:
    """A docker config.json granting these credentials on their server."""
    token = f"{credentials.username}:{credentials.password}".encode()
    auth = {
        "username": credentials.username,
        "password": credentials.password,
        "auth": base64.b64encode(token).decode(),
    }
    return json.dumps({"auths": {credentials.server: auth}}, sort_keys=True)
