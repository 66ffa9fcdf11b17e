"""Helpers for the registry tests (a module of its own, so test files can import it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bhsvc.config import Config, parse_config
from bhsvc.registry.gar import ProvisionReport, RetryPolicy

# Retries in milliseconds so fault-injection tests stay fast.
QUICK = RetryPolicy(deadline=20.0, initial=0.01, maximum=0.05, call_timeout=5.0)


def gar_config(base_dir: Path, **gar: Any) -> Config:
    data = {
        "kube": {"namespace": "binder"},
        "registry": {
            "provider": "gar",
            "gar": {"project": "my-project", "region": "europe-west10", **gar},
        },
    }
    return parse_config(data, "test", base_dir)


RunGar = Callable[..., ProvisionReport]
