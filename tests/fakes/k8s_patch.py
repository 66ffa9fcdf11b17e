"""The patch formats the Kubernetes API accepts, applied to plain JSON objects.

- JSON merge patch (RFC 7386): `application/merge-patch+json`
- JSON patch (RFC 6902): `application/json-patch+json`
- strategic merge patch: `application/strategic-merge-patch+json`, with the merge
  keys of the built-in types that helm's three-way patches touch
- server-side apply: `application/apply-patch+yaml`, for a single field manager
"""

from __future__ import annotations

import copy
from typing import Any

JSON = Any

# Strategic merge: list fields merged by a key instead of replaced (from the
# `patchMergeKey` tags of the core types). `ports` depends on where it is.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
# Lists of scalars merged as sets (patchStrategy: merge on a primitive list).
MERGED_PRIMITIVE_LISTS = {"finalizers"}


class PatchError(ValueError):
    """The patch cannot be applied (the API answers 422 or 400)."""


def merge_patch(target: JSON, patch: JSON) -> JSON:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _walk(doc: JSON, parts: list[str]) -> JSON:
    for part in parts:
        if isinstance(doc, list):
            doc = doc[int(part)]
        elif isinstance(doc, dict):
            if part not in doc:
                raise PatchError(f"path element {part!r} not found")
            doc = doc[part]
        else:
            raise PatchError(f"cannot descend into {part!r}")
    return doc


def _add(doc: JSON, parts: list[str], value: JSON) -> JSON:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            parent.insert(int(last), value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise PatchError("add target is not a container")
    return doc


def _remove(doc: JSON, parts: list[str]) -> JSON:
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    try:
        if isinstance(parent, list):
            return parent.pop(int(last))
        return parent.pop(last)
    except (KeyError, IndexError, ValueError):
        raise PatchError(f"cannot remove {last!r}: not found") from None


def json_patch(target: JSON, operations: JSON) -> JSON:
    """RFC 6902."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch is a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        kind = op.get("op")
        parts = _pointer(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _walk(doc, parts)  # must exist
            if not parts:
                doc = copy.deepcopy(op["value"])
            else:
                _remove(doc, parts)
                doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif kind == "test":
            if _walk(doc, parts) != op["value"]:
                raise PatchError(f"test failed at {op.get('path')}")
        elif kind in ("move", "copy"):
            value = _walk(doc, _pointer(op["from"]))
            if kind == "move":
                _remove(doc, _pointer(op["from"]))
            doc = _add(doc, parts, copy.deepcopy(value))
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


def _merge_key(field: str, path: tuple[str, ...]) -> str | None:
    if field == "ports":
        # Container ports merge on containerPort, Service ports on port.
        in_container = any(
            p in ("containers", "initContainers", "ephemeralContainers") for p in path
        )
        return "containerPort" if in_container else "port"
    return MERGE_KEYS.get(field)


def strategic_merge_patch(target: JSON, patch: JSON, path: tuple[str, ...] = ()) -> JSON:
    """Strategic merge patch of a map, with the directives `$patch`, `$retainKeys`,
    `$setElementOrder/<field>` and `$deleteFromPrimitiveList/<field>`."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if k != "$patch"}
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in body.items() if not k.startswith("$")}
    result: dict[str, Any] = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = body.pop("$retainKeys", None)
    orders = {}
    deletions = {}
    for key in list(body):
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = body.pop(key)
        elif key.startswith("$deleteFromPrimitiveList/"):
            deletions[key.split("/", 1)[1]] = body.pop(key)
    if retain is not None:
        result = {k: v for k, v in result.items() if k in retain}
    for field, values in deletions.items():
        if isinstance(result.get(field), list):
            result[field] = [v for v in result[field] if v not in values]
    for key, value in body.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value, (*path, key))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, path)
        else:
            result[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _reorder(field, result[field], order, path)
    return result


def _merge_list(field: str, current: JSON, patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    if field in MERGED_PRIMITIVE_LISTS:
        merged = list(current or [])
        merged += [v for v in patch if v not in merged]
        return merged
    key = _merge_key(field, path)
    if key is None or not all(isinstance(item, dict) for item in patch):
        return copy.deepcopy(patch)
    if any(item.get("$patch") == "replace" for item in patch):
        return [copy.deepcopy(i) for i in patch if i.get("$patch") != "replace"]
    result = copy.deepcopy(current) if isinstance(current, list) else []
    for item in patch:
        wanted = item.get(key)
        index = next(
            (i for i, old in enumerate(result) if isinstance(old, dict) and old.get(key) == wanted),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(strategic_merge_patch({}, item, (*path, field)))
        else:
            result[index] = strategic_merge_patch(result[index], item, (*path, field))
    return result


def _reorder(field: str, items: list[Any], order: list[Any], path: tuple[str, ...]) -> list[Any]:
    key = _merge_key(field, path)
    if key is None:
        return items

    def rank(item: Any) -> int:
        for position, entry in enumerate(order):
            if (
                isinstance(entry, dict)
                and isinstance(item, dict)
                and entry.get(key) == item.get(key)
            ):
                return position
        return len(order)

    return sorted(items, key=rank)


def apply_patch(live: JSON, applied: JSON, previously_applied: JSON) -> JSON:
    """Server-side apply for one field manager: fields the manager set before and
    leaves out now are removed; everything it sets now wins."""
    result = _prune(
        copy.deepcopy(live) if isinstance(live, dict) else {}, previously_applied, applied
    )
    return _overlay(result, applied)


def _prune(live: dict[str, Any], before: JSON, now: JSON) -> dict[str, Any]:
    if not isinstance(before, dict):
        return live
    now = now if isinstance(now, dict) else {}
    for key, old in before.items():
        if key not in now:
            live.pop(key, None)
        elif isinstance(old, dict) and isinstance(live.get(key), dict):
            live[key] = _prune(live[key], old, now[key])
    return live


def _overlay(live: dict[str, Any], applied: dict[str, Any]) -> dict[str, Any]:
    for key, value in applied.items():
        if isinstance(value, dict) and isinstance(live.get(key), dict):
            live[key] = _overlay(live[key], value)
        else:
            live[key] = copy.deepcopy(value)
    return live
