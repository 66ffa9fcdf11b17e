"""`bhsvc doctor`: status, then the checks for what actually breaks a BinderHub
service (`bhsvc.health.checks`), each finding with the exact fix.

Exit code 0 when nothing is found, 1 when status finds a problem or a check
finds an error, 2 on bad input.
"""

from __future__ import annotations

from pathlib import Path

import typer

from bhsvc import ui
from bhsvc.commands.status import collect
from bhsvc.health import checks, screen, summary


def run(config_path: Path, output: str, helm_path: str | None) -> None:
    facts = collect(config_path, helm_path, output, doctor=True)
    found = summary.problems(facts)
    findings = checks.run_checks(facts)
    document = summary.document(facts, found)
    if any(f.severity == summary.ERROR for f in findings):
        document.update(ok=False, exit_code=1)
    document["findings"] = [f.as_dict() for f in findings]
    if output == "json":
        ui.print_json(document)
    else:
        for line in [
            *screen.status_lines(document),
            "",
            *screen.finding_lines(document["findings"]),
        ]:
            ui.console.print(line)
    if document["exit_code"]:
        raise typer.Exit(document["exit_code"])
