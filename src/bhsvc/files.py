"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bhsvc.errors import UsageError

SECRET_MODE = 0o600


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644, durable: bool = False) -> None:
    """Write via a temp file in the same directory, created with `mode`, then rename.

    Secrets pass SECRET_MODE: the temp file has that mode from its creation, so
    the content is never readable by others, not even for a moment. `durable`
    also syncs to disk before the rename, for files that cannot be made again
    (keys, the user's config); rendered files skip that cost.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as err:
        raise _naming(path, err) from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _naming(path, err) from None
        raise


def write_if_changed(path: Path, data: str, mode: int) -> bool:
    """write_atomic, unless the file holds `data` with `mode` already: a run that
    changes nothing leaves the file, its time and its inode alone."""
    try:
        if path.read_text(encoding="utf-8") == data and (path.stat().st_mode & 0o777) == mode:
            return False
    except (OSError, UnicodeDecodeError):
        pass  # missing or unreadable: written below, which reports a real problem
    write_atomic(path, data, mode)
    return True


def _naming(path: Path, err: OSError) -> OSError:
    """The same error about `path`, not the temp file beside it (OSError picks the
    subclass from errno, so callers still catch IsADirectoryError and the like)."""
    return OSError(err.errno, err.strerror, str(path))


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (config snippets, scripts) as readable `|` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def yaml_text(data: object, header: str = "", sort_keys: bool = False) -> str:
    body = yaml.dump(data, Dumper=_BlockDumper, sort_keys=sort_keys, default_flow_style=False)
    return f"{header}{body}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load's loader, refusing a key given twice in one mapping.

    YAML forbids duplicate keys, but PyYAML keeps the last one silently: a second
    `kube:` section would replace the first without a word.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
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
                    f"duplicate key {key!r} (first at line {first.line + 1})",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """One YAML document, as yaml.safe_load reads it but refusing duplicate keys.

    Every failure is a yaml.YAMLError, also the ones PyYAML raises as Python
    errors: a scalar it cannot turn into a value (`2001-02-30`), nesting too deep.
    """
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except (ValueError, OverflowError, RecursionError) as err:
        problem = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise yaml.constructor.ConstructorError(None, None, problem, None) from None


def describe_yaml_error(err: yaml.YAMLError) -> str:
    """Where and what, as one short phrase: ' at line 3, column 7: found ...'."""
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(err, "problem", None) or "syntax error"
    return f"{where}: {problem}"


def read_values_file(path: Path, origin: str) -> dict[str, Any]:
    """A user's chart values file: a YAML mapping (an empty file: no values).

    `origin` says where the path came from (a flag or a config key) for the message.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: values file not found ({origin})") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError):
        raise UsageError(f"{path}: cannot read the values file ({origin})") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as err:
        raise UsageError(f"{path}: not valid YAML{describe_yaml_error(err)} ({origin})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of chart values ({origin})")
    return data
