"""Console output: step progress with elapsed time, errors, JSON documents."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape

# No emoji codes: text such as an image tag ':cd:' must print as it is. No wrapping:
# a spec, URL, command or path a user copies must stay on one line, also in a CI log
# (where rich would otherwise wrap at 80 columns).
console = Console(highlight=False, emoji=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


def print_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}")


def print_notice(message: str) -> None:
    """A line of progress outside any step (e.g. a download), on stderr."""
    err_console.print(f"[dim]{escape(message)}[/]")


def print_warning(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}")


class JsonPrinted:
    """Whether this run printed its JSON document (the CLI adds one on failure if not)."""

    done = False


def failure_document(error: str, exit_code: int) -> dict[str, Any]:
    """What every command prints with --output json when it fails; some add their own keys."""
    return {"ok": False, "error": error, "exit_code": exit_code}


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()
    JsonPrinted.done = True


@dataclass
class StepResult:
    name: str
    status: str = "ok"
    detail: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Steps:
    """Runs named steps, showing a spinner with elapsed time and a line when each ends."""

    quiet: bool = False
    results: list[StepResult] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[StepResult]:
        result = StepResult(name)
        start = time.monotonic()
        status = None
        if not self.quiet and err_console.is_terminal:  # a spinner only where it can spin
            status = err_console.status(f"{escape(name)} ...")
            status.start()
        try:
            yield result
        except BaseException:
            result.status = "failed"
            raise
        finally:
            result.seconds = time.monotonic() - start
            if status is not None:
                status.stop()
            self.results.append(result)
            if not self.quiet:
                print_step(result)


def print_step(result: StepResult) -> None:
    """The line a finished step leaves: a mark, its outcome and how long it took."""
    mark = {"failed": "[red]✗[/]", "skipped": "[dim]-[/]"}.get(result.status, "[green]✓[/]")
    detail = f" [dim]({escape(result.detail)})[/]" if result.detail else ""
    err_console.print(
        f"{mark} {escape(result.name)}: {escape(result.status)}{detail} "
        f"[dim]{result.seconds:.1f}s[/]"
    )
