"""Image names: the reference grammar, and the image prefix compared by path components."""

from __future__ import annotations

import pytest

from bhsvc.registry.images import ImageName, location_problem, parse_image


@pytest.mark.parametrize(
    ("image", "parsed"),
    [
        (
            "registry.example.org/org/binder-x:abc",
            ImageName("registry.example.org", "org/binder-x", "abc"),
        ),
        ("127.0.0.1:5000/org/x:1.0", ImageName("127.0.0.1:5000", "org/x", "1.0")),
        ("localhost/x:t", ImageName("localhost", "x", "t")),
        ("user/binder-x:t", ImageName(None, "user/binder-x", "t")),
        ("[::1]:5000/x:t", ImageName("[::1]:5000", "x", "t")),
    ],
)
def test_parse(image: str, parsed: ImageName) -> None:
    assert parse_image(image) == parsed


@pytest.mark.parametrize(
    "image",
    ["", "x", "x:", "UPPER/x:t", "a//b:t", "a/b:t:u", "a/b@sha256:" + "0" * 64, "a\x1b[2J/b:t"],
)
def test_not_references(image: str) -> None:
    assert parse_image(image) is None


@pytest.mark.parametrize(
    ("prefix", "image", "ok"),
    [
        ("registry.example.org/org", "registry.example.org/org/x:t", True),
        ("registry.example.org/org", "registry.example.org/org-evil/x:t", False),
        ("registry.example.org/org", "registry.example.org/orgx:t", False),
        ("registry.example.org/org/", "registry.example.org/org/x:t", True),
        ("registry.example.org/org/", "registry.example.org/org:t", False),
        ("registry.example.org/org/binder-", "registry.example.org/org/binder-x:t", True),
        ("registry.example.org/org/binder-", "registry.example.org/org/binderx:t", False),
        ("registry.example.org/org/binder_", "registry.example.org/org/binder-x:t", True),
        ("registry.example.org/org/binder-", "registry.example.org/org/sub/binder-x:t", False),
        ("registry.example.org/org/binder-", "other.example.org/org/binder-x:t", False),
        ("docker.io/user/binder-", "docker.io/user/binder-x:t", True),
        ("user/binder-", "user/binder-x:t", True),
    ],
)
def test_location(prefix: str, image: str, ok: bool) -> None:
    parsed = parse_image(image)
    assert parsed is not None
    assert (location_problem(parsed, prefix) is None) is ok
