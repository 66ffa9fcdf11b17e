"""The conversation layer: show text, read one line, ask yes or no.

The wizard depends only on the `Prompter` protocol, so tests can drive it with
scripted answers; `TerminalPrompter` is the real one on the user's terminal.
Answers are parsed and validated by the wizard, not here; `confirm` is the one
yes/no question of every command.
"""

from __future__ import annotations

import sys
from typing import Protocol

from rich.console import Console
from rich.markup import escape

from bhsvc import ui


class Prompter(Protocol):
    def say(self, markup: str = "") -> None:
        """Show a line (rich markup)."""

    def ask(self, prompt: str) -> str:
        """Show `prompt` (rich markup) and return the line typed, without the newline.

        Ctrl-C raises KeyboardInterrupt; end of input raises EOFError; a line that
        is not text in the terminal's encoding raises UnicodeDecodeError.
        """


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


class TerminalPrompter:
    """Questions on the terminal through a rich console (the standard output's, unless
    another is given: deploy talks on the standard error)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or ui.console

    def say(self, markup: str = "") -> None:
        self.console.print(markup, soft_wrap=True, highlight=False)

    def ask(self, prompt: str) -> str:
        return self.console.input(prompt)


def read_answer(prompter: Prompter, prompt: str) -> str:
    """One line, asked again until it is text (bytes the terminal's encoding cannot
    read are no answer)."""
    while True:
        try:
            return prompter.ask(prompt)
        except UnicodeDecodeError:
            prompter.say("[red]✗[/] that is not text in the terminal's encoding; type it again")


def confirm(question: str, default: bool, prompter: Prompter | None = None) -> bool:
    """A yes/no question, asked until answered: Enter takes `default` (shown as [Y/n]
    or [y/N]), y/yes and n/no in any case. Without `prompter`: on the terminal's
    standard error. Ctrl-C raises KeyboardInterrupt, end of input EOFError: each
    command says what stopping there means."""
    prompter = prompter or TerminalPrompter(ui.err_console)
    hint = "Y/n" if default else "y/N"
    while True:
        answer = read_answer(prompter, f"[bold]{escape(question)}[/] [dim]\\[{hint}][/]: ")
        answer = answer.strip().lower()
        if not answer:
            return default
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False
        prompter.say("[red]✗[/] answer y or n")
