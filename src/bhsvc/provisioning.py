"""Provisioning the registry with a line per step, and what init says at the end:
shared by the wizard and `bhsvc init --non-interactive`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape

from bhsvc import hub, ui
from bhsvc.config import Config
from bhsvc.errors import BhsvcError
from bhsvc.registry.provision import RegistryReport, provision_registry
from bhsvc.text import shown_command


def provision(
    config: Config, rotate_key: bool, quiet: bool, delete_old_keys: bool = False
) -> RegistryReport:
    """Provision with a spinner and a line per step (quiet: neither). A wait for
    another run on the same key file is shown either way."""
    status = (
        None if quiet else ui.err_console.status(f"provisioning the {provider_name(config)} ...")
    )
    if status is not None:
        status.start()
    try:
        on_step = (lambda result: None) if quiet else ui.print_step
        return provision_registry(
            config,
            rotate_key,
            on_step,
            on_note=ui.print_notice,
            delete_old_keys=delete_old_keys,
        )
    finally:
        if status is not None:
            status.stop()


def cluster_warnings(config: Config) -> list[str]:
    """With Workload Identity: whether the cluster's nodes can use it (read-only; a
    cluster that cannot be read is said, not an error)."""
    if not config.keyless:
        return []
    from bhsvc.kube.workload_identity import read_cluster

    assert config.registry.gar is not None
    project = config.registry.gar.project
    detection = read_cluster(config.kube.context)
    if detection.problem is not None:
        return [
            f"could not read the cluster's nodes ({detection.problem}): bhsvc cannot tell "
            "whether they run the GKE metadata server that Workload Identity needs"
        ]
    if detection.default_auth(project) == "key":
        return [f"registry.gar.auth is workload-identity, but {detection.lines(project)[0]}"]
    return detection.lines(project)[1:]


def provider_name(config: Config) -> str:
    return {
        "gar": "Google Artifact Registry",
        "dockerhub": "Docker Hub registry",
        "ghcr": "GitHub Container Registry",
        "quay": "Quay.io registry",
    }.get(config.registry.provider, "registry")


def next_command(config_path: Path) -> str:
    return shown_command(["bhsvc", "deploy", "--config", str(config_path)])


def json_document(
    config_path: Path, report: RegistryReport, equivalent: str | None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "ok": True,
        "config": str(config_path),
        "registry": report.as_dict(),
        "steps": [step.as_dict() for step in report.steps],
        "warnings": report.warnings,
        "next": next_command(config_path),
    }
    if equivalent:
        document["equivalent"] = equivalent
    return document


def failure_document(config_path: Path, err: BhsvcError) -> dict[str, Any]:
    """The common failure document, with the config and the steps that ran, if any."""
    document = {**ui.failure_document(str(err), err.exit_code), "config": str(config_path)}
    steps = getattr(getattr(err, "report", None), "steps", [])
    if steps:
        document["steps"] = [step.as_dict() for step in steps]
    return document


def print_summary(
    config_path: Path,
    config: Config,
    report: RegistryReport,
    before_next: Callable[[], None] | None = None,
) -> None:
    for warning in report.warnings:
        ui.print_warning(warning)
    out = ui.console
    out.print()
    out.print(f"registry server   {escape(report.server)}")
    out.print(f"image prefix      {escape(report.image_prefix)}")
    if report.workload_identity is not None:
        out.print(
            f"push credentials  none kept: BinderHub acts as {escape(report.pusher or '')} "
            "through Workload Identity (a token per build, valid at most an hour)"
        )
        out.print(f"pull credentials  the nodes pull as {escape(report.node_account or '')}")
    elif report.key_file is not None:
        out.print(
            f"push credentials  {report.username} + key file {escape(str(report.key_file))} (0600)"
        )
        if report.pull_key_file is not None:
            out.print(
                f"pull credentials  {report.username} + key file "
                f"{escape(str(report.pull_key_file))} (0600), read-only"
            )
    else:
        source = config.registry.password_file or "$BHSVC_REGISTRY_PASSWORD"
        out.print(
            f"push credentials  {escape(report.username)} + password from {escape(str(source))}"
        )
    if config.hub.enabled:
        out.print(f"hub chart         z2jh {escape(config.hub.chart_version)}")
        out.print(f"hub image         {escape(hub.hub_image_note(config))}")
    if before_next is not None:
        before_next()
    out.print()
    out.print(f"Next: [bold]{escape(next_command(config_path))}[/]", soft_wrap=True)
    sys.stdout.flush()
