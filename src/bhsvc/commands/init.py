"""`bhsvc init`: the interactive wizard, or `--non-interactive` provisioning from a file."""

from __future__ import annotations

from pathlib import Path

from bhsvc import ui
from bhsvc.config import load_config
from bhsvc.errors import BhsvcError, UsageError
from bhsvc.provisioning import (
    cluster_warnings,
    failure_document,
    json_document,
    print_summary,
    provision,
)
from bhsvc.registry.provision import check_inputs
from bhsvc.wizard_run import run_wizard


def run(
    config_path: Path,
    non_interactive: bool,
    rotate_key: bool,
    output: str,
    delete_old_keys: bool = False,
) -> None:
    if not non_interactive:
        if output == "json":
            raise UsageError("--output json needs --non-interactive (the wizard talks to a person)")
        run_wizard(config_path, rotate_key, delete_old_keys=delete_old_keys)
        return
    try:
        config = load_config(config_path)
        check_inputs(config, rotate_key, delete_old_keys=delete_old_keys)
        report = provision(
            config, rotate_key, quiet=output == "json", delete_old_keys=delete_old_keys
        )
        report.warnings += cluster_warnings(config)
    except BhsvcError as err:
        if output == "json":
            ui.print_json(failure_document(config_path, err))
        raise
    if output == "json":
        ui.print_json(json_document(config_path, report, None))
        return
    print_summary(config_path, config, report)
