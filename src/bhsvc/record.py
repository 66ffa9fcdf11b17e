"""bhsvc's record of where it deployed from one config: `.bhsvc/deployed.yaml`.

- *places*: each cluster (by its API server), namespace, BinderHub release and
  hub release that deploy or connect-hub acted on, added before they change
  anything. When the config moves (another namespace or release name, the hub
  turned off), the places left are where deploy looks for what it left behind
  (`bhsvc.orphans`); removing them forgets the place.
- *installed hubs*: a hub release bhsvc installed itself (it did not exist
  before), with helm's first-deployed time of that release. `uninstall --hub`
  removes a hub release only when the cluster's release is that one: a release
  of the same name installed by someone else later is never bhsvc's.

The record is local, like the values files beside it: a checkout elsewhere
starts without it (and then treats the hub as one bhsvc only connected).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from bhsvc.config import STATE_DIR, Config
from bhsvc.errors import OperationError, UsageError
from bhsvc.files import SECRET_MODE, read_user_file, write_atomic
from bhsvc.workdir import GENERATED, check_writable, remove_file

RECORD_FILE = "deployed.yaml"
HEADER = (
    GENERATED + "its deploy, connect-hub and uninstall runs: where they acted (bhsvc reads "
    "this record; do not edit it).\n"
)
_LIMIT = 256 * 1024


@dataclass(frozen=True)
class Place:
    """Where one run acted: BinderHub's namespace and release, and the hub's."""

    server: str
    namespace: str
    release: str
    hub_namespace: str | None = None
    hub_release: str | None = None


@dataclass(frozen=True)
class InstalledHub:
    server: str
    namespace: str
    release: str
    first_deployed: str


@dataclass(frozen=True)
class Record:
    places: tuple[Place, ...] = ()
    hubs: tuple[InstalledHub, ...] = field(default=())


def record_path(config: Config) -> Path:
    return config.path(Path(STATE_DIR) / RECORD_FILE)


def place_of(config: Config, server: str) -> Place:
    hub = config.hub
    return Place(
        server,
        config.kube.namespace,
        config.binderhub.release,
        config.hub_namespace if hub.enabled else None,
        hub.release if hub.enabled else None,
    )


def read(path: Path) -> Record:
    """The record; empty when there is none. Anything but a record bhsvc wrote is bad
    input (it is never written over)."""
    if not path.exists():
        return Record()
    text = read_user_file(path, "bhsvc's record", _LIMIT)
    try:
        if not text.startswith(GENERATED):
            raise ValueError("no header")
        data = yaml.safe_load(text) or {}
        return Record(
            tuple(Place(**_fields(entry, Place)) for entry in data.get("places") or []),
            tuple(InstalledHub(**_fields(entry, InstalledHub)) for entry in data.get("hubs") or []),
        )
    except (ValueError, TypeError, AttributeError, yaml.YAMLError):
        raise UsageError(
            f"{path}: not a record bhsvc wrote; move it away (bhsvc then forgets where it "
            "deployed before)"
        ) from None


def _fields(entry: Any, kind: type[Place] | type[InstalledHub]) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError("an entry that is not a mapping")
    names = set(kind.__dataclass_fields__)
    if not set(entry) <= names:
        raise ValueError("unknown keys")
    return {k: None if v is None else str(v) for k, v in entry.items()}


def write(path: Path, record: Record) -> None:
    """Write the record (0600, atomically); an empty one removes the file."""
    check_writable(path, ())
    if not record.places and not record.hubs:
        remove_file(path)
        return
    data = {
        "places": [asdict(place) for place in record.places],
        "hubs": [asdict(hub) for hub in record.hubs],
    }
    try:
        write_atomic(path, HEADER + yaml.safe_dump(data, sort_keys=False), SECRET_MODE)
    except OSError as err:
        raise OperationError(f"{path}: cannot write bhsvc's record ({err.strerror})") from None


def update(path: Path, change: Callable[[Record], Record]) -> None:
    """Read, change and write the record (nothing written when nothing changed)."""
    before = read(path)
    after = change(before)
    if after != before:
        write(path, after)


def add_place(path: Path, place: Place) -> None:
    update(path, lambda r: r if place in r.places else replace(r, places=(*r.places, place)))


def forget_places(path: Path, places: tuple[Place, ...]) -> None:
    update(path, lambda r: replace(r, places=tuple(p for p in r.places if p not in places)))


def installed_hub(record: Record, server: str, namespace: str, release: str) -> str | None:
    """helm's first-deployed time of the hub release bhsvc installed there, or None."""
    for hub in record.hubs:
        if (hub.server, hub.namespace, hub.release) == (server, namespace, release):
            return hub.first_deployed
    return None


def note_installed_hub(path: Path, hub: InstalledHub) -> None:
    """Record that bhsvc installed this hub release (replacing an older entry of it)."""
    update(path, lambda r: replace(r, hubs=(*_other_hubs(r, hub), hub)))


def forget_hub(path: Path, server: str, namespace: str, release: str) -> None:
    gone = InstalledHub(server, namespace, release, "")
    update(path, lambda r: replace(r, hubs=_other_hubs(r, gone)))


def _other_hubs(record: Record, hub: InstalledHub) -> tuple[InstalledHub, ...]:
    same = (hub.server, hub.namespace, hub.release)
    return tuple(h for h in record.hubs if (h.server, h.namespace, h.release) != same)
