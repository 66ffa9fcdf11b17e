"""The ordered deploy plan and its helm commands, decided from the config alone (pure).

`bhsvc deploy` runs exactly these helm argument lists; `--dry-run` prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bhsvc import chart as chart_mod
from bhsvc import helm as helm_mod
from bhsvc import hub as hub_mod
from bhsvc.config import STATE_DIR, Config
from bhsvc.names import REGISTRY_PASSWORD_ENV
from bhsvc.values import HUB_CHART_NAME, HUB_CHART_REPO

BINDERHUB_VALUES_FILE = "binderhub-service.values.yaml"
HUB_VALUES_FILE = "jupyterhub.values.yaml"
# A copy of HUB_VALUES_FILE as of the last hub upgrade that succeeded.
HUB_APPLIED_FILE = "jupyterhub.values.applied.yaml"
MANIFESTS_FILE = "binderhub-service.yaml"


@dataclass(frozen=True)
class PlannedStep:
    action: str
    description: str
    command: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "description": self.description,
            "command": list(self.command),
        }


@dataclass(frozen=True)
class HelmCommands:
    hub: list[str] | None
    binderhub: list[str]


def values_dir(config: Config) -> Path:
    """Where deploy writes the values files: <config dir>/.bhsvc/rendered/."""
    return config.path(Path(STATE_DIR) / "rendered")


def credentials_source(config: Config) -> str:
    """Where the registry password comes from, described without revealing it."""
    reg = config.registry
    if reg.gar is not None:
        return f"service-account key {config.key_file}"
    if reg.password_file is not None:
        return f"password file {config.path(reg.password_file)}"
    return f"environment variable {REGISTRY_PASSWORD_ENV}"


def helm_commands(
    config: Config,
    helm: helm_mod.Helm,
    chart: str,
    timeout_seconds: int,
    hub_values_files: Sequence[Path] = (),
) -> HelmCommands:
    """The helm argument lists. The hub goes first: its chart makes the API token
    Secret BinderHub reads."""
    hub = None
    if config.hub.enabled:
        local = config.hub.chart
        hub = helm_mod.upgrade_install_args(
            helm,
            config.hub.release,
            chart_mod.reference(config, local) if local else HUB_CHART_NAME,
            config.hub_namespace,
            # The user's own files first, bhsvc's last so it wins.
            [*hub_values_files, values_dir(config) / HUB_VALUES_FILE],
            timeout_seconds=timeout_seconds,
            # A local chart is the version it is; a remote one is fetched at chart_version.
            version=None if local and "://" not in local else config.hub.chart_version,
            repo=None if local else HUB_CHART_REPO,
            kube_context=config.kube.context,
        )
    binderhub = helm_mod.upgrade_install_args(
        helm,
        config.binderhub.release,
        chart,
        config.kube.namespace,
        [values_dir(config) / BINDERHUB_VALUES_FILE],
        timeout_seconds=timeout_seconds,
        kube_context=config.kube.context,
    )
    return HelmCommands(hub, binderhub)


def deploy_plan(config: Config, commands: HelmCommands) -> list[PlannedStep]:
    ns = config.kube.namespace
    steps = [
        PlannedStep("namespace", f"ensure namespace {ns}"),
        PlannedStep(
            "secret",
            f"ensure Secret {ns}/{config.registry_secret_name} (docker config.json for "
            f"{config.registry_server}, from {credentials_source(config)})",
        ),
    ]
    hub = config.hub
    if commands.hub is not None:
        pull = hub_mod.image_pull_secret(config)
        steps.append(
            PlannedStep(
                "secret",
                f"ensure Secret {pull.namespace}/{pull.name} (image pull credentials for "
                "the hub's users)",
            )
        )
        chart = f"chart {hub.chart}" if hub.chart else f"z2jh {hub.chart_version}"
        steps.append(
            PlannedStep(
                "helm",
                f"install or upgrade JupyterHub {hub.release} ({chart}) in {config.hub_namespace}",
                ("helm", *commands.hub),
            )
        )
        if config.hub_namespace != ns:
            source = hub_mod.token_source(config, hub.values)
            target = hub_mod.token_target(config, hub.values)
            steps.append(
                PlannedStep(
                    "secret",
                    f"copy key {source.key} of Secret {source.namespace}/{source.name} "
                    f"to {target.namespace}/{target.name}",
                )
            )
    steps.append(
        PlannedStep(
            "helm",
            f"install or upgrade BinderHub {config.binderhub.release} in {ns}",
            ("helm", *commands.binderhub),
        )
    )
    steps.append(
        PlannedStep(
            "check",
            f"port-forward to BinderHub's pod in {ns} (release {config.binderhub.release}) "
            f"and GET {config.binderhub_base_url}versions",
        )
    )
    if hub.enabled:
        steps.append(
            PlannedStep(
                "check",
                f"GET /services/{hub.service_name}/versions through the hub's proxy",
            )
        )
    return steps
