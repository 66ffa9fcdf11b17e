"""The ordered deploy plan, decided from the config alone (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bhsvc import helm as helm_args
from bhsvc.config import REGISTRY_PASSWORD_ENV, Config
from bhsvc.values import HUB_CHART_NAME, HUB_CHART_REPO, binderhub_fullname, hub_token_secret

BINDERHUB_VALUES_FILE = "binderhub-service.values.yaml"
HUB_VALUES_FILE = "jupyterhub.values.yaml"
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


def credentials_source(config: Config) -> str:
    """Where the registry password comes from, described without revealing it."""
    reg = config.registry
    if reg.gar is not None:
        return f"service-account key {config.key_file}"
    if reg.password_file is not None:
        return f"password file {config.path(reg.password_file)}"
    return f"environment variable {REGISTRY_PASSWORD_ENV}"


def deploy_plan(
    config: Config,
    helm: helm_args.Helm,
    chart: str,
    values_dir: Path,
    hub_values_files: Sequence[Path] = (),
    timeout_seconds: int = 600,
) -> list[PlannedStep]:
    ns = config.kube.namespace
    context = config.kube.context
    steps = [
        PlannedStep("namespace", f"ensure namespace {ns}"),
        PlannedStep(
            "secret",
            f"ensure Secret {ns}/{config.registry_secret_name} (docker config.json for "
            f"{config.registry_server}, from {credentials_source(config)})",
        ),
    ]
    hub = config.hub
    if hub.enabled:
        # The hub goes first: its chart creates the API token Secret BinderHub reads.
        hub_args = helm_args.upgrade_install_args(
            helm,
            hub.release,
            HUB_CHART_NAME,
            config.hub_namespace,
            [*hub_values_files, values_dir / HUB_VALUES_FILE],
            timeout_seconds=timeout_seconds,
            version=hub.chart_version,
            repo=HUB_CHART_REPO,
            kube_context=context,
        )
        steps.append(
            PlannedStep(
                "helm",
                f"install or upgrade JupyterHub {hub.release} (z2jh {hub.chart_version}) "
                f"in {config.hub_namespace}",
                ("helm", *hub_args),
            )
        )
        if config.hub_namespace != ns:
            secret, key = hub_token_secret(config)
            steps.append(
                PlannedStep(
                    "secret",
                    f"copy key {key} of Secret {config.hub_namespace}/{secret} to {ns}/{secret}",
                )
            )
    bh_args = helm_args.upgrade_install_args(
        helm,
        config.binderhub.release,
        chart,
        ns,
        [values_dir / BINDERHUB_VALUES_FILE],
        timeout_seconds=timeout_seconds,
        kube_context=context,
    )
    steps.append(
        PlannedStep(
            "helm",
            f"install or upgrade BinderHub {config.binderhub.release} in {ns}",
            ("helm", *bh_args),
        )
    )
    steps.append(
        PlannedStep(
            "check",
            f"port-forward to service {ns}/{binderhub_fullname(config)} and "
            f"GET {config.binderhub_base_url}versions",
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
