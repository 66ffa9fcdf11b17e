"""Pure values generation: `Config -> dict` for both charts. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bhsvc import hub, naming
from bhsvc.config import Config
from bhsvc.merge import deep_merge


def binderhub_values(
    config: Config, hub_values_in: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Values for the binderhub-service chart. Holds no secret: only Secret names.

    `hub_values_in`: the user's own z2jh values (see `hub.merged_hub_values`),
    which can rename the hub's Services and Secret.
    """
    binderhub: dict[str, Any] = {
        "use_registry": True,
        "image_prefix": config.image_prefix,
        "enable_api_only_mode": config.binderhub_api_only,
        "base_url": config.binderhub_base_url,
    }
    values: dict[str, Any] = {
        "config": {"BinderHub": binderhub},
        **registry_values(config),
        "dockerApi": {"type": config.binderhub.builder},
    }
    existing = hub_values_in if hub_values_in is not None else config.hub.values
    values = deep_merge(values, hub.binderhub_hub_values(config, existing))
    return deep_merge(values, config.binderhub.values)


def registry_values(config: Config) -> dict[str, Any]:
    """How BinderHub and its builds get push credentials: the registry Secret bhsvc
    writes, or with Workload Identity BinderHub's ServiceAccount acting as the pusher
    (the chart's registry class hands each build a short-lived token)."""
    gar = config.registry.gar
    if gar is None or not gar.keyless:
        return {"buildPodsRegistryCredentials": {"existingSecret": naming.registry_secret(config)}}
    return {
        "gkeWorkloadIdentity": {
            "enabled": True,
            "googleServiceAccount": config.pusher_email,
            "registryHost": gar.host,
        }
    }


def jupyterhub_values(
    config: Config,
    hub_values_in: Mapping[str, Any] | None = None,
    service: tuple[str, int] | None = None,
) -> dict[str, Any] | None:
    """Values for the z2jh chart that wire BinderHub in, or None without a hub.

    `hub_values_in`: the user's own z2jh values; `service`: BinderHub's
    discovered Service (name, port). See `hub.z2jh_values`.
    """
    if not config.hub.enabled:
        return None
    existing = hub_values_in if hub_values_in is not None else config.hub.values
    return hub.z2jh_values(config, existing, service)
