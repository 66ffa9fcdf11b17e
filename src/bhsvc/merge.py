"""Chart values as nested mappings: merged the way helm merges values files, and
read at a path."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` merged into a copy of `base`: mappings key by key, anything else
    (lists included) replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def value_at(values: Mapping[str, Any], path: Iterable[str], default: Any = None) -> Any:
    """The value at `path` (keys, outermost first), or `default` where it stops."""
    node: Any = values
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node
