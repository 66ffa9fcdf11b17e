"""A 100,000-line build log streams in constant memory.

The fake BinderHub runs in its own process, so tracemalloc counts only what the
client allocates: the peak for 100,000 log lines must match the peak for 2,000.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console

from bhsvc.binderhub import Target
from bhsvc.build_view import BuildView
from bhsvc.build_watch import Deadlines, watch_build

TESTS = Path(__file__).resolve().parent.parent  # where `python -m fakes.binderhub` runs
SPEC = "gh/binder-examples/requirements/HEAD"


@pytest.fixture
def serve_huge() -> Iterator[Callable[[int], int]]:
    procs: list[subprocess.Popen[str]] = []

    def start(lines: int) -> int:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fakes.binderhub",
                "--scenario",
                "huge",
                "--log-lines",
                str(lines),
            ],
            cwd=TESTS,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        return int(proc.stdout.readline())

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def peak_bytes(port: int, view: BuildView) -> tuple[int, int]:
    target = Target(f"http://127.0.0.1:{port}/")
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        watch = watch_build(target, SPEC, Deadlines(120, 60, time.monotonic()), view)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert watch.outcome.ok
    return peak - base, watch.tracker.events


def test_constant_memory_for_a_huge_log(serve_huge: Callable[[int], int], tmp_path: Path) -> None:
    # The live display is on (a terminal console writing to a file), as people see it.
    with (tmp_path / "screen").open("w") as screen:
        view = BuildView(Console(file=screen, force_terminal=True, width=100))
        peak_bytes(serve_huge(10), view)  # warm-up: first-use allocations (imports, caches)
        small, small_events = peak_bytes(serve_huge(2_000), view)
        large, large_events = peak_bytes(serve_huge(100_000), view)
    print(f"tracemalloc peak: {small} bytes for 2,000 lines, {large} bytes for 100,000 lines")
    assert (small_events, large_events) == (2_012, 100_012)
    assert large < 1024 * 1024, f"peak {large} bytes for 100,000 lines"
    assert large < small + 256 * 1024, f"peak grew from {small} to {large} bytes"
