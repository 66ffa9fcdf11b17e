"""Fixtures of the release tests: one release build for the session, and a copy of the
files that hold the version, to change without touching the checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from releaselib import ROOT, release

# What a build reads (pyproject.toml's sdist list), and the docs that show the version.
CHECKOUT_PARTS = ("pyproject.toml", "README.md", "CHANGELOG.md", "src", "chart", "tools", "docs")


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory, helm4_path: Path) -> Path:
    """`tools/release.py build` of this checkout (wheel, sdist, chart package)."""
    out = tmp_path_factory.mktemp("dist")
    home = tmp_path_factory.mktemp("release-home")
    done = release("build", "--dist", str(out), "--no-isolation", helm=helm4_path, home=home)
    assert done.code == 0, done.both
    return out


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the parts of the checkout a release reads, free to change."""
    root = tmp_path / "checkout"
    root.mkdir()
    for name in CHECKOUT_PARTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, root / name, ignore=shutil.ignore_patterns("__pycache__", "_build")
            )
        else:
            shutil.copy2(source, root / name)
    return root
