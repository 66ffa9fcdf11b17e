"""Where the bundled binderhub-service chart lives: in the wheel or in a checkout."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bhsvc.errors import OperationError, UsageError

if TYPE_CHECKING:
    from bhsvc.config import Config

_PACKAGE_DIR = Path(__file__).resolve().parent


def bundled_chart() -> Path:
    """The chart bhsvc was tested with: `bhsvc/_chart` in a wheel, `chart/` in a checkout."""
    for candidate in (_PACKAGE_DIR / "_chart", _PACKAGE_DIR.parent.parent / "chart"):
        if (candidate / "Chart.yaml").is_file():
            return candidate
    raise OperationError("the bundled binderhub-service chart is missing from this installation")


def chart_for(config: Config) -> Path:
    """The chart to install: `binderhub.chart` (relative to the config file) or the bundled one."""
    if not config.binderhub.chart:
        return bundled_chart()
    chart = config.path(Path(config.binderhub.chart))
    if not chart.exists():
        raise UsageError(f"binderhub.chart: {chart} does not exist")
    return chart
