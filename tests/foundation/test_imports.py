"""Heavy clients load only in the code paths that use them, never at import time."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import bhsvc
import bhsvc.commands

CHECK = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
heavy = sorted(
    m for m in sys.modules
    if m.split(".")[0] in {"kubernetes", "grpc", "aiohttp", "urllib3"}
    or m.startswith(("google.cloud", "google.api_core"))
)
print(json.dumps(heavy))
"""


def modules_loaded_by(*names: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", CHECK, *names],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded: list[str] = json.loads(proc.stdout)
    return loaded


def test_cli_module_is_light() -> None:
    assert modules_loaded_by("bhsvc.cli") == []


def test_every_module_is_light_at_import() -> None:
    modules = [
        info.name
        for info in pkgutil.walk_packages(bhsvc.__path__, "bhsvc.")
        if info.name != "bhsvc.__main__"
    ]
    assert "bhsvc.commands.render" in modules
    assert modules_loaded_by(*modules) == [], "import heavy clients inside functions"
    assert bhsvc.commands.__doc__
