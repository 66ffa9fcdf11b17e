"""YAML from the user (bhsvc.yaml, chart values files), read strictly.

One document, as yaml.safe_load reads it, but refusing what would go wrong later
or elsewhere: a key given twice, numbers helm cannot hold (.inf, .nan, thousands
of digits), text that is not text (an unpaired surrogate escape), and aliases
that expand into more values than any real file holds. Every refusal is a
yaml.YAMLError saying where and what, without quoting the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from bhsvc.text import has_surrogate, printable

# A document with aliases may hold at most this many values once they are expanded.
EXPANDED_LIMIT = 100_000
# How deep key positions are recorded: bhsvc.yaml's own keys, not chart values.
POSITION_DEPTH = 3

Position = tuple[int, int]  # line and column, counted from 1


# libyaml's parser when PyYAML has it: ten times faster on a large file.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[misc]
    """yaml.safe_load's loader with the refusals above."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # YAML forbids duplicate keys, but PyYAML keeps the last one silently: a second
        # `kube:` section would replace the first without a word.
        first_seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` may be overridden by the keys beside it
            key = self.construct_object(key_node, deep=True)
            try:
                first = first_seen.setdefault(key, key_node.start_mark)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if first is not key_node.start_mark:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {_key_text(key)} (first at line {first.line + 1})",
                    key_node.start_mark,
                )
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping

    def construct_scalar(self, node: yaml.ScalarNode | yaml.MappingNode) -> str:
        # libyaml refuses a surrogate escape itself; PyYAML's own parser reads it.
        value: str = super().construct_scalar(node)
        if has_surrogate(value):
            raise _refused(node, "an unpaired surrogate escape (\\ud800-\\udfff) is not text")
        return value

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            number: int = super().construct_yaml_int(node)
            return number
        except ValueError:  # Python refuses to read more than 4300 digits
            digits = sum(char.isdigit() for char in node.value)
            raise _refused(node, f"a number with {digits} digits is too long") from None

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        value: float = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise _refused(node, "infinite and not-a-number values (.inf, .nan) are not allowed")
        return value


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)


def _refused(node: yaml.Node, problem: str) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


def _key_text(key: object) -> str:
    return f"'{printable(key)}'" if isinstance(key, str) else printable(repr(key))


@dataclass(frozen=True)
class Document:
    """A YAML document's data, where its keys are (see load_document), and its text."""

    data: Any
    positions: dict[tuple[str, ...], Position] = field(default_factory=dict)
    text: str = ""


def load_document(text: str) -> Document:
    """One YAML document (see the module's docstring), with the positions of its keys
    down to POSITION_DEPTH mappings deep.

    Every failure is a yaml.YAMLError, also the ones PyYAML raises as Python errors:
    a scalar it cannot turn into a value (`2001-02-30`), nesting too deep.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(None, text=text)
        positions = dict(_key_positions(node, ()))
        data = loader.construct_document(node)
    except (ValueError, OverflowError, RecursionError) as err:
        problem = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise yaml.constructor.ConstructorError(None, None, problem, None) from None
    finally:
        loader.dispose()
    if _shares_parts(data) and not _within(data, EXPANDED_LIMIT):
        raise yaml.constructor.ConstructorError(
            None, None, f"its aliases expand to more than {EXPANDED_LIMIT} values", None
        )
    return Document(data, positions, text)


def load_yaml(text: str) -> Any:
    """The data of one YAML document, read as load_document reads it."""
    return load_document(text).data


def _key_positions(
    node: yaml.Node, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], Position]]:
    if not isinstance(node, yaml.MappingNode) or len(path) >= POSITION_DEPTH:
        return
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            key_path = (*path, key_node.value)
            yield key_path, (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            yield from _key_positions(value_node, key_path)


def _shares_parts(data: Any) -> bool:
    """Whether a mapping or list appears more than once: what aliases make."""
    seen: set[int] = set()
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, (dict, list)):
            if id(item) in seen:
                return True
            seen.add(id(item))
            pending.extend(item.values() if isinstance(item, dict) else item)
    return False


def _within(data: Any, limit: int) -> bool:
    """Whether `data`, its shared parts counted each time they appear, holds at most
    `limit` values (a cycle never does)."""
    count = 0
    pending = [data]
    while pending:
        item = pending.pop()
        count += 1
        if count > limit:
            return False
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def describe_yaml_error(err: yaml.YAMLError) -> str:
    """Where and what, as one short phrase: ' at line 3, column 7: found ...'."""
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(err, "problem", None) or "syntax error"
    return f"{where}: {printable(problem, length=200)}"
