"""Helpers of the release tests: tools/release.py as maintainers run it, and helm with
homes of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from clirun import CliRun

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "tools" / "release.py"
CHART = "binderhub-service"


def chart_version(chart_dir: Path = ROOT / "chart") -> str:
    version: str = yaml.safe_load((chart_dir / "Chart.yaml").read_text())["version"]
    return version


def helm_homes(base: Path) -> dict[str, str]:
    """helm's config, cache and data under `base`: no login or repository of this
    machine's user is seen or changed."""
    return {
        "HELM_CONFIG_HOME": str(base / "helm-config"),
        "HELM_CACHE_HOME": str(base / "helm-cache"),
        "HELM_DATA_HOME": str(base / "helm-data"),
    }


def release(
    *args: str, helm: Path, home: Path, env: dict[str, str] | None = None, root: Path = ROOT
) -> CliRun:
    """`python tools/release.py --helm HELM ARGS` in its own process."""
    proc = subprocess.run(
        [sys.executable, str(RELEASE), "--root", str(root), "--helm", str(helm), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **helm_homes(home), **(env or {})},
        check=False,
    )
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def helm_run(helm: Path, home: Path, *args: str) -> str:
    """A helm command that must succeed; its standard output."""
    proc = subprocess.run(
        [str(helm), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **helm_homes(home)},
        check=False,
    )
    assert proc.returncode == 0, f"helm {' '.join(args)}: {proc.stderr}"
    return proc.stdout
