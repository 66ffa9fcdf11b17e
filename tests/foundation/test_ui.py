"""Console output as scripts and CI logs receive it (not a terminal)."""

from __future__ import annotations

import threading

import pytest

from bhsvc import ui


def test_text_prints_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    ui.console.print("image quay.io/org/app:cd:v1 [bold]ready[/]")
    assert capsys.readouterr().out == "image quay.io/org/app:cd:v1 ready\n"


def test_a_step_off_a_terminal_prints_its_line_and_starts_no_spinner(
    capsys: pytest.CaptureFixture[str],
) -> None:
    steps = ui.Steps()
    threads = threading.active_count()
    with steps.step("render") as step:
        assert threading.active_count() == threads, "no spinner thread"
        step.detail = "2 files"
    err = capsys.readouterr().err
    assert err.startswith("✓ render: ok (2 files) ")
    assert [r.as_dict()["status"] for r in steps.results] == ["ok"]
