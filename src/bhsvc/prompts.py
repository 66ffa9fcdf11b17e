"""The wizard's conversation layer: show text, read one line.

The wizard depends only on the `Prompter` protocol, so tests can drive it with
scripted answers; `TerminalPrompter` is the real one on the user's terminal.
Answers are parsed and validated by the wizard, not here.
"""

from __future__ import annotations

import sys
from typing import Protocol

from bhsvc import ui


class Prompter(Protocol):
    def say(self, markup: str = "") -> None:
        """Show a line (rich markup)."""

    def ask(self, prompt: str) -> str:
        """Show `prompt` (rich markup) and return the line typed, without the newline.

        Ctrl-C raises KeyboardInterrupt; end of input raises EOFError.
        """


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


class TerminalPrompter:
    """Questions on the terminal through the rich console."""

    def say(self, markup: str = "") -> None:
        ui.console.print(markup, soft_wrap=True, highlight=False)

    def ask(self, prompt: str) -> str:
        return ui.console.input(prompt)
