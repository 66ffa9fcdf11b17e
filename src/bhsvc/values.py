"""Pure values generation: `Config -> dict` for both charts. No I/O here."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from bhsvc.config import Config

CHART_NAME = "binderhub-service"
HUB_CHART_REPO = "https://hub.jupyter.org/helm-chart/"
HUB_CHART_NAME = "jupyterhub"
# Where repo2docker puts the repository when home_strategy is target-repo-dir.
TARGET_REPO_DIR = "/srv/repo"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge `override` into a copy of `base` the way helm merges values files."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def binderhub_fullname(config: Config) -> str:
    """The chart's fullname helper, mirrored: the name of BinderHub's Service."""
    values = config.binderhub.values
    override = values.get("fullnameOverride")
    if override:
        return str(override)[:63].rstrip("-")
    name = str(values.get("nameOverride") or CHART_NAME)
    release = config.binderhub.release
    full = release if name in release else f"{release}-{name}"
    return full[:63].rstrip("-")


# The hub wiring lives in bhsvc.hub, which builds on the names above; it is
# imported inside the functions below to keep the import graph acyclic.


def binderhub_values(
    config: Config, hub_values_in: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Values for the binderhub-service chart. Holds no secret: only Secret names.

    `hub_values_in`: the user's own z2jh values (see `hub.merged_hub_values`),
    which can rename the hub's Services and Secret.
    """
    from bhsvc import hub

    binderhub: dict[str, Any] = {
        "use_registry": True,
        "image_prefix": config.image_prefix,
        "enable_api_only_mode": config.binderhub_api_only,
        "base_url": config.binderhub_base_url,
    }
    values: dict[str, Any] = {
        "config": {"BinderHub": binderhub},
        "buildPodsRegistryCredentials": {"existingSecret": config.registry_secret_name},
        "dockerApi": {"type": config.binderhub.builder},
    }
    existing = hub_values_in if hub_values_in is not None else config.hub.values
    values = deep_merge(values, hub.binderhub_hub_values(config, existing))
    return deep_merge(values, config.binderhub.values)


def jupyterhub_values(
    config: Config,
    hub_values_in: Mapping[str, Any] | None = None,
    service: tuple[str, int] | None = None,
) -> dict[str, Any] | None:
    """Values for the z2jh chart that wire BinderHub in, or None without a hub.

    `hub_values_in`: the user's own z2jh values; `service`: BinderHub's
    discovered Service (name, port). See `hub.z2jh_values`.
    """
    from bhsvc import hub

    if not config.hub.enabled:
        return None
    existing = hub_values_in if hub_values_in is not None else config.hub.values
    return hub.z2jh_values(config, existing, service)
