"""bhsvc's own secret variables (a registry password, a hub token), taken out of the
process environment as a command starts.

Every program bhsvc runs (helm, a kubeconfig's credential plugin, anything a
library starts) inherits the environment; holding these values here instead
means none of them can ever receive one.
"""

from __future__ import annotations

import os

from bhsvc.names import PRIVATE_ENV

_held: dict[str, str] = {}


def hold() -> None:
    """Move bhsvc's secret variables from the environment into this module."""
    _held.clear()
    for name in PRIVATE_ENV:
        value = os.environ.pop(name, None)
        if value is not None:
            _held[name] = value


def get(name: str) -> str | None:
    """A secret variable's value: held at start, or (code run without the CLI, such as
    a library caller) still in the environment."""
    return _held.get(name, os.environ.get(name))
