"""Helpers shared by the verify tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str
