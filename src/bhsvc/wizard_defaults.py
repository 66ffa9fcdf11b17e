"""Defaults for the wizard's questions, read from the user's environment.

Only local files and environment variables are read (kubeconfig, gcloud's
configuration, Application Default Credentials); nothing here makes a network
call or fails: a file that is missing, unreadable or malformed, and a value
that is not valid, just give no default.
"""

from __future__ import annotations

import configparser
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from bhsvc.config import ProjectId
from bhsvc.errors import UsageError
from bhsvc.files import DOCUMENT_LIMIT, read_user_file

_GKE_CONTEXT = re.compile(
    r"gke_(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])_(?P<location>[a-z0-9-]+)_(?P<cluster>.+)"
)
_ZONE = re.compile(r"(?P<region>[a-z]+-[a-z]+[0-9]+)-[a-z]")
# gcloud's own rule for configuration names; anything else is not a file name to open.
_GCLOUD_CONFIG_NAME = re.compile(r"[a-z][-a-z0-9]*")
_PROJECT_ID: TypeAdapter[str] = TypeAdapter(ProjectId)


@dataclass(frozen=True)
class KubeContexts:
    names: list[str] = field(default_factory=list)  # the current context first
    current: str | None = None


def _kubeconfig_paths(env: Mapping[str, str], home: Path) -> list[Path]:
    value = env.get("KUBECONFIG", "")
    if value:
        return [Path(p) for p in value.split(os.pathsep) if p]
    return [home / ".kube" / "config"]


def _read(path: Path) -> str | None:
    """A file's text by the rules of every user file (a named pipe must not hang the
    wizard); None when it cannot be read."""
    try:
        return read_user_file(path, "file", DOCUMENT_LIMIT)
    except UsageError:
        return None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(_read(path) or "")
    except (ValueError, yaml.YAMLError, RecursionError):
        # ValueError: also undecodable text and impossible dates; RecursionError: deep nesting.
        return {}
    return data if isinstance(data, dict) else {}


def kube_contexts(env: Mapping[str, str] | None = None, home: Path | None = None) -> KubeContexts:
    """Context names from the kubeconfig files, merged as kubectl does (first one wins)."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    names: list[str] = []
    current: str | None = None
    for path in _kubeconfig_paths(env, home):
        data = _read_yaml(path)
        if current is None and isinstance(data.get("current-context"), str):
            current = data["current-context"] or None
        contexts = data.get("contexts")
        for entry in contexts if isinstance(contexts, list) else []:
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and name and name not in names:
                names.append(name)
    if current in names:
        names.remove(current)
        names.insert(0, current)
    elif current is not None:
        current = None  # points at nothing: no default
    return KubeContexts(names, current)


def gke_project_and_region(context: str | None) -> tuple[str, str] | None:
    """`gke_<project>_<location>_<cluster>` -> (project, region); a zone gives its region."""
    match = _GKE_CONTEXT.fullmatch(context or "")
    if not match:
        return None
    location = match["location"]
    zone = _ZONE.fullmatch(location)
    return match["project"], zone["region"] if zone else location


def _gcloud_dir(env: Mapping[str, str], home: Path) -> Path:
    return (
        Path(env["CLOUDSDK_CONFIG"]) if env.get("CLOUDSDK_CONFIG") else home / ".config" / "gcloud"
    )


def _valid_project(value: object) -> str | None:
    """`value` if it is a project id the config accepts: a default that is refused on Enter
    would be no help."""
    try:
        return _PROJECT_ID.validate_python(value, strict=True)
    except ValidationError:
        return None


def _gcloud_config_project(config_dir: Path, env: Mapping[str, str]) -> str | None:
    name = env.get("CLOUDSDK_ACTIVE_CONFIG_NAME", "")
    if not name:
        active = config_dir / "active_config"
        # No file: gcloud's own choice; an unreadable one: the active one is unknown.
        name = (_read(active) or "").strip() if os.path.lexists(active) else "default"
    if not _GCLOUD_CONFIG_NAME.fullmatch(name):
        return None
    # Raw: gcloud does not interpolate, and a '%' must not raise.
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(_read(config_dir / "configurations" / f"config_{name}") or "")
        return _valid_project(parser.get("core", "project", fallback=None))
    except (configparser.Error, ValueError):
        return None


def _adc_project(config_dir: Path, env: Mapping[str, str]) -> str | None:
    candidates = []
    if env.get("GOOGLE_APPLICATION_CREDENTIALS"):
        candidates.append(Path(env["GOOGLE_APPLICATION_CREDENTIALS"]))
    candidates.append(config_dir / "application_default_credentials.json")
    for path in candidates:
        try:
            data = json.loads(_read(path) or "null")
        except (ValueError, RecursionError):  # not JSON, or nested too deeply
            continue
        if isinstance(data, dict):
            for key in ("quota_project_id", "project_id"):
                project = _valid_project(data.get(key))
                if project:
                    return project
    return None


def gcp_project(
    context: str | None, env: Mapping[str, str] | None = None, home: Path | None = None
) -> str | None:
    """The project to offer: the GKE cluster's own (its nodes can pull from it without
    extra grants), then the environment, gcloud's configuration, and ADC."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    gke = gke_project_and_region(context)
    if gke:
        return gke[0]
    for name in ("CLOUDSDK_CORE_PROJECT", "GOOGLE_CLOUD_PROJECT"):
        project = _valid_project(env.get(name))
        if project:
            return project
    config_dir = _gcloud_dir(env, home)
    return _gcloud_config_project(config_dir, env) or _adc_project(config_dir, env)


def gcp_region(context: str | None) -> str | None:
    gke = gke_project_and_region(context)
    return gke[1] if gke else None
