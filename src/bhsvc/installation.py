"""The installation deploy and connect-hub converge, as an ordered list of components.

Decided from the config and what was read locally (pure): the list, its helm
commands and its Secrets' content. `bhsvc.lifecycle` runs it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bhsvc import chart as chart_mod
from bhsvc import helm as helm_mod
from bhsvc import hub as hub_mod
from bhsvc import hub_chart as hub_chart_mod
from bhsvc import naming
from bhsvc.components.checks import SMOKE_TIMEOUT, VersionsCheck
from bhsvc.components.kube_objects import Namespaces, NoRegistrySecrets, Secret, TokenCopy
from bhsvc.components.releases import Changes, HubRelease, Release
from bhsvc.components.takeover import TakenOverRelease
from bhsvc.components.values_files import ValuesFiles
from bhsvc.config import Config
from bhsvc.files import shown_path
from bhsvc.hub_chart import HubChart
from bhsvc.hub_files import HubUserValues
from bhsvc.lifecycle import Component
from bhsvc.names import REGISTRY_PASSWORD_ENV
from bhsvc.record import record_path
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
    # The hub's chart (with hub.enabled): checked and rendered by `prepare`.
    hub_chart: HubChart | None = None
    # BinderHub's Service as found on the cluster (connect-hub), else the chart's naming.
    service: tuple[str, int] | None = None
    force: bool = False  # upgrade the releases even when nothing changed
    # What the hub's users pull with (a read-only key with Artifact Registry); None
    # when it cannot be read (a dry run), or without a hub.
    pull_docker_config: str | None = None
    # This install's id, labelled on what bhsvc makes; None before the first deploy.
    install_id: str | None = None


# What makes helm leave an object it would delete (the release no longer renders it).
HELM_RESOURCE_POLICY = "helm.sh/resource-policy"


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
        return (
            f"service-account key {shown_path(config.pull_key_file if pull else config.key_file)}"
        )
    if reg.password_file is not None:
        return f"password file {shown_path(config.path(reg.password_file))}"
    return f"environment variable {REGISTRY_PASSWORD_ENV}"


def hub_chart_of(inputs: Inputs) -> HubChart:
    """The hub's chart `prepare` fetched and checked; where it would be when a dry run
    could not fetch it (the plan still shows the command)."""
    return inputs.hub_chart or hub_chart_mod.locate(inputs.config, os.environ)


def hub_chart_args(inputs: Inputs, wired: bool = True) -> list[str]:
    """`helm upgrade --install` of z2jh: the user's files first, bhsvc's last so it wins.
    The chart is a local one: the user's, or the copy `prepare` fetched and checked.
    Not `wired`: the upgrade that takes bhsvc's values out again (the user's files only,
    and never an install)."""
    config = inputs.config
    own = [values_dir(config) / HUB_VALUES_FILE] if wired else []
    return helm_mod.upgrade_install_args(
        inputs.helm,
        config.hub.release,
        hub_chart_of(inputs).path,
        config.hub_namespace,
        [*inputs.user.files, *own],
        timeout_seconds=inputs.timeout,
        kube_context=config.kube.context,
        install=wired,
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
        # The version the offline render used (a remote chart only: see the config).
        version=config.binderhub.chart_version,
        kube_context=config.kube.context,
    )


def registry_secret_data(docker_config: str) -> dict[str, bytes]:
    """The registry Secret's keys: `.dockerconfigjson` (its type's key, for image pulls)
    and `config.json` (the file name docker and BinderHub's build pods read)."""
    data = docker_config.encode()
    return {".dockerconfigjson": data, "config.json": data}


def registry_secret_component(
    config: Config, docker_config: str | None, install_id: str | None
) -> Secret:
    """The push Secret. With the 2i2c chart's names it is that chart's own Secret,
    taken over: its type stays Opaque (a Secret's type cannot change), and helm must
    leave it in place when the upgrade no longer renders it."""
    purpose = f"docker config.json for {config.registry_server}, from {credentials_source(config)}"
    taken_over: dict[str, Any] = {}
    if naming.uses_2i2c_names(config):
        purpose += "; the 2i2c chart's push Secret, which helm keeps (resource-policy keep)"
        taken_over = {"type": "Opaque", "annotations": {HELM_RESOURCE_POLICY: "keep"}}
    return Secret(
        "registry credentials Secret",
        naming.SecretRef(
            config.kube.namespace, naming.registry_secret(config), ".dockerconfigjson"
        ),
        purpose,
        registry_secret_data(docker_config) if docker_config else None,
        owner_labels(config, install_id),
        **taken_over,
    )


def owner_labels(config: Config, install_id: str | None) -> dict[str, str]:
    """The labels of what bhsvc writes for the release (besides managed-by): the
    release, and this installation's id once it has one."""
    labels = {naming.INSTANCE_LABEL: config.binderhub.release}
    if install_id is not None:
        labels[naming.INSTALL_LABEL] = install_id
    return labels


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
    owner = owner_labels(config, inputs.install_id)
    docker_config = inputs.docker_config
    folder = values_dir(config)

    parts: list[Component] = [
        Namespaces(
            tuple(dict.fromkeys([ns, config.hub_namespace if hub.enabled else ns])),
            labels={k: v for k, v in owner.items() if k == naming.INSTALL_LABEL},
        ),
    ]
    # The BinderHub pod reads the registry Secret (and the hub token): when either
    # changed, it must restart, so its release is upgraded even with the same values.
    binderhub_reads: list[Changes] = []
    if config.keyless:
        parts.append(NoRegistrySecrets(_key_secrets(config), keyless_note(config), owner))
    else:
        registry_secret = registry_secret_component(config, docker_config, inputs.install_id)
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
        title = hub_chart_of(inputs).describe()
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
                record_file=record_path(config),
                unwire_args=hub_chart_args(inputs, wired=False),
                user_values=hub_mod.merged_files(inputs.user.values),
            )
        )
        source = naming.token_source(config, existing)
        target = naming.token_target(config, existing)
        if source != target:
            token = TokenCopy(source, target, hub.service_name, owner)
            parts.append(token)
            binderhub_reads.append(token)
    # The chart's name and version: a local chart's Chart.yaml, a remote one's chart_version.
    meta = chart_mod.local_chart_metadata(inputs.chart) or {}
    if config.binderhub.chart_version:
        meta = {"version": config.binderhub.chart_version}
    smoke_timeout = min(float(inputs.timeout), SMOKE_TIMEOUT)
    release_kind = TakenOverRelease if naming.uses_2i2c_names(config) else Release
    parts += [
        release_kind(
            f"BinderHub release {config.binderhub.release}",
            config.binderhub.release,
            ns,
            f"binderhub-service {meta.get('version', '')}".strip(),
            binderhub_chart_args(inputs),
            naming.release_selector(config),
            inputs.timeout,
            chart_name=str(meta.get("name", naming.CHART_NAME)),
            chart_version=str(meta["version"]) if "version" in meta else None,
            expected_values=yaml.safe_load(written[BINDERHUB_VALUES_FILE]),
            depends_on=binderhub_reads,
            force=inputs.force,
            downgrade_hint="upgrade bhsvc (its bundled chart is older), or set binderhub.chart "
            "(and binderhub.chart_version) to the chart the release runs",
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
