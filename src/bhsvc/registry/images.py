"""Image names BinderHub reports: well-formed, where the config says, and the result
of looking one up in its registry. Pure code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

FOUND = "found"
MISSING = "missing"
NOT_CHECKED = "not checked"

# The reference grammar of the distribution project (docker's image names), with a
# tag: BinderHub always names `<prefix><slug>:<resolved ref>`.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(rf"(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*:[\w][\w.-]{{0,127}}")
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
MAX_REFERENCE = 512


@dataclass(frozen=True)
class ImageName:
    host: str | None  # as written; None when the name has none (Docker Hub)
    path: str  # the repository inside the registry, e.g. org/binder-foo-55ab5c
    tag: str

    @property
    def name(self) -> str:
        return f"{self.host}/{self.path}" if self.host else self.path


def parse_image(image: str) -> ImageName | None:
    """`[host/]path:tag` split up, or None when it is not a valid image reference."""
    if len(image) > MAX_REFERENCE or not _REFERENCE.fullmatch(image):
        return None
    name, _, tag = image.rpartition(":")
    first, slash, rest = name.partition("/")
    # As docker reads names: the first part is a host only when it looks like one.
    if slash and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = None, name
    if len(path) > 255 or not _PATH.fullmatch(path):
        return None
    return ImageName(host, path, tag)


def location_problem(image: ImageName, prefix: str) -> str | None:
    """None when BinderHub, given this image prefix, could have named `image`; else
    what was expected.

    The prefix's path components must match whole (`registry.example.org/org` does
    not take `registry.example.org/org-evil/...`); when it ends in '-', '_' or '.',
    its last part is the start of the image's own name instead.
    """
    expected = prefix.replace("_", "-").lower()  # BinderHub writes image names so
    pieces = expected.split("/")
    if expected[-1:] in ("-", "."):
        whole, start = pieces[:-1], pieces[-1]
    else:
        whole, start = [p for p in pieces if p], ""
    parts = image.name.split("/")
    depth = len(whole)
    if len(parts) > depth and parts[:depth] == whole and parts[depth].startswith(start):
        return None
    shape = "/".join([*whole, f"{start}<name>:<tag>"])
    return f"expected {shape}"


@dataclass(frozen=True)
class ImageCheck:
    status: str  # FOUND, MISSING or NOT_CHECKED
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "detail": self.detail}
