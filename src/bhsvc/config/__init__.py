"""The `bhsvc.yaml` model: the one place where configuration is validated.

The interactive wizard, command-line flags and the file all build a `Config`
through this package, so every answer gets the same checks and messages.

- `rules`: the text rules of the keys (names, URL paths, chart references,
  paths) and the building blocks of sections;
- `registry`, `hub`: the rules and the sections of each concern;
- `model`: the sections joined into `Config`, and what derives from it;
- `fields`: one key's rule on its own, for the wizard's answers;
- `wording`, `loading`: how a refusal reads, and from a file to a `Config`.
"""

from __future__ import annotations

from bhsvc.config.hub import FANCY_PROFILES_HUB_IMAGE
from bhsvc.config.loading import load_config, parse_config
from bhsvc.config.model import DEFAULT_CONFIG_PATH, STATE_DIR, Config
from bhsvc.config.registry import (
    PROVIDER_IMAGE_HOSTS,
    PROVIDER_SERVERS,
    ProjectId,
    image_host,
    server_host,
)
from bhsvc.config.rules import KeyProblem

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "FANCY_PROFILES_HUB_IMAGE",
    "PROVIDER_IMAGE_HOSTS",
    "PROVIDER_SERVERS",
    "STATE_DIR",
    "Config",
    "KeyProblem",
    "ProjectId",
    "image_host",
    "load_config",
    "parse_config",
    "server_host",
]
