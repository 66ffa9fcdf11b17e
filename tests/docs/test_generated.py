"""The generated reference pages match their sources, and cover every command, key and value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docslib
import pytest
import yaml

from bhsvc.config import Config

generate = docslib.load_generate()


def test_committed_pages_are_current() -> None:
    stale = [str(p.relative_to(docslib.ROOT)) for p in generate.stale_pages()]
    assert not stale, f"stale generated pages: {', '.join(stale)}; run python docs/generate.py"


def test_check_mode_reports_a_stale_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(generate, "REFERENCE", tmp_path)
    monkeypatch.setattr(generate, "ROOT", tmp_path)
    assert generate.main([]) == 0
    assert generate.main(["--check"]) == 0
    page = tmp_path / "config.md"
    page.write_text(page.read_text() + "\nedited by hand\n")
    assert generate.main(["--check"]) == 1
    assert f"out of date: {page}" in capsys.readouterr().err
    assert "edited by hand" in page.read_text(), "--check must not write"


def _config_keys(model: Any, prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        sub = generate._model_of(field.annotation)
        if sub is not None:
            keys += _config_keys(sub, f"{prefix}{name}.")
    return keys


def test_config_page_has_every_key_with_a_description() -> None:
    page = generate.config_page()
    for key in _config_keys(Config):
        assert f"| `{key}` |" in page, key
    for line in page.splitlines():
        if line.startswith("| `"):
            assert line.rstrip().split("|")[-2].strip(), f"no description: {line}"


def test_cli_page_has_every_command_and_option() -> None:
    import typer

    from bhsvc.cli import app

    page = generate.cli_page()
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        assert f"## `bhsvc {name}`" in page
        for param in command.params:
            for opt in param.opts:
                assert f"`{opt}`" in page, f"bhsvc {name} {opt}"


def test_chart_values_page_has_every_key() -> None:
    schema = yaml.safe_load((docslib.ROOT / "chart" / "values.schema.yaml").read_text())
    page = generate.chart_values_page()
    for path, _ in generate.chart_schema.iter_keys(schema):
        assert f"`{'.'.join(path)}`" in page, ".".join(path)


def test_examples_page_includes_every_example() -> None:
    page = generate.examples_page()
    for path in (docslib.ROOT / "examples").glob("*.yaml"):
        assert f"../../examples/{path.name}" in page


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a <name> b", "a \\<name\\> b"),
        ("keep `<name>` as code", "keep `<name>` as code"),
        ("uses _json_key", "uses \\_json\\_key"),
        ("a|b `c|d`", "a\\|b `c|d`"),
    ],
)
def test_markdown_escaping(text: str, expected: str) -> None:
    assert generate.md_text(text) == expected


def test_table_cells_escape_pipes_in_code() -> None:
    assert generate.cell("x `a|b`\n y") == "x `a\\|b` y"
