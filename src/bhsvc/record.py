"""bhsvc's record of the hub releases it installed: `.bhsvc/installed.yaml`.

deploy and connect-hub install the hub release when it does not exist yet, and
otherwise only upgrade it: nothing on the cluster tells these apart later (helm
keeps no note of who installed a release). So when bhsvc installs it, it records
the release with helm's first-deployed time of it, and `uninstall --hub` removes a
hub release only when the cluster's release is that one: a release of the same
name installed by someone else later is never bhsvc's.

The record is local, like the values files beside it: a checkout elsewhere
starts without it, and then treats the hub as one bhsvc only connected.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from bhsvc.config import STATE_DIR, Config
from bhsvc.errors import OperationError, UsageError
from bhsvc.files import SECRET_MODE, read_user_file, write_atomic
from bhsvc.workdir import GENERATED, check_writable, remove_file

RECORD_FILE = "installed.yaml"
HEADER = GENERATED + "deploy and connect-hub: the hub releases bhsvc installed (do not edit).\n"
_LIMIT = 256 * 1024


@dataclass(frozen=True)
class InstalledHub:
    server: str  # the cluster's API server
    namespace: str
    release: str
    first_deployed: str  # helm's time of the release's first revision


def record_path(config: Config) -> Path:
    return config.path(Path(STATE_DIR) / RECORD_FILE)


def read(path: Path) -> list[InstalledHub]:
    """The hubs recorded; none when there is no record. Anything but a record bhsvc
    wrote is bad input (it is never written over)."""
    if not path.exists():
        return []
    text = read_user_file(path, "bhsvc's record", _LIMIT)
    try:
        if not text.startswith(GENERATED):
            raise ValueError("no header")
        data = yaml.safe_load(text) or {}
        return [InstalledHub(**_fields(entry)) for entry in data.get("hubs") or []]
    except (ValueError, TypeError, AttributeError, yaml.YAMLError):
        raise UsageError(
            f"{path}: not a record bhsvc wrote; move it away (bhsvc then treats the hub as "
            "one it did not install)"
        ) from None


def _fields(entry: Any) -> dict[str, str]:
    if not isinstance(entry, dict) or set(entry) != set(InstalledHub.__dataclass_fields__):
        raise ValueError("not an entry of the record")
    return {k: str(v) for k, v in entry.items()}


def _write(path: Path, hubs: list[InstalledHub]) -> None:
    """Write the record (0600, atomically); without hubs, the file goes."""
    check_writable(path, ())
    if not hubs:
        remove_file(path)
        return
    text = HEADER + yaml.safe_dump({"hubs": [asdict(hub) for hub in hubs]}, sort_keys=False)
    try:
        write_atomic(path, text, SECRET_MODE)
    except OSError as err:
        raise OperationError(f"{path}: cannot write bhsvc's record ({err.strerror})") from None


def installed_hub(path: Path, server: str, namespace: str, release: str) -> str | None:
    """helm's first-deployed time of the hub release bhsvc installed there, or None."""
    for hub in read(path):
        if (hub.server, hub.namespace, hub.release) == (server, namespace, release):
            return hub.first_deployed
    return None


def note_installed_hub(path: Path, hub: InstalledHub) -> None:
    """Record that bhsvc installed this hub release (replacing an older entry of it)."""
    _write(path, [*_others(read(path), hub.server, hub.namespace, hub.release), hub])


def forget_hub(path: Path, server: str, namespace: str, release: str) -> None:
    hubs = read(path)
    others = _others(hubs, server, namespace, release)
    if others != hubs:
        _write(path, others)


def _others(
    hubs: list[InstalledHub], server: str, namespace: str, release: str
) -> list[InstalledHub]:
    return [h for h in hubs if (h.server, h.namespace, h.release) != (server, namespace, release)]
