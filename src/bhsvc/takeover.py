"""Taking over a release of the 2i2c binderhub-service chart, decided (pure).

`bhsvc adopt` reads the release (its values and its manifest); here it is
decided what the bhsvc.yaml that takes it over holds, and what an upgrade to
bhsvc's chart would do to the release's objects:

- the values keep every object's name: `naming: 2i2c` (the 2i2c chart's names)
  and the overrides the release used (`nameOverride`, `fullnameOverride`) go
  into `binderhub.values`, with every other value bhsvc has no key for;
- the values bhsvc has keys for become those keys: the registry (provider,
  server, username, image prefix; Artifact Registry's project, region and
  repository), `base_url`, `api_only`;
- the push password (a service-account key or a password) leaves the values
  for a file of its own: bhsvc.yaml never holds a secret;
- values that hold credentials bhsvc cannot move (a Google key for BinderHub
  itself, a docker config for the build pods) stop the takeover, saying how.

After the takeover the push Secret (`build-pods-docker-config` in the 2i2c
names) is bhsvc's: its chart no longer makes it (`existingSecret`), and bhsvc
writes it with `helm.sh/resource-policy: keep`, so helm's upgrade leaves it in
place instead of deleting it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bhsvc.config import STATE_DIR, Config, server_host
from bhsvc.config.loading import validate
from bhsvc.config.wording import format_validation_error
from bhsvc.errors import OperationError
from bhsvc.merge import value_at
from bhsvc.registry.credentials import GAR_USERNAME

NAMING_2I2C = "2i2c"
PASSWORD_FILE = f"{STATE_DIR}/registry-password"
# Values only bhsvc's chart knows: a release that has them runs it already.
BHSVC_CHART_KEYS = (("naming",), ("dockerApi", "type"), ("hubIntegration",))
# Values holding credentials that bhsvc.yaml cannot hold and bhsvc cannot move,
# and what to do about each.
UNMOVABLE: dict[tuple[str, ...], str] = {
    ("extraCredentials", "googleServiceAccountKey"): (
        "put the key into a Secret of your own, mount it with extraVolumes and "
        "extraVolumeMounts, point GOOGLE_APPLICATION_CREDENTIALS at it with extraEnv"
    ),
    ("buildPodsDockerConfig",): (
        "bhsvc writes the build pods' docker config from the registry settings alone; "
        "remove it (or move its entries into a registry bhsvc pushes to)"
    ),
    ("config", "DockerRegistry", "password"): (
        "bhsvc gives BinderHub the push credentials itself; remove it"
    ),
}


class CannotAdopt(OperationError):
    """The release cannot be taken over as it is: the message says why and how."""


@dataclass(frozen=True)
class SecretFile:
    """The push password, moved out of the values into a file next to bhsvc.yaml."""

    path: str  # relative to the config's folder
    what: str  # what it holds, for messages (never the content)
    text: str = field(repr=False)


@dataclass
class Takeover:
    """What adopt writes, and what it tells."""

    document: dict[str, Any]  # bhsvc.yaml
    secret: SecretFile
    mapped: list[tuple[str, str]] = field(default_factory=list)  # (2i2c value, bhsvc key)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (2i2c value, why)
    notes: list[str] = field(default_factory=list)

    @property
    def carried(self) -> list[str]:
        """The values kept in binderhub.values, by their top-level key."""
        return sorted(self.document["binderhub"]["values"])


def _pop(values: dict[str, Any], *path: str) -> Any:
    """Remove a value (and the mappings it leaves empty); what it was, or None."""
    *parents, leaf = path
    node: Any = values
    trail = []
    for part in parents:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            return None
        trail.append((node, part))
        node = node[part]
    value = node.pop(leaf, None) if isinstance(node, dict) else None
    for parent, part in reversed(trail):
        if parent[part]:
            break
        del parent[part]
    return value


def check_adoptable(values: Mapping[str, Any]) -> None:
    """Refuse values that bhsvc's chart wrote already, or that hold credentials bhsvc
    cannot carry over."""
    ours = [".".join(path) for path in BHSVC_CHART_KEYS if value_at(values, path) is not None]
    if ours or value_at(values, ("buildPodsRegistryCredentials", "existingSecret")):
        raise CannotAdopt(
            "the release runs bhsvc's binderhub-service chart already (its values set "
            f"{', '.join(ours) or 'buildPodsRegistryCredentials.existingSecret'}): there is "
            "nothing to take over; write its bhsvc.yaml by hand"
        )
    for path, way_out in UNMOVABLE.items():
        if value_at(values, path):
            raise CannotAdopt(
                f"the release's value {'.'.join(path)} holds credentials that bhsvc.yaml "
                f"cannot hold: {way_out}; upgrade the release without it (helm upgrade "
                "--reuse-values --set ...=null), then run bhsvc adopt again"
            )


def plan_takeover(values: Mapping[str, Any], release: str, namespace: str) -> Takeover:
    """bhsvc.yaml for the release, from the values it was given (`helm get values`)."""
    check_adoptable(values)
    rest: dict[str, Any] = copy.deepcopy(dict(values))
    credentials = _pop(rest, "buildPodsRegistryCredentials") or {}
    prefix = _pop(rest, "config", "BinderHub", "image_prefix")
    use_registry = _pop(rest, "config", "BinderHub", "use_registry")
    api_only = _pop(rest, "config", "BinderHub", "enable_api_only_mode")
    base_url = _pop(rest, "config", "BinderHub", "base_url")
    if not prefix:
        raise CannotAdopt(
            "the release has no config.BinderHub.image_prefix: its BinderHub pushes no "
            "images, and bhsvc runs BinderHub to push them"
        )
    registry, secret, mapped = _registry(
        credentials if isinstance(credentials, dict) else {}, str(prefix)
    )
    # Kept as it is (even where bhsvc's default differs): built images keep their names.
    registry["image_prefix"] = str(prefix)
    gar = " (and registry.gar.repository)" if registry["provider"] == "gar" else ""
    mapped.append(("config.BinderHub.image_prefix", f"registry.image_prefix{gar}"))
    binderhub: dict[str, Any] = {"release": release}
    if base_url not in (None, ""):
        binderhub["base_url"] = str(base_url).rstrip("/") + "/"  # the chart adds it too
        mapped.append(("config.BinderHub.base_url", "binderhub.base_url"))
    if api_only is not None:
        binderhub["api_only"] = bool(api_only)
        mapped.append(("config.BinderHub.enable_api_only_mode", "binderhub.api_only"))
    # Every object keeps the 2i2c chart's name; nameOverride and fullnameOverride,
    # when the release set them, stay with the other values.
    binderhub["values"] = {"naming": NAMING_2I2C, **rest}
    dropped = []
    if use_registry is not None:
        dropped.append(("config.BinderHub.use_registry", "bhsvc's BinderHub always pushes"))
    document = {"version": 1, "kube": {"namespace": namespace}, "binderhub": binderhub}
    takeover = Takeover({**document, "registry": registry}, secret, mapped, dropped)
    if binderhub.get("base_url", "").startswith("/services/"):
        takeover.notes.append(
            f"BinderHub serves under {binderhub['base_url']}, as a JupyterHub service: the "
            "hub's service URL keeps reaching it (the Service keeps its name); hub.enabled "
            "stays false, so bhsvc leaves the hub's release alone (see connect-hub to let "
            "bhsvc wire the two)"
        )
    takeover.notes.append(
        "until bhsvc's chart is deployed once, bhsvc deploy upgrades the release without "
        "rollback on failure (helm before 4.2 cannot roll back to the 2i2c revision): a "
        "failed run leaves every object in place, to run again"
    )
    config_of(takeover.document)  # refused here, not by the first deploy
    return takeover


def _registry(
    credentials: Mapping[str, Any], prefix: str
) -> tuple[dict[str, Any], SecretFile, list[tuple[str, str]]]:
    """The registry section, the password's file, and what was mapped to what."""
    server = str(credentials.get("server") or "")
    username = str(credentials.get("username") or "")
    password = credentials.get("password")
    if not (server and username and isinstance(password, str) and password.strip()):
        raise CannotAdopt(
            "the release has no complete buildPodsRegistryCredentials (server, username "
            "and password): bhsvc pushes with credentials; set them on the release first"
        )
    key = _service_account_key(password) if username == GAR_USERNAME else None
    gar = _artifact_registry(server, key, prefix)
    if gar is not None:
        account = gar["service_account"]
        secret = SecretFile(
            f"{STATE_DIR}/{account}-key.json", "the pusher's service-account key", password
        )
        mapped = [
            ("buildPodsRegistryCredentials.server", "registry.provider gar, registry.gar.region"),
            ("buildPodsRegistryCredentials.username", "registry.provider gar (_json_key)"),
            (
                "buildPodsRegistryCredentials.password",
                "registry.gar.project and service_account (the key's client_email); the key "
                "itself in the default registry.gar.key_file",
            ),
        ]
        return {"provider": "gar", "gar": gar}, secret, mapped
    host = server_host(server) or ""
    provider = {"docker.io": "dockerhub", "ghcr.io": "ghcr", "quay.io": "quay"}.get(host, "generic")
    registry: dict[str, Any] = {"provider": provider, "username": username}
    mapped = [("buildPodsRegistryCredentials.username", "registry.username")]
    if provider == "generic":
        registry["server"] = server
        mapped.insert(0, ("buildPodsRegistryCredentials.server", "registry.server"))
    else:
        mapped.insert(0, ("buildPodsRegistryCredentials.server", f"registry.provider {provider}"))
    registry["password_file"] = PASSWORD_FILE
    mapped.append(("buildPodsRegistryCredentials.password", "registry.password_file"))
    what = "the registry password" if key is None else "the registry password (a JSON key)"
    return registry, SecretFile(PASSWORD_FILE, what, password.strip() + "\n"), mapped


def _service_account_key(password: str) -> dict[str, Any] | None:
    try:
        key = json.loads(password)
    except ValueError:
        return None
    if isinstance(key, dict) and key.get("type") == "service_account" and key.get("private_key"):
        return key
    return None


def _artifact_registry(
    server: str, key: Mapping[str, Any] | None, prefix: str
) -> dict[str, Any] | None:
    """The `gar` section for a push to Artifact Registry with a key of a service account
    of the repository's project (what `bhsvc init` would have made); None otherwise,
    and the registry is a generic one."""
    region = re.fullmatch(r"([a-z0-9-]+)-docker\.pkg\.dev", server_host(server) or "")
    email = str((key or {}).get("client_email", ""))
    account = re.fullmatch(r"([a-z][-a-z0-9]{4,28}[a-z0-9])@([a-z][-a-z0-9]{4,28}[a-z0-9])"
                           r"\.iam\.gserviceaccount\.com", email)  # fmt: skip
    if region is None or account is None:
        return None
    host = f"{region.group(1)}-docker.pkg.dev"
    repository = re.match(
        rf"{re.escape(host)}/{re.escape(account.group(2))}/([a-z]([a-z0-9-]*[a-z0-9])?)/", prefix
    )
    if repository is None:
        return None
    return {
        "project": account.group(2),
        "region": region.group(1),
        "repository": repository.group(1),
        "service_account": account.group(1),
    }


def config_of(document: Mapping[str, Any], base_dir: Path = Path(".")) -> Config:
    """The document as bhsvc reads it (relative paths against `base_dir`); refused, a
    CannotAdopt naming the keys."""
    try:
        return validate(document, base_dir)
    except ValidationError as err:
        refused = format_validation_error(err, "the bhsvc.yaml made from the release's values")
        raise CannotAdopt(" ".join(refused.split())) from None


# ---- what an upgrade does to the release's objects --------------------------------------

# Fields Kubernetes refuses to change (the object would have to be deleted and made
# again), and fields that route to the pods.
_IMMUTABLE = {
    "Deployment": ("spec", "selector"),
    "DaemonSet": ("spec", "selector"),
    "StatefulSet": ("spec", "selector"),
}


@dataclass
class ObjectChanges:
    kept: list[str] = field(default_factory=list)  # same kind and name, in both
    added: list[str] = field(default_factory=list)  # made by bhsvc's chart only
    taken: list[str] = field(default_factory=list)  # bhsvc writes them itself from now on
    lost: list[str] = field(default_factory=list)  # the upgrade would delete them
    problems: list[str] = field(default_factory=list)  # what would break in place


def _key(doc: Mapping[str, Any]) -> tuple[str, str]:
    return str(doc.get("kind")), str((doc.get("metadata") or {}).get("name"))


def _named(key: tuple[str, str]) -> str:
    return f"{key[0]} {key[1]}"


def _is_hook(doc: Mapping[str, Any]) -> bool:
    return "helm.sh/hook" in ((doc.get("metadata") or {}).get("annotations") or {})


def _ports(service: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """A Service's ports as what reaches them: name, port, target (protocol TCP)."""
    ports = (service.get("spec") or {}).get("ports") or []
    return sorted((str(p.get("name")), str(p.get("port")), str(p.get("targetPort"))) for p in ports)


def compare_objects(
    deployed: Iterable[Mapping[str, Any]],
    rendered: Iterable[Mapping[str, Any]],
    taken: Iterable[tuple[str, str]] = (),
) -> ObjectChanges:
    """What `helm upgrade` from the `deployed` manifest to the `rendered` one does to
    each object (hooks aside: helm runs them, they are no part of a release)."""
    old = {_key(doc): doc for doc in deployed if doc and not _is_hook(doc)}
    new = {_key(doc): doc for doc in rendered if doc and not _is_hook(doc)}
    bhsvcs = set(taken)
    changes = ObjectChanges()
    for key in sorted(old.keys() - new.keys()):
        (changes.taken if key in bhsvcs else changes.lost).append(_named(key))
    changes.added = [_named(key) for key in sorted(new.keys() - old.keys())]
    for key in sorted(old.keys() & new.keys()):
        changes.kept.append(_named(key))
        before, after = old[key], new[key]
        path = _IMMUTABLE.get(key[0])
        if path and value_at(before, path) != value_at(after, path):
            changes.problems.append(f"{_named(key)}: its {'.'.join(path)} would change")
        if key[0] == "Secret" and before.get("type", "Opaque") != after.get("type", "Opaque"):
            changes.problems.append(f"{_named(key)}: its type would change")
        if key[0] == "Service" and (
            value_at(before, ("spec", "selector")) != value_at(after, ("spec", "selector"))
            or _ports(before) != _ports(after)
        ):
            changes.problems.append(
                f"{_named(key)}: its selector or ports would change, and what reaches it "
                "(the hub's service URL) would stop answering"
            )
    return changes
