"""Pure values generation: `Config -> dict` for both charts. No I/O here."""

from __future__ import annotations

import copy
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


def binderhub_service_url(config: Config) -> str:
    """In-cluster URL of BinderHub's Service, as the hub's proxy reaches it."""
    port = config.binderhub.values.get("service", {}).get("port", 80)
    return f"http://{binderhub_fullname(config)}.{config.kube.namespace}:{port}"


def hub_api_url(config: Config) -> str:
    """The hub's API as seen from BinderHub's pod (z2jh names the Service `hub`)."""
    return f"http://hub.{config.hub_namespace}:8081/hub/api/"


def hub_token_secret(config: Config) -> tuple[str, str]:
    """Secret name and key where z2jh keeps the service's generated API token."""
    return "hub", f"hub.services.{config.hub.service_name}.apiToken"


def binderhub_values(config: Config) -> dict[str, Any]:
    """Values for the binderhub-service chart. Holds no secret: only Secret names."""
    binderhub: dict[str, Any] = {
        "use_registry": True,
        "image_prefix": config.image_prefix,
        "enable_api_only_mode": config.binderhub.api_only,
        "base_url": config.binderhub_base_url,
    }
    values: dict[str, Any] = {
        "config": {"BinderHub": binderhub},
        "buildPodsRegistryCredentials": {"existingSecret": config.registry_secret_name},
        "dockerApi": {"type": config.binderhub.builder},
    }
    hub = config.hub
    if hub.enabled:
        secret, key = hub_token_secret(config)
        values["hubIntegration"] = {
            "enabled": True,
            "auth": hub.auth,
            "serviceName": hub.service_name,
            "apiUrl": hub_api_url(config),
            "apiToken": {"existingSecret": secret, "key": key},
        }
        if hub.home_strategy == "target-repo-dir":
            values["buildPods"] = {"targetRepoDir": TARGET_REPO_DIR}
    return deep_merge(values, config.binderhub.values)


def jupyterhub_values(config: Config) -> dict[str, Any] | None:
    """Values for the z2jh chart that wire BinderHub in, or None without a hub."""
    hub = config.hub
    if not hub.enabled:
        return None
    name = hub.service_name
    service: dict[str, Any] = {
        "url": binderhub_service_url(config),
        "display": False,
    }
    if hub.auth:
        service["oauth_no_confirm"] = True
        service["oauth_client_id"] = f"service-{name}"
        service["oauth_redirect_uri"] = f"/services/{name}/oauth_callback"
    values: dict[str, Any] = {
        "hub": {
            "services": {name: service},
            # Every user may call BinderHub: extend JupyterHub's default user role.
            "loadRoles": {
                "user": {"scopes": ["self", f"access:services!service={name}"]},
            },
        },
    }
    return deep_merge(values, hub.values)
