"""Chart versions (semantic versions) compared as helm compares them."""

from __future__ import annotations

import re

_SEMVER = re.compile(
    r"v?(?P<core>\d+(?:\.\d+){0,2})(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?"
)

Key = tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int | str], ...]]


def version_key(version: str) -> Key | None:
    """A sort key: release parts, then a pre-release sorting before its release (as
    semantic versioning orders them); None when `version` is not a version."""
    match = _SEMVER.fullmatch(version.strip())
    if match is None:
        return None
    core = tuple(int(part) for part in match["core"].split("."))
    core += (0,) * (3 - len(core))
    pre = match["pre"]
    if pre is None:
        return core, (1,), ()
    # Numeric identifiers sort before alphanumeric ones, and numerically.
    ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return core, (0,), ids


def is_older(candidate: str, than: str) -> bool:
    """Whether `candidate` is an older version than `than` (False when either is not
    a version: nothing is refused on a guess)."""
    a, b = version_key(candidate), version_key(than)
    return a is not None and b is not None and a < b


def chart_version(listed_chart: str, chart_name: str) -> str | None:
    """The version in helm list's `chart` field (`<name>-<version>`), when the
    release runs the chart named `chart_name`."""
    prefix = f"{chart_name}-"
    return listed_chart[len(prefix) :] if listed_chart.startswith(prefix) else None
