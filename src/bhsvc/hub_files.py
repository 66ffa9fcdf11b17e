"""The user's own z2jh values files: read, never rewritten.

render, deploy and connect-hub read them the same way, so what `render` writes
is what `deploy` installs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bhsvc import hub as hub_mod
from bhsvc.config import Config
from bhsvc.errors import UsageError
from bhsvc.files import read_values_file
from bhsvc.merge import deep_merge
from bhsvc.workdir import HUB_VALUES_FILE, values_dir


@dataclass(frozen=True)
class HubUserValues:
    """The user's own z2jh values files, read once, in the order helm gets them."""

    files: list[Path]
    values: list[dict[str, Any]]

    def merged(self, config: Config) -> dict[str, Any]:
        """What helm holds before bhsvc's file: these files, then hub.values."""
        return hub_mod.merged_hub_values(config, self.values)

    def effective(self, config: Config, service: tuple[str, int] | None = None) -> dict[str, Any]:
        """What the hub release will hold: these files, then bhsvc's file."""
        existing = self.merged(config)
        return deep_merge(existing, hub_mod.z2jh_values(config, existing, service))


def hub_user_values(config: Config, extra_files: Sequence[Path] = ()) -> HubUserValues:
    """hub.values_files, then --hub-values files; a file named twice is read once.

    bhsvc's own hub values file is refused: it is rewritten on every run.
    """
    own = (values_dir(config) / HUB_VALUES_FILE).resolve()
    named = [(p, "hub.values_files") for p in config.hub_values_files]
    named += [(Path(p), "--hub-values") for p in extra_files]
    files: list[Path] = []
    values: list[dict[str, Any]] = []
    for path, origin in named:
        if path.resolve() == own:
            raise UsageError(
                f"{path}: this is the file bhsvc writes ({origin}); pass your own values files"
            )
        if path.resolve() in {f.resolve() for f in files}:
            continue
        values.append(read_values_file(path, origin))
        files.append(path)
    return HubUserValues(files, values)
