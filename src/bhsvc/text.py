"""User text in bhsvc's messages and values: what counts as plain, and how it is shown.

A value from a file, a flag or an answer may hold anything: terminal escapes, line
breaks, megabytes. Messages show it clipped and escaped, so they stay one line
and cannot repaint the terminal; values that reach YAML, argv or a URL must be
plain text.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Sequence

# Control and format characters, unpaired surrogates, line and paragraph separators:
# none of them is part of a name, a path or a URL that a person types.
_NOT_PLAIN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SURROGATE = re.compile("[\ud800-\udfff]")
SHOWN_LENGTH = 60


def first_unplain(value: str) -> str | None:
    """The first character of `value` that is not plain text, or None."""
    for char in value:
        if unicodedata.category(char) in _NOT_PLAIN:
            return char
    return None


def has_surrogate(value: str) -> bool:
    """Whether `value` holds half of a UTF-16 pair: not text, and no encoder takes it."""
    return _SURROGATE.search(value) is not None


_KINDS = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character",
    "Cs": "half of a surrogate pair",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def unplain_problem(value: str) -> str | None:
    """What keeps `value` from being plain text ('holds a control character (U+001B)'),
    or None when it is."""
    char = first_unplain(value)
    if char is None:
        return None
    return f"holds {_KINDS[unicodedata.category(char)]} (U+{ord(char):04X})"


def clip(value: str, length: int = SHOWN_LENGTH) -> str:
    """At most `length` characters, an ellipsis marking a cut."""
    return value if len(value) <= length else value[: length - 1] + "…"


def printable(value: str, length: int = SHOWN_LENGTH) -> str:
    """`value` clipped, with every character that is not plain shown as an escape."""
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in _NOT_PLAIN
        else char
        for char in clip(value, length)
    )


def shown_command(args: Sequence[str]) -> str:
    """A command as a shell reads it, for a message: its control characters escaped
    (a path may hold a terminal escape sequence), never clipped."""
    return printable(shlex.join(args), length=4096)


def shown(value: str, length: int = SHOWN_LENGTH) -> str:
    """`value` quoted for a message: clipped and escaped, like 'abc\\x1b[2J…'."""
    return f"'{printable(value, length)}'"
