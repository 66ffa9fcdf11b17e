"""The values diff connect-hub shows: what changes in each release's values, with
only what bhsvc itself writes shown as it is."""

from __future__ import annotations

import difflib
import hmac
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from bhsvc import hub as hub_mod
from bhsvc.config import Config
from bhsvc.files import yaml_text
from bhsvc.values import binderhub_values

_NOT_OURS = object()


def redact(values: Any, ours: Any, tag: Callable[[str], str]) -> Any:
    """Values safe to print: what bhsvc itself writes (`ours`), booleans and nulls as
    they are; every other value, which came from the user's files or raw values and
    may be a password, replaced by `tag`. Keys are shown."""
    if isinstance(values, Mapping):
        known = ours if isinstance(ours, Mapping) else {}
        return {key: redact(value, known.get(key, _NOT_OURS), tag) for key, value in values.items()}
    if isinstance(values, list):
        known_items = ours if isinstance(ours, list) else []
        return [item if item in known_items else redact(item, _NOT_OURS, tag) for item in values]
    if values is None or isinstance(values, bool) or (ours is not _NOT_OURS and values == ours):
        return values
    return tag(repr(values))


def run_tagger() -> Callable[[str], str]:
    """Tags equal for equal values within one run, so a change still shows as a new
    tag, and meaningless outside it: the key is random and never kept."""
    key = secrets.token_bytes(16)
    return lambda text: f"<not shown {hmac.new(key, text.encode(), 'sha256').hexdigest()[:8]}>"


def values_diff(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    name: str,
    ours: Mapping[str, Any],
    tag: Callable[[str], str],
) -> str:
    """A unified diff of two values documents, redacted against `ours`; '' when equal."""
    # Scripts and config snippets read as `|` blocks, as in the values files.
    before = yaml_text(redact(dict(old or {}), ours, tag), sort_keys=True) if old else ""
    after = yaml_text(redact(dict(new), ours, tag), sort_keys=True)
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{name} (deployed)" if old is not None else f"{name} (nothing deployed)",
        tofile=f"{name} (new)",
        n=2,
    )
    return "".join(lines)


def values_bhsvc_writes(
    config: Config, service: tuple[str, int] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both charts' values from the config alone (no raw values, no user files): what
    a diff may show as it is."""
    bare = config.model_copy(
        update={
            "hub": config.hub.model_copy(update={"values": {}}),
            "binderhub": config.binderhub.model_copy(update={"values": {}}),
        }
    )
    hub = hub_mod.z2jh_values(bare, {}, service)
    if "profileList" in hub["singleuser"]:
        # bhsvc's profile is the default one only when the user has none: both are ours.
        hub["singleuser"]["profileList"].append(hub_mod.fancy_profile(default=False))
    return hub, binderhub_values(bare, {})
