"""The installation deploy and connect-hub converge, as an ordered list of components.

Decided from the config and what was read locally (pure): the list, its helm
commands and its Secrets' content. `bhsvc.lifecycle` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bhsvc import chart as chart_mod
from bhsvc import helm as helm_mod
from bhsvc import hub as hub_mod
from bhsvc import naming
from bhsvc.components.checks import SMOKE_TIMEOUT, VersionsCheck
from bhsvc.components.kube_objects import Namespaces, NoRegistrySecrets, Secret, TokenCopy
from bhsvc.components.releases import Changes, HubRelease, Release
from bhsvc.components.values_files import ValuesFiles
from bhsvc.config import Config
from bhsvc.hub_files import HubUserValues
from bhsvc.lifecycle import Component
from bhsvc.names import REGISTRY_PASSWORD_ENV
from bhsvc.render import values_files
from bhsvc.workdir import (
    BINDERHUB_VALUES_FILE,
    HUB_APPLIED_FILE,
    HUB_VALUES_FILE,
    input_files,
    values_dir,
)


@dataclass(frozen=True)
class Inputs:
    """What a run decided before it touched the cluster."""

    config: Config
    source: str  # the config file, named in the values files' header
    user: HubUserValues  # the user's own z2jh values files
    helm: helm_mod.Helm
    chart: str  # BinderHub's chart
    timeout: int  # seconds each release may take
    # The registry's docker config.json; None when it cannot be read (a dry run), or
    # with Workload Identity, where none exists.
    docker_config: str | None
    # BinderHub's Service as found on the cluster (connect-hub), else the chart's naming.
    service: tuple[str, int] | None = None
    force: bool = False  # upgrade the releases even when nothing changed
    # What the hub's users pull with (a read-only key with Artifact Registry); None
    # when it cannot be read (a dry run), or without a hub.
    pull_docker_config: str | None = None


def with_context(config: Config, context: str) -> Config:
    """The config acting on `context` (the one the kubeconfig resolved), so helm and
    the Python client act on the same cluster."""
    kube = config.kube.model_copy(update={"context": context})
    return config.model_copy(update={"kube": kube})


def credentials_source(config: Config, pull: bool = False) -> str:
    """Where the registry password (of the pull credentials, with `pull`) comes from,
    described without revealing it."""
    reg = config.registry
    if reg.gar is not None:
        return f"service-account key {config.pull_key_file if pull else config.key_file}"
    if reg.password_file is not None:
        return f"password file {config.path(reg.password_file)}"
    return f"environment variable {REGISTRY_PASSWORD_ENV}"


def hub_chart_args(inputs: Inputs) -> list[str]:
    """`helm upgrade --install` of z2jh: the user's files first, bhsvc's last so it wins."""
    config = inputs.config
    local = config.hub.chart
    return helm_mod.upgrade_install_args(
        inputs.helm,
        config.hub.release,
        chart_mod.reference(config, local) if local else chart_mod.HUB_CHART_NAME,
        config.hub_namespace,
        [*inputs.user.files, values_dir(config) / HUB_VALUES_FILE],
        timeout_seconds=inputs.timeout,
        # A local chart is the version it is; a remote one is fetched at chart_version.
        version=None if local and "://" not in local else config.hub.chart_version,
        repo=None if local else chart_mod.HUB_CHART_REPO,
        kube_context=config.kube.context,
    )


def binderhub_chart_args(inputs: Inputs) -> list[str]:
    config = inputs.config
    return helm_mod.upgrade_install_args(
        inputs.helm,
        config.binderhub.release,
        inputs.chart,
        config.kube.namespace,
        [values_dir(config) / BINDERHUB_VALUES_FILE],
        timeout_seconds=inputs.timeout,
        kube_context=config.kube.context,
    )


def registry_secret_data(docker_config: str) -> dict[str, bytes]:
    """The registry Secret's keys: `.dockerconfigjson` (its type's key, for image pulls)
    and `config.json` (the file name docker and BinderHub's build pods read)."""
    data = docker_config.encode()
    return {".dockerconfigjson": data, "config.json": data}


def keyless_note(config: Config) -> str:
    """Who pushes and who pulls when no registry Secret exists (Workload Identity)."""
    who = f"{config.kube.namespace}/{naming.binderhub_service_account(config)}"
    pull = "; the hub's nodes pull as their own service account" if config.hub.enabled else ""
    return (
        f"BinderHub's ServiceAccount {who} pushes as {config.pusher_email} through "
        f"Workload Identity{pull}"
    )


def _key_secrets(config: Config) -> tuple[naming.SecretRef, ...]:
    """The Secrets a deploy with keys (registry.gar.auth key) writes."""
    push = naming.SecretRef(config.kube.namespace, naming.registry_secret(config), "")
    return (push, naming.image_pull_secret(config)) if config.hub.enabled else (push,)


def hub_chart_version(config: Config) -> str | None:
    """The z2jh version bhsvc installs: hub.chart_version, or a local chart's own."""
    if config.hub.chart and "://" not in config.hub.chart:
        found = chart_mod.local_chart_metadata(chart_mod.reference(config, config.hub.chart))
        return str(found["version"]) if found and "version" in found else None
    return config.hub.chart_version


def hub_downgrade_hint() -> str:
    return (
        "set hub.chart_version to the version the hub runs; with fancy-profiles the hub "
        "image must then be built for it (FROM quay.io/jupyterhub/k8s-hub:<version>, pip "
        "install jupyterhub-fancy-profiles) and named in hub.image; or set "
        "hub.fancy_profiles: false"
    )


def components(inputs: Inputs) -> list[Component]:
    """Everything from an empty cluster to a BinderHub that answered, in order."""
    config = inputs.config
    hub = config.hub
    ns = config.kube.namespace
    existing = inputs.user.merged(config)
    owner = {naming.INSTANCE_LABEL: config.binderhub.release}
    docker_config = inputs.docker_config
    folder = values_dir(config)

    parts: list[Component] = [
        Namespaces(tuple(dict.fromkeys([ns, config.hub_namespace if hub.enabled else ns]))),
    ]
    # The BinderHub pod reads the registry Secret (and the hub token): when either
    # changed, it must restart, so its release is upgraded even with the same values.
    binderhub_reads: list[Changes] = []
    if config.keyless:
        parts.append(NoRegistrySecrets(_key_secrets(config), keyless_note(config)))
    else:
        registry_secret = Secret(
            "registry credentials Secret",
            naming.SecretRef(ns, naming.registry_secret(config), ".dockerconfigjson"),
            f"docker config.json for {config.registry_server}, from {credentials_source(config)}",
            registry_secret_data(docker_config) if docker_config else None,
            owner,
        )
        parts.append(registry_secret)
        binderhub_reads.append(registry_secret)
    if hub.enabled and not config.keyless:
        pull = naming.image_pull_secret(config)
        pull_config = inputs.pull_docker_config
        parts.append(
            Secret(
                "image pull Secret for the hub's users",
                pull,
                f"image pull credentials for the hub's user pods, from "
                f"{credentials_source(config, pull=True)}",
                {pull.key: pull_config.encode()} if pull_config else None,
                owner,
            )
        )
    written = values_files(config, inputs.source, existing, inputs.service)
    inputs_read = input_files(config, Path(inputs.source), inputs.user.files)
    parts.append(ValuesFiles({folder / name: text for name, text in written.items()}, inputs_read))
    if hub.enabled:
        version = hub_chart_version(config)
        title = f"chart {hub.chart}" if hub.chart else f"z2jh {hub.chart_version}"
        parts.append(
            HubRelease(
                f"JupyterHub release {hub.release}",
                hub.release,
                config.hub_namespace,
                f"{title} ({hub_mod.hub_image_note(config)})",
                hub_chart_args(inputs),
                f"release={hub.release}",
                inputs.timeout,
                chart_name=chart_mod.HUB_CHART_NAME,
                chart_version=version,
                expected_values=inputs.user.effective(config, inputs.service),
                force=inputs.force,
                downgrade_hint=hub_downgrade_hint(),
                values_file=folder / HUB_VALUES_FILE,
                applied_file=folder / HUB_APPLIED_FILE,
            )
        )
        source = naming.token_source(config, existing)
        target = naming.token_target(config, existing)
        if source != target:
            token = TokenCopy(source, target, hub.service_name, owner)
            parts.append(token)
            binderhub_reads.append(token)
    bundled = chart_mod.local_chart_metadata(inputs.chart) or {}
    smoke_timeout = min(float(inputs.timeout), SMOKE_TIMEOUT)
    parts += [
        Release(
            f"BinderHub release {config.binderhub.release}",
            config.binderhub.release,
            ns,
            f"binderhub-service {bundled.get('version', '')}".strip(),
            binderhub_chart_args(inputs),
            naming.release_selector(config),
            inputs.timeout,
            chart_name=str(bundled.get("name", naming.CHART_NAME)),
            chart_version=str(bundled["version"]) if "version" in bundled else None,
            expected_values=yaml.safe_load(written[BINDERHUB_VALUES_FILE]),
            depends_on=binderhub_reads,
            force=inputs.force,
            downgrade_hint="upgrade bhsvc (its bundled chart is older), or set binderhub.chart "
            "to the chart the release runs",
        ),
        VersionsCheck(
            f"GET {config.binderhub_base_url}versions",
            f"port-forward to BinderHub's pod in {ns} (release {config.binderhub.release}) "
            f"and GET {config.binderhub_base_url}versions",
            ns,
            naming.binderhub_selector(config),
            naming.BINDERHUB_PORT,
            config.binderhub_base_url,
            smoke_timeout,
        ),
    ]
    if hub.enabled:
        prefix = config.hub_service_prefix
        parts.append(
            VersionsCheck(
                f"GET {prefix}versions through the hub's proxy",
                f"GET {prefix}versions through the hub's proxy (pods "
                f"{naming.proxy_selector(config)} in {config.hub_namespace})",
                config.hub_namespace,
                naming.proxy_selector(config),
                naming.HUB_PROXY_PORT,
                prefix,
                smoke_timeout,
            )
        )
    return parts


def release_of(parts: Sequence[Component], release: str) -> Release | None:
    """The release component of that name, for what it read and made."""
    return next((p for p in parts if isinstance(p, Release) and p.release == release), None)
