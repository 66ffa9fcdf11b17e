"""Reading `bhsvc.yaml` into plain data, before (and without) the config model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bhsvc.errors import ConfigError
from bhsvc.files import describe_yaml_error, load_yaml


def read_config_data(path: Path) -> Any:
    """The file's YAML document; every failure is a ConfigError (exit code 2)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found (create one with 'bhsvc init' or pass --config)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot read the config file (permission denied)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the config file is not UTF-8 text") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file ({err.strerror})") from None
    try:
        return load_yaml(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML{describe_yaml_error(err)}") from None
