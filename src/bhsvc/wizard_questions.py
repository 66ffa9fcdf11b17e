"""The wizard's questions, one key at a time: asked until the model's rule for that key
accepts the answer, and kept under the key's dotted path; with the pure helpers
that read and change those answers."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from rich.markup import escape

from bhsvc.config import KeyProblem
from bhsvc.config.fields import field_rule
from bhsvc.config.wording import problem_lines, suggestion
from bhsvc.errors import UsageError
from bhsvc.merge import value_at
from bhsvc.prompts import Prompter, confirm, read_answer
from bhsvc.text import clip, printable, shown

_NAME = "[A-Za-z_][A-Za-z0-9_]*"
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,12}")
_VARIABLE = re.compile(rf"\$(?:(?P<name>{_NAME})|\{{(?P<braced>{_NAME})\}})")


def get_path(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path such as `registry.gar.project`."""
    return value_at(data, path.split("."))


def with_path(data: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of `data` with `path` set to `value` (None removes it)."""
    result = copy.deepcopy(dict(data))
    node = result
    *parents, last = path.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value
    return result


def expand_path(text: str, env: Mapping[str, str], home: Path) -> str:
    """A path answer as a shell reads it: a leading ~ is the home folder, $NAME and
    ${NAME} the variable's value (unset: a ValueError)."""

    def value(match: re.Match[str]) -> str:
        name = match["name"] or match["braced"]
        if name not in env:
            raise ValueError(f"${name} is not set")
        return env[name]

    if text == "~" or text.startswith("~/"):
        text = str(home) + text[1:]
    return _VARIABLE.sub(value, text)


def whole_number(text: str) -> int | str:
    """A number answer as the file would hold it; anything else stays text, for the
    key's rule to refuse in the file's words."""
    return int(text) if _WHOLE_NUMBER.fullmatch(text) else text


def _leaves(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict) and data:
        for key, value in data.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif prefix:
        yield prefix, data


def _value_text(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return printable(text.removesuffix("\n...").removesuffix(" ..."))


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two configs, key by key: 'kube.namespace: a → b'."""
    before, after = dict(_leaves(dict(old))), dict(_leaves(dict(new)))
    lines = []
    for key in [*after, *(k for k in before if k not in after)]:
        if key == "version" or before.get(key, ...) == after.get(key, ...):
            continue
        if key not in before:
            lines.append(f"{key}: {_value_text(after[key])} (new)")
        elif key not in after:
            lines.append(f"{key}: removed (was {_value_text(before[key])})")
        else:
            lines.append(f"{key}: {_value_text(before[key])} → {_value_text(after[key])}")
    return lines


def image_prefix_warning(prefix: str) -> str | None:
    """A prefix BinderHub glues to the build's name without a separator reads badly."""
    if prefix.endswith(("-", "/")):
        return None
    return (
        f"images will be named {prefix}<name>, such as {prefix}binder-2dexamples-2drequirements"
        "-55ab5c; end the prefix with '-' or '/' to set the name apart"
    )


class Questions:
    """Asking for keys of the config; `data` holds the answers kept so far."""

    def __init__(
        self, prompter: Prompter, env: Mapping[str, str] | None = None, home: Path | None = None
    ) -> None:
        self.p = prompter
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.home = home
        self.data: dict[str, Any] = {"version": 1}

    # -- primitives --

    def _prompt(self, label: str, default: str | None, hint: str | None = None) -> str:
        text = f"[bold]{escape(label)}[/]"
        if hint:
            text += f" [dim]({escape(hint)})[/]"
        if default:
            text += f" [cyan]\\[{escape(default)}][/]"
        return text + ": "

    def _refuse(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.p.say(f"[red]✗[/] {escape(line)}")

    def warn(self, message: str) -> None:
        self.p.say(f"[yellow]warning:[/] {escape(message)}")

    def ask(
        self,
        path: str,
        label: str,
        default: str | None,
        hint: str | None = None,
        none_means: str | None = None,
        check: Callable[[str], None] | None = None,
        expand: bool = False,
        convert: Callable[[str], Any] | None = None,
    ) -> Any:
        """Ask for the key at `path` until the model's rule for it accepts the answer
        (text, or what `convert` makes of it), and `check` (rules joining it to earlier
        answers); then keep it, and return it.

        `none_means`: the key may stay unset, which means this (the documented
        default): Enter without a default, or '-' with one, chooses it.
        """
        if none_means is not None:
            hint = f"{'-' if default else 'empty'}: {none_means}"
        while True:
            answer = read_answer(self.p, self._prompt(label, default, hint)).strip()
            value = None if answer == "-" and none_means is not None else answer or default
            if not value:
                if none_means is None:
                    self.p.say("[red]✗[/] an answer is needed")
                    continue
                self.data = with_path(self.data, path, None)
                return None
            kept = self._checked(path, value, check, expand, convert)
            if isinstance(kept, list):
                self._refuse(kept)
                continue
            self.data = with_path(self.data, path, kept)
            return kept

    def ask_number(self, path: str, label: str, default: int | None, none_means: str) -> int | None:
        """`ask` for a key that holds a whole number."""
        shown_default = None if default is None else str(default)
        answer: int | None = self.ask(
            path, label, shown_default, none_means=none_means, convert=whole_number
        )
        return answer

    def _checked(
        self,
        path: str,
        value: str,
        check: Callable[[str], None] | None = None,
        expand: bool = False,
        convert: Callable[[str], Any] | None = None,
    ) -> Any:
        """The answer as it is kept, or the lines (a list) saying what is wrong with it."""
        try:
            if expand:
                value = expand_path(value, self.env, self.home or Path.home())
            if convert is not None:
                value = convert(value)
            field_rule(path).validate_python(value)
            if check is not None:
                check(value)
        except ValidationError as err:
            return problem_lines(err, tuple(path.split(".")))
        except KeyProblem as err:
            return [f"{err.key}: {err}"]
        except (ValueError, UsageError) as err:
            return [f"{path}: {err}"]
        return value

    def choose(
        self,
        path: str,
        label: str,
        options: Sequence[str],
        default: str,
        notes: Mapping[str, str],
    ) -> str:
        """One of `options`, by number or name, that the rule of the key at `path`
        accepts; then keep it."""
        for position, option in enumerate(options, start=1):
            note = f" [dim]{escape(notes[option])}[/]" if option in notes else ""
            self.p.say(f"  {position}) {escape(option)}{note}")
        last = len(options)
        while True:
            answer = read_answer(self.p, self._prompt(label, default, "number or name"))
            answer = answer.strip() or default
            digits = answer.isascii() and answer.isdigit() and answer not in options
            if digits and len(answer) < 10 and 1 <= int(answer) <= last:
                answer = options[int(answer) - 1]
            elif answer not in options:
                if digits:
                    problem = f"{clip(answer)} is not a number from 1 to {last}"
                else:
                    problem = f"{shown(answer)} is not one of them"
                    problem += suggestion(answer, list(options))
                self.p.say(f"[red]✗[/] {escape(problem)}: answer 1 to {last}, or a name")
                continue
            kept: list[str] | str = self._checked(path, answer)
            if isinstance(kept, list):  # e.g. a context name bhsvc cannot pass on to helm
                self._refuse(kept)
                continue
            self.data = with_path(self.data, path, kept)
            return kept

    def confirm(self, question: str, default: bool) -> bool:
        return confirm(question, default, self.p)
