"""The chart's images and the digests recorded for them (pure: texts in, texts out).

Chart.yaml lists the images the chart runs in its `artifacthub.io/images`
annotation; values.yaml's `imageDigests` maps each of them to the digest it had
when the chart was released (`release.py digests` looks them up and records
them, `release.py check` reads them). Errors are ValueError with one line
naming the file.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

IMAGES_ANNOTATION = "artifacthub.io/images"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# A registry (HOST or HOST:PORT), and an image on it: host/path:tag (no digest).
HOST = re.compile(r"[a-z0-9][a-z0-9.-]*(:[0-9]+)?")
IMAGE = re.compile(rf"(?P<host>{HOST.pattern})/(?P<path>[a-z0-9._/-]+):(?P<tag>\w[\w.-]*)")
# The `imageDigests:` key of values.yaml and its entries (indented lines below it).
DIGESTS_BLOCK = re.compile(r"(?m)^imageDigests:.*\n(?:[ \t]+\S.*\n)*")


def _yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{source}: not YAML ({err.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{source}: not a YAML mapping")
    return data


def listed_images(chart_yaml: str, source: str) -> list[str]:
    """The images Chart.yaml's annotation lists, each `host/path:tag`."""
    chart = _yaml(chart_yaml, source)
    try:
        entries = yaml.safe_load((chart.get("annotations") or {}).get(IMAGES_ANNOTATION) or "[]")
        images = [str(entry["image"]) for entry in entries]
    except (yaml.YAMLError, AttributeError, TypeError, KeyError):
        raise ValueError(f"{source}: {IMAGES_ANNOTATION} is not a list of images") from None
    if not images:
        raise ValueError(f"{source}: no {IMAGES_ANNOTATION} annotation listing the chart's images")
    for image in images:
        if IMAGE.fullmatch(image) is None:
            raise ValueError(f"{source}: {IMAGES_ANNOTATION} lists {image!r}, not host/path:tag")
    return images


def recorded_digests(values_yaml: str, source: str) -> dict[str, str]:
    """values.yaml's `imageDigests`."""
    recorded = _yaml(values_yaml, source).get("imageDigests") or {}
    if not isinstance(recorded, dict):
        raise ValueError(f"{source}: imageDigests is not a mapping")
    return {str(image): str(digest) for image, digest in recorded.items()}


def unrecorded(images: list[str], recorded: dict[str, str]) -> list[str]:
    """The listed images without a digest."""
    return [image for image in images if image not in recorded]


def stale(images: list[str], recorded: dict[str, str]) -> list[str]:
    """Recorded digests of images the chart no longer lists (an older tag)."""
    return sorted(set(recorded) - set(images))


def with_digests(values_yaml: str, digests: dict[str, str], source: str) -> str:
    """values.yaml with its `imageDigests` replaced by these (the rest unchanged)."""
    if len(DIGESTS_BLOCK.findall(values_yaml)) != 1:
        raise ValueError(f"{source}: expected one top-level `imageDigests:` key")
    block = yaml.safe_dump({"imageDigests": dict(sorted(digests.items()))}, width=1000)
    updated = DIGESTS_BLOCK.sub(lambda _: block, values_yaml)
    # The file must read as before with only this key changed.
    expected = {**_yaml(values_yaml, source), "imageDigests": digests}
    if _yaml(updated, source) != expected:
        raise ValueError(f"{source}: imageDigests could not be replaced in place")
    return updated


def in_mirror(image: str, mirror: str) -> str:
    """Where a mirror that keeps the registries' paths (as `skopeo copy` to
    MIRROR/path, and docker's --registry-mirror for Docker Hub) holds an image."""
    if HOST.fullmatch(mirror) is None:
        raise ValueError(f"--from {mirror!r}: expected HOST or HOST:PORT")
    match = IMAGE.fullmatch(image)
    if match is None:
        raise ValueError(f"{image!r}: not host/path:tag")
    return f"{mirror}/{match['path']}:{match['tag']}"
