"""`bhsvc init`: the interactive wizard, or `--non-interactive` provisioning from a file."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape

from bhsvc import ui
from bhsvc.config import Config, load_config
from bhsvc.errors import BhsvcError, UsageError
from bhsvc.registry.provision import RegistryReport, check_inputs, provision_registry
from bhsvc.ui import StepResult


def run(config_path: Path, non_interactive: bool, rotate_key: bool, output: str) -> None:
    if not non_interactive:
        if output == "json":
            raise UsageError("--output json needs --non-interactive (the wizard talks to a person)")
        from bhsvc.wizard import run_wizard

        run_wizard(config_path, rotate_key)
        return
    try:
        config = load_config(config_path)
        check_inputs(config, rotate_key)
        report = provision(config, rotate_key, quiet=output == "json")
    except BhsvcError as err:
        if output == "json":
            ui.print_json(failure_document(config_path, err))
        raise
    if output == "json":
        ui.print_json(json_document(config_path, report, None))
        return
    print_summary(config_path, config, report)


def print_step(result: StepResult) -> None:
    """One line per finished step, the same shape `ui.Steps` prints."""
    mark = {"failed": "[red]✗[/]", "skipped": "[dim]-[/]"}.get(result.status, "[green]✓[/]")
    detail = f" [dim]({escape(result.detail)})[/]" if result.detail else ""
    ui.err_console.print(
        f"{mark} {escape(result.name)}: {escape(result.status)}{detail} "
        f"[dim]{result.seconds:.1f}s[/]",
        soft_wrap=True,
    )


def provision(config: Config, rotate_key: bool, quiet: bool) -> RegistryReport:
    """Provision with a spinner and a line per step (quiet: neither). A wait for
    another run on the same key file is shown either way."""
    status = (
        None if quiet else ui.err_console.status(f"provisioning the {_provider_name(config)} ...")
    )
    if status is not None:
        status.start()
    try:
        on_step = (lambda result: None) if quiet else print_step
        return provision_registry(config, rotate_key, on_step, on_note=ui.print_notice)
    finally:
        if status is not None:
            status.stop()


def _provider_name(config: Config) -> str:
    return {
        "gar": "Google Artifact Registry",
        "dockerhub": "Docker Hub registry",
        "ghcr": "GitHub Container Registry",
        "quay": "Quay.io registry",
    }.get(config.registry.provider, "registry")


def next_command(config_path: Path) -> str:
    return shlex.join(["bhsvc", "deploy", "--config", str(config_path)])


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
    if report.key_file is not None:
        out.print(
            f"push credentials  {report.username} + key file {escape(str(report.key_file))} (0600)"
        )
    else:
        source = config.registry.password_file or "$BHSVC_REGISTRY_PASSWORD"
        out.print(
            f"push credentials  {escape(report.username)} + password from {escape(str(source))}"
        )
    if before_next is not None:
        before_next()
    out.print()
    out.print(f"Next: [bold]{escape(next_command(config_path))}[/]", soft_wrap=True)
    sys.stdout.flush()
