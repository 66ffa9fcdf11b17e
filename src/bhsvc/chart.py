"""Where the bundled binderhub-service chart lives: in the wheel or in a checkout."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bhsvc.errors import OperationError, UsageError

if TYPE_CHECKING:
    from bhsvc.config import Config

_PACKAGE_DIR = Path(__file__).resolve().parent
# z2jh: the `jupyterhub` chart of the JupyterHub helm repository.
HUB_CHART_REPO = "https://hub.jupyter.org/helm-chart/"
HUB_CHART_NAME = "jupyterhub"


def bundled_chart() -> Path:
    """The chart bhsvc was tested with: `bhsvc/_chart` in a wheel, `chart/` in a checkout."""
    for candidate in (_PACKAGE_DIR / "_chart", _PACKAGE_DIR.parent.parent / "chart"):
        if (candidate / "Chart.yaml").is_file():
            return candidate
    raise OperationError("the bundled binderhub-service chart is missing from this installation")


def reference(config: Config, value: str) -> str:
    """A chart the config names: a remote one (oci://, https://) as it is, a local
    directory or packaged .tgz resolved against the config file's folder."""
    return value if "://" in value else str(config.path(Path(value)))


def chart_for(config: Config) -> str:
    """BinderHub's chart: `binderhub.chart` or the bundled one; a local one must exist."""
    if not config.binderhub.chart:
        return str(bundled_chart())
    return _existing(reference(config, config.binderhub.chart), "binderhub.chart")


def check_hub_chart(config: Config) -> None:
    """A local `hub.chart` must exist: found now, not by helm after other changes."""
    if config.hub.enabled and config.hub.chart:
        _existing(reference(config, config.hub.chart), "hub.chart")


def _existing(chart: str, key: str) -> str:
    if "://" not in chart and not Path(chart).exists():
        raise UsageError(f"{key}: {chart} does not exist")
    return chart


def local_chart_metadata(chart: str) -> dict[str, Any] | None:
    """Chart.yaml of a local chart directory or packaged .tgz; None for a remote
    chart or one that cannot be read (helm reports that when it runs)."""
    path = Path(chart)
    try:
        if path.is_dir():
            text = (path / "Chart.yaml").read_text(encoding="utf-8")
        elif path.is_file():
            with tarfile.open(path, "r:gz") as archive:
                member = next(
                    m
                    for m in archive.getmembers()
                    if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")
                )
                extracted = archive.extractfile(member)
                text = extracted.read().decode() if extracted else ""
        else:
            return None
        data = yaml.safe_load(text)
    except (OSError, StopIteration, tarfile.TarError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None
