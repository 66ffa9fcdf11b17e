"""The names of every Kubernetes object bhsvc makes or looks for, in one place.

Names the charts make are derived here the way their templates make them (the
binderhub-service chart's `_helpers-names.tpl` and `_helpers-labels.tpl`, z2jh's
naming), so deploy, connect-hub, verify and the values bhsvc writes agree with
the rendered manifests; tests check each against `helm template`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bhsvc.config import Config

CHART_NAME = "binderhub-service"
# BinderHub listens on BinderHub.port in its pod; the chart's Service defaults to 80.
BINDERHUB_PORT = 8585
SERVICE_PORT = 80
# z2jh: the hub's API (hub Service) and the proxy's http port (proxy pod).
HUB_API_PORT = 8081
HUB_PROXY_PORT = 8000
# Build pods, as BinderHub labels them.
BUILD_POD_SELECTOR = "component=binderhub-build"
# Labels bhsvc puts on what it creates itself.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "bhsvc"
INSTANCE_LABEL = "app.kubernetes.io/instance"
# This install's id (workdir.INSTALL_ID_FILE): which bhsvc install made an object.
INSTALL_LABEL = "bhsvc.io/install"


@dataclass(frozen=True)
class SecretRef:
    """A key of a Kubernetes Secret."""

    namespace: str
    name: str
    key: str


def _dns_label(text: str) -> str:
    """Helm's `trunc 63 | trimSuffix "-"`."""
    return text[:63].removesuffix("-")


# ---- the binderhub-service chart ---------------------------------------------


def chart_name(config: Config) -> str:
    """The chart's `binderhub-service.name`: nameOverride or the chart's name."""
    return _dns_label(str(config.binderhub.values.get("nameOverride") or CHART_NAME))


def _suffixed(prefix: str, suffix: str) -> str:
    """The chart's `suffixed-name`: the prefix shortened so that the suffix survives."""
    return f"{prefix[: 62 - len(suffix)].removesuffix('-')}-{suffix}"


def _release_prefix(config: Config) -> str:
    """The chart's `binderhub-service.fullname`."""
    override = config.binderhub.values.get("fullnameOverride")
    if override:
        return _dns_label(str(override))
    name = chart_name(config)
    release = config.binderhub.release
    return _dns_label(release if name in release else f"{release}-{name}")


def _2i2c_prefix(config: Config) -> str:
    """The prefix with `naming: 2i2c`, as the 2i2c chart computes it: fullnameOverride
    when it is text (the default "" means none), else from the release."""
    override = config.binderhub.values.get("fullnameOverride", "")
    if isinstance(override, str):
        return _dns_label(override)
    name = chart_name(config)
    release = config.binderhub.release
    return release if name in release else _dns_label(f"{release}-{name}")


def uses_2i2c_names(config: Config) -> bool:
    """Whether the chart names its objects as the 2i2c chart does (`naming: 2i2c`)."""
    return config.binderhub.values.get("naming") == "2i2c"


def _object_name(config: Config, suffix: str, name_2i2c: str) -> str:
    """The chart's `object-name`: "<fullname>-<suffix>" (or the fullname alone), or
    with `naming: 2i2c` the 2i2c chart's "<prefix>-<name_2i2c>" (or that name alone)."""
    if uses_2i2c_names(config):
        prefix = _2i2c_prefix(config)
        return _suffixed(prefix, name_2i2c) if prefix else name_2i2c
    prefix = _release_prefix(config)
    return _suffixed(prefix, suffix) if suffix else prefix


def binderhub_fullname(config: Config) -> str:
    """BinderHub's Deployment and Service, in the naming scheme `naming` chooses."""
    return _object_name(config, "", "binderhub")


def binderhub_service(config: Config) -> tuple[str, int]:
    """(name, port) of BinderHub's Service as the chart makes it."""
    port = (config.binderhub.values.get("service") or {}).get("port", SERVICE_PORT)
    return binderhub_fullname(config), int(port)


def binderhub_service_account(config: Config) -> str:
    """The Kubernetes ServiceAccount BinderHub's pod runs as: serviceAccount.name, else
    the one the chart creates, named like the Deployment (without either, the
    namespace's `default`). With Workload Identity it acts as the pusher."""
    values = config.binderhub.values.get("serviceAccount") or {}
    if values.get("name"):
        return str(values["name"])
    return binderhub_fullname(config) if values.get("create", True) else "default"


def release_selector(config: Config) -> str:
    """Every pod of the BinderHub release (BinderHub and the build daemon)."""
    return f"{INSTANCE_LABEL}={config.binderhub.release}"


def binderhub_selector(config: Config) -> str:
    """BinderHub's own pods."""
    return f"{release_selector(config)},app.kubernetes.io/component=binderhub"


def service_selector(config: Config) -> str:
    """BinderHub's Service, by the labels the chart gives it."""
    return f"app.kubernetes.io/name={chart_name(config)},{binderhub_selector(config)}"


def service_url(config: Config, service: tuple[str, int] | None = None) -> str:
    """BinderHub's in-cluster URL: a discovered Service, or the chart's naming."""
    name, port = service or binderhub_service(config)
    return f"http://{name}.{config.kube.namespace}:{port}"


# ---- Secrets bhsvc makes ------------------------------------------------------


def registry_secret_of(release: str) -> str:
    return f"{release}-registry-credentials"


def image_pull_secret_of(release: str) -> str:
    return f"{release}-image-pull"


def token_copy_of(release: str) -> str:
    return f"{release}-hub-api-token"


def registry_secret(config: Config) -> str:
    """The docker config.json build pods push with (the chart's existingSecret).

    With `naming: 2i2c`, the name of the 2i2c chart's own push Secret: a release
    taken over from that chart keeps it (bhsvc writes it from then on)."""
    if uses_2i2c_names(config):
        return _object_name(config, "", "build-pods-docker-config")
    return registry_secret_of(config.binderhub.release)


def image_pull_secret(config: Config) -> SecretRef:
    """The pull Secret for the hub's user pods (type kubernetes.io/dockerconfigjson)."""
    return SecretRef(
        config.hub_namespace, image_pull_secret_of(config.binderhub.release), ".dockerconfigjson"
    )


# ---- the z2jh chart -------------------------------------------------------------


def z2jh_prefix(config: Config, hub_values: Mapping[str, Any]) -> str:
    """What z2jh puts before its object names ("" by default: Services `hub`, `proxy-public`)."""
    if "fullnameOverride" in hub_values and hub_values["fullnameOverride"] is None:
        name = str(hub_values.get("nameOverride") or "jupyterhub")
        release = config.hub.release
        return f"{release if name in release else f'{release}-{name}'}-"
    override = hub_values.get("fullnameOverride", "")
    return f"{override}-" if override else ""


def hub_service(config: Config, hub_values: Mapping[str, Any]) -> str:
    """The hub's Service (and its Secret, which z2jh names the same)."""
    return f"{z2jh_prefix(config, hub_values)}hub"


def hub_api_url(config: Config, hub_values: Mapping[str, Any]) -> str:
    """The hub's API seen from BinderHub's pod; ends with a slash as HubAuth needs."""
    return (
        f"http://{hub_service(config, hub_values)}.{config.hub_namespace}:{HUB_API_PORT}/hub/api/"
    )


def hub_url_local(config: Config, hub_values: Mapping[str, Any]) -> str:
    """The hub itself, in the cluster (BinderHub's /health asks <it>hub/api/health)."""
    return f"http://{hub_service(config, hub_values)}.{config.hub_namespace}:{HUB_API_PORT}/"


def proxy_public(config: Config, hub_values: Mapping[str, Any]) -> str:
    """The hub's public Service (the proxy's http port 80, or z2jh's https)."""
    return f"{z2jh_prefix(config, hub_values)}proxy-public"


def proxy_selector(config: Config) -> str:
    """z2jh's proxy pod of the hub release (z2jh's own labels)."""
    return f"component=proxy,release={config.hub.release}"


def token_source(config: Config, hub_values: Mapping[str, Any]) -> SecretRef:
    """Where z2jh keeps the API token it generates for BinderHub's service."""
    return SecretRef(
        config.hub_namespace,
        hub_service(config, hub_values),
        f"hub.services.{config.hub.service_name}.apiToken",
    )


def token_target(config: Config, hub_values: Mapping[str, Any]) -> SecretRef:
    """The Secret BinderHub reads the token from.

    Same namespace: z2jh's Secret itself. Another namespace: a Secret can only be
    referenced in its own namespace, so bhsvc copies the one key into a Secret
    named after the BinderHub release (never `hub`, which could belong to
    another JupyterHub living in BinderHub's namespace).
    """
    source = token_source(config, hub_values)
    if config.hub_namespace == config.kube.namespace:
        return SecretRef(config.kube.namespace, source.name, source.key)
    return SecretRef(config.kube.namespace, token_copy_of(config.binderhub.release), source.key)
