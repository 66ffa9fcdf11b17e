"""From a file (or data already read) to a `Config`, or one ConfigError saying why not."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bhsvc.config.model import Config
from bhsvc.config.wording import format_validation_error, kind
from bhsvc.config_file import read_config_document
from bhsvc.errors import ConfigError
from bhsvc.files import shown_path
from bhsvc.yaml_input import Position

_TOP_KEYS = ", ".join(Config.model_fields)


def parse_config(
    data: Any,
    source: str,
    base_dir: Path = Path("."),
    positions: Mapping[tuple[str, ...], Position] | None = None,
) -> Config:
    """Validate an already-parsed mapping; raises ConfigError naming each bad field.

    `positions`: where the file's keys are (line, column), to name unknown ones by.
    """
    if data is None:
        raise ConfigError(f"{source}: the file is empty")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: not a bhsvc config file: expected a mapping of keys at the top "
            f"level, found {kind(data)}"
        )
    if not data.keys() & Config.model_fields.keys():
        # Another kind of file (-c /etc/passwd): its keys are not worth listing.
        raise ConfigError(
            f"{source}: not a bhsvc config file: none of its top-level keys is one of {_TOP_KEYS}"
        )
    try:
        return validate(data, base_dir)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source, positions)) from None


def validate(data: Mapping[str, Any], base_dir: Path) -> Config:
    """The model of a mapping, relative paths resolved against `base_dir`;
    pydantic's ValidationError when it is refused."""
    config = Config.model_validate(data)
    config._base_dir = base_dir
    return config


def load_config(path: Path) -> Config:
    """Read and validate `bhsvc.yaml`; every failure is a ConfigError (exit code 2)."""
    document = read_config_document(path)
    return parse_config(document.data, shown_path(path), path.parent, document.positions)
