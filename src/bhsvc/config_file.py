"""Reading `bhsvc.yaml` into plain data, before (and without) the config model."""

from __future__ import annotations

from pathlib import Path

import yaml

from bhsvc.errors import ConfigError
from bhsvc.files import DOCUMENT_LIMIT, UnusableFile, read_user_file, shown_path
from bhsvc.yaml_input import Document, describe_yaml_error, load_document


def read_config_document(path: Path) -> Document:
    """The file's YAML document and its keys' positions; every failure is a
    ConfigError (exit code 2) that names the file and never quotes it."""
    try:
        text = read_user_file(path, "config file", DOCUMENT_LIMIT)
    except UnusableFile as err:
        if err.missing:
            raise ConfigError(
                f"{shown_path(path)}: config file not found "
                "(create one with 'bhsvc init' or pass --config)"
            ) from None
        raise ConfigError(str(err)) from None
    try:
        return load_document(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{shown_path(path)}: not valid YAML{describe_yaml_error(err)}") from None
