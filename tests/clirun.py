"""Running `bhsvc ARGS` inside the test process, through `cli.main`, so exit codes
and messages are the ones users get."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bhsvc import cli


@dataclass
class CliRun:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err

    def json(self) -> Any:
        return json.loads(self.out)


RunCli = Callable[..., CliRun]


def run_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> CliRun:
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["bhsvc", *args])
    monkeypatch.setattr(cli._State, "debug", False)
    try:
        cli.main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    out, err = capsys.readouterr()
    return CliRun(code, out, err)
