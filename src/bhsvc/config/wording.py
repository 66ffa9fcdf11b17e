"""How a refused config reads: one line per problem, naming the key, in the file's terms.

Nothing of the file is repeated in full: unknown keys are named by their
position and shown clipped, values are clipped and escaped, and a file that is
no bhsvc config at all is said to be one, not listed key by key.
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bhsvc.config.fields import section_at
from bhsvc.config.rules import KeyProblem
from bhsvc.text import printable, shown
from bhsvc.yaml_input import Position

# A file of thousands of bad keys is not worth thousands of lines.
MAX_PROBLEMS = 20
KEY_LENGTH = 40

# pydantic's wording for a value of the wrong kind names Python types
# ("instance of HubSettings", "<class 'pathlib.Path'>"); say it in YAML's terms.
_EXPECTED = {
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dict_type": "a mapping",
    "string_type": "text",
    "list_type": "a list",
    "path_type": "a path",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
}


def kind(value: Any) -> str:
    """What a YAML value is, in the file's terms."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, datetime.date):
        return "a date"
    return "another kind of value"


def field_path(loc: tuple[int | str, ...]) -> str:
    """A key's dotted path, each part clipped and escaped (it may be any text)."""
    return ".".join(printable(str(part), KEY_LENGTH) for part in loc) or "(top level)"


def suggestion(word: object, choices: list[str]) -> str:
    """'; did you mean X?' for a near miss of one of `choices`, else ''."""
    if not isinstance(word, str):
        return ""
    lowered = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.7)
    return f"; did you mean {lowered[close[0]]}?" if close else ""


def _unknown_key(loc: tuple[int | str, ...], positions: Mapping[tuple[str, ...], Position]) -> str:
    message = "unknown key"
    where = positions.get(tuple(str(part) for part in loc))
    if where is not None:
        message += f" (line {where[0]}, column {where[1]})"
    section = section_at(tuple(str(part) for part in loc[:-1]))
    if section is not None:
        message += suggestion(loc[-1], list(section.model_fields))
    return message


def _message(item: ErrorDetails, positions: Mapping[tuple[str, ...], Position]) -> str:
    value = item.get("input")
    expected = _EXPECTED.get(item["type"])
    if expected is not None:
        if value is None:
            return f"is empty; expected {expected}"
        return f"expected {expected}, got {kind(value)}"
    if item["type"] == "extra_forbidden":
        return _unknown_key(item["loc"], positions)
    if item["type"] == "missing":
        return "required key is missing"
    if item["type"] == "literal_error":
        choices = re.findall(r"'([^']*)'", str(item.get("ctx", {}).get("expected", "")))
        got = shown(value) if isinstance(value, str) else kind(value)
        return f"expected one of {', '.join(choices)}, got {got}{suggestion(value, choices)}"
    return printable(str(item["msg"]).removeprefix("Value error, "), length=300)


def problems(
    err: ValidationError,
    prefix: tuple[str, ...] = (),
    positions: Mapping[tuple[str, ...], Position] | None = None,
    most: int | None = None,
) -> list[tuple[tuple[int | str, ...], str]]:
    """(key path, problem) for each problem (the first `most`); `prefix` is where the
    validated value sits."""
    found = []
    for item in err.errors()[:most]:
        loc = prefix + tuple(part for part in item["loc"] if not str(part).startswith("function-"))
        problem = item.get("ctx", {}).get("error")
        if isinstance(problem, KeyProblem):
            loc += tuple(problem.key.split("."))
        found.append((loc, _message({**item, "loc": loc}, positions or {})))
    return found


def problem_lines(
    err: ValidationError,
    prefix: tuple[str, ...] = (),
    positions: Mapping[tuple[str, ...], Position] | None = None,
) -> list[str]:
    """'<key path>: <problem>' for each problem (at most MAX_PROBLEMS lines)."""
    found = problems(err, prefix, positions, most=MAX_PROBLEMS)
    lines = [f"{field_path(loc)}: {message}" for loc, message in found]
    if err.error_count() > MAX_PROBLEMS:
        lines.append(f"... and {err.error_count() - MAX_PROBLEMS} more problems")
    return lines


def format_validation_error(
    err: ValidationError, source: str, positions: Mapping[tuple[str, ...], Position] | None = None
) -> str:
    lines = [f"{source}: invalid configuration"]
    lines += [f"  {line}" for line in problem_lines(err, positions=positions)]
    return "\n".join(lines)
