"""`bhsvc init` without `--non-interactive`, from start to end: a terminal, the
questions (wizard.py), provisioning, then the config file, written last.

Nothing is created and no file is written before the summary is confirmed; a
Ctrl-C or the end of input before that leaves everything as it was, and a failed
provisioning keeps the valid answers in the file so a re-run needs no questions.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.markup import escape

from bhsvc import files
from bhsvc.errors import BhsvcError, OperationError, UsageError
from bhsvc.prompts import Prompter, TerminalPrompter, stdin_is_terminal
from bhsvc.provisioning import print_summary, provision
from bhsvc.registry.endpoints import artifact_registry_endpoint, iam_endpoint
from bhsvc.registry.provision import RegistryReport
from bhsvc.wizard import (
    DEFERRED_PASSWORD,
    Declined,
    Wizard,
    equivalent_command,
    render_config,
)


def run_wizard(
    config_path: Path,
    rotate_key: bool,
    prompter: Prompter | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    delete_old_keys: bool = False,
) -> None:

    if prompter is None:
        if not stdin_is_terminal():
            raise UsageError(
                "bhsvc init asks questions and needs a terminal; without one, write bhsvc.yaml "
                "(see examples/) and run 'bhsvc init --non-interactive --config bhsvc.yaml'"
            )
        prompter = TerminalPrompter()
    # Bad endpoint overrides are bad input: say so before asking anything.
    artifact_registry_endpoint()
    iam_endpoint()
    wizard = Wizard(prompter, config_path, env, home)
    try:
        config = wizard.converse(rotate_key, delete_old_keys)
    except KeyboardInterrupt:
        prompter.say()
        prompter.say("Cancelled: nothing was created and no file was written.")
        raise SystemExit(130) from None
    except EOFError:
        prompter.say()
        raise OperationError(
            "init stopped at the end of input: nothing was created and no file was written"
        ) from None
    except Declined as declined:
        raise OperationError(str(declined)) from None
    text = render_config(wizard.data)
    warnings = _make_private(wizard.private)
    try:
        if wizard.password_deferred:  # nothing to create or check before deploy
            report = RegistryReport(
                provider=config.registry.provider,
                server=config.registry_server,
                image_prefix=config.image_prefix,
                username=config.registry.username or "",
                warnings=[DEFERRED_PASSWORD],
            )
        else:
            report = provision(config, rotate_key, quiet=False, delete_old_keys=delete_old_keys)
    except KeyboardInterrupt:
        prompter.say()
        prompter.say(
            f"Interrupted: {config_path} was not written. Run 'bhsvc init' again: "
            "what exists already is kept and reused."
        )
        raise SystemExit(130) from None
    except BhsvcError:
        # The answers are valid: keep them, so a re-run needs no questions.
        _write(wizard, config_path, text)
        prompter.say(
            f"Wrote {escape(files.shown_path(config_path))}. Fix the problem below, then run:"
        )
        prompter.say(f"  {escape(equivalent_command(config_path))}")
        raise
    report.warnings[:0] = warnings
    written = _write(wizard, config_path, text)

    def wrote() -> None:
        prompter.say()
        what = "Wrote" if written else "Kept"
        prompter.say(
            f"{what} {escape(files.shown_path(config_path))}. To provision again without questions:"
        )
        prompter.say(f"  {escape(equivalent_command(config_path))}")

    print_summary(config_path, config, report, before_next=wrote)


def _make_private(paths: Sequence[Path]) -> list[str]:
    warnings = []
    for path in paths:
        try:
            warning = files.make_private(path)
        except OSError as err:
            warning = f"{files.shown_path(path)}: could not be made 0600 ({err.strerror})"
        if warning:
            warnings.append(warning)
    return warnings


def _write(wizard: Wizard, config_path: Path, text: str) -> bool:
    """Write the config file, unless it holds `text` already."""
    if wizard.existing_text == text:
        return False
    files.write_atomic(config_path, text, _config_mode(config_path), durable=True)
    return True


def _config_mode(path: Path) -> int:
    """A replaced bhsvc.yaml keeps its mode: one made private stays private."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o644
