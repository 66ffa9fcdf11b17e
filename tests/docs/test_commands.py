"""Every `bhsvc` command the documentation shows is a real command, run where it can be.

- Each command in a shell code block is parsed by the real CLI (unknown
  commands, unknown flags, bad choices and missing values fail), and each flag
  it uses appears in that command's `--help` output.
- Commands that work offline are run against the example configurations with a
  real helm: `render`, `deploy --dry-run`, `connect-hub --dry-run`, `--help`,
  `--version`. The others need a cluster or a cloud account and are checked
  by parsing only.
- Inline mentions such as `bhsvc init --non-interactive` name an existing
  command and flags.
- YAML blocks marked as a `bhsvc.yaml`, binderhub-service or jupyterhub values
  are valid for what they claim to be.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import docslib
import jsonschema
import pytest
import yaml

ROOT = docslib.ROOT
EXAMPLES = ROOT / "examples"
COMMANDS = docslib.commands()
BLOCK_COMMANDS = [c for c in COMMANDS if c.source == "block"]
INLINE_COMMANDS = [c for c in COMMANDS if c.source == "inline"]


@cache
def cli_root() -> Any:
    import typer

    from bhsvc.cli import app

    return typer.main.get_command(app)


def split_global(argv: tuple[str, ...]) -> tuple[list[str], str | None, list[str]]:
    """(global options, command name, the command's arguments)."""
    root = cli_root()
    global_flags = {opt for p in root.params for opt in p.opts}
    before: list[str] = []
    rest = list(argv)
    while rest and rest[0] in global_flags | {"--help"}:
        before.append(rest.pop(0))
    name = rest.pop(0) if rest else None
    return before, name, rest


def flags_of(argv: list[str]) -> list[str]:
    """The option names used in an argument list (`--x=1` counts as `--x`)."""
    return [a.split("=", 1)[0] for a in argv if a.startswith("-") and a != "-"]


@cache
def help_text(name: str | None) -> str:
    args = [name, "--help"] if name else ["--help"]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    proc = subprocess.run(
        [sys.executable, "-m", "bhsvc", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, f"bhsvc {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def ids(commands: list[docslib.Command]) -> list[str]:
    return [f"{c.where} bhsvc {' '.join(c.argv)}" for c in commands]


def test_the_docs_show_commands() -> None:
    names = {split_global(c.argv)[1] for c in BLOCK_COMMANDS}
    # The tutorials walk through these; an empty list would mean the parser broke.
    assert {"init", "deploy", "verify", "render", "connect-hub"} <= names


@pytest.mark.parametrize("command", BLOCK_COMMANDS, ids=ids(BLOCK_COMMANDS))
def test_block_command_parses(command: docslib.Command) -> None:
    root = cli_root()
    before, name, rest = split_global(command.argv)
    if name is None:
        assert before, f"{command.where}: empty command"
        return
    sub = root.get_command(root.context_class(root, info_name="bhsvc"), name)
    assert sub is not None, f"{command.where}: no command {name!r} in bhsvc"
    ctx = sub.make_context(name, list(rest), resilient_parsing=False)
    ctx.close()
    shown = help_text(name)
    for flag in flags_of(rest):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", shown), (
            f"{command.where}: {flag} is not in 'bhsvc {name} --help'"
        )


@pytest.mark.parametrize("command", INLINE_COMMANDS, ids=ids(INLINE_COMMANDS))
def test_inline_command_names_real_flags(command: docslib.Command) -> None:
    root = cli_root()
    before, name, rest = split_global(command.argv)
    global_help = help_text(None)
    for flag in before:
        assert flag in global_help, f"{command.where}: no global option {flag}"
    if name is None:
        return
    assert name in root.commands, f"{command.where}: no command {name!r} in bhsvc"
    shown = help_text(name)
    for flag in flags_of(rest):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", shown), (
            f"{command.where}: {flag} is not in 'bhsvc {name} --help'"
        )


# ---- running the offline commands -----------------------------------------------


def runs_offline(argv: tuple[str, ...]) -> bool:
    before, name, rest = split_global(argv)
    if "--help" in argv or "--version" in before:
        return True
    if name == "render":
        return True
    return name in {"deploy", "connect-hub"} and "--dry-run" in rest


OFFLINE = [c for c in BLOCK_COMMANDS if runs_offline(c.argv)]


def option_values(argv: list[str], *names: str) -> Iterator[str]:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                yield argv[i + 1]
            elif arg.startswith(name + "="):
                yield arg.split("=", 1)[1]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder like the tutorials' one: the examples, and a bhsvc.yaml."""
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    return tmp_path


def test_offline_commands_are_many() -> None:
    names = {split_global(c.argv)[1] for c in OFFLINE}
    assert {"render", "deploy", "connect-hub"} <= names


@pytest.mark.parametrize("command", OFFLINE, ids=ids(OFFLINE))
def test_offline_command_runs(command: docslib.Command, workspace: Path, helm4_path: Path) -> None:
    _, name, rest = split_global(command.argv)
    # The tutorials' bhsvc.yaml: with a hub for connect-hub, standalone otherwise.
    example = "gar-with-hub.yaml" if name == "connect-hub" else "gar.yaml"
    config = workspace / "bhsvc.yaml"
    shutil.copy(EXAMPLES / example, config)
    for values in option_values(rest, "--hub-values"):
        (workspace / values).write_text("{}\n")
    env = {
        **os.environ,
        "BHSVC_HELM": str(helm4_path),
        # No cluster: make sure no kubeconfig of this machine is used.
        "KUBECONFIG": str(workspace / "no-kubeconfig"),
        "XDG_CACHE_HOME": str(workspace / "cache"),
        "COLUMNS": "200",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bhsvc", *command.argv],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, (
        f"{command.where}: bhsvc {' '.join(command.argv)} exited {proc.returncode}\n"
        f"{proc.stdout}\n{proc.stderr}"
    )
    if name == "render":
        out = workspace / next(option_values(rest, "--output-dir", "-d"), ".bhsvc/rendered")
        manifests = yaml.safe_load_all((out / "binderhub-service.yaml").read_text())
        kinds = {doc["kind"] for doc in manifests if doc}
        assert {"Deployment", "Service", "DaemonSet"} <= kinds
    if name in {"deploy", "connect-hub"}:
        assert "helm upgrade --install" in proc.stdout


# ---- YAML blocks ----------------------------------------------------------------

CONFIG_BASE = yaml.safe_load((EXAMPLES / "gar.yaml").read_text())


Z2JH = ROOT / "tests" / "fixtures" / "z2jh-4.4.0"


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _fits_config(data: dict[str, Any]) -> bool:
    """Whether a mapping reads as (part of) a bhsvc.yaml: known sections, known keys."""
    from bhsvc.config import Config

    for key, value in data.items():
        field = Config.model_fields.get(key)
        if field is None:
            return False
        model = section_model(field.annotation)
        if (
            isinstance(value, dict)
            and model is not None
            and not set(value) <= set(model.model_fields)
        ):
            return False
    return True


def section_model(annotation: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = section_model(arg)
        if found is not None:
            return found
    return None


def classify(text: str) -> str | None:
    """What a YAML block is: its first-line comment says, or its keys tell."""
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    if first.startswith("#"):
        if "bhsvc.yaml" in first:
            return "config"
        if "binderhub-service" in first:
            return "binderhub-service"
        if "jupyterhub values" in first or "z2jh" in first:
            return "jupyterhub"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict) or not data:
        return None
    if _fits_config(data):
        return "config"
    if set(data) <= set(_load_yaml(Z2JH / "values.schema.yaml")["properties"]):
        return "jupyterhub"
    if set(data) <= set(_load_yaml(ROOT / "chart" / "values.schema.yaml")["properties"]):
        return "binderhub-service"
    return None


def yaml_blocks() -> list[tuple[docslib.Block, str]]:
    """YAML blocks that are a bhsvc.yaml (or part of one) or a chart's values."""
    found = []
    for path in docslib.markdown_files():
        for block in docslib.fenced_blocks(path):
            if block.language not in {"yaml", "yml"}:
                continue
            kind = classify(block.text)
            if kind is not None:
                found.append((block, kind))
    return found


YAML_BLOCKS = yaml_blocks()


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def test_marked_yaml_blocks_exist() -> None:
    kinds = {kind for _, kind in YAML_BLOCKS}
    assert {"config", "binderhub-service", "jupyterhub"} <= kinds


@pytest.mark.parametrize(
    ("block", "kind"), YAML_BLOCKS, ids=[f"{b.where} {k}" for b, k in YAML_BLOCKS]
)
def test_yaml_block_is_valid(
    block: docslib.Block, kind: str, helm4_path: Path, tmp_path: Path
) -> None:
    data = yaml.safe_load(block.text) or {}
    assert isinstance(data, dict), f"{block.where}: not a mapping"
    if kind == "config":
        from bhsvc.config import parse_config

        # A fragment shows whole sections of a file: put them in the base example's place.
        full = {**CONFIG_BASE, **data}
        parse_config(full, block.where)
        return
    if kind == "jupyterhub":
        schema = _load_yaml(Z2JH / "values.schema.yaml")
        jsonschema.validate(merge(_load_yaml(Z2JH / "values.yaml"), data), schema)
        return
    # binderhub-service values: helm itself validates them against the chart's schema.
    values = tmp_path / "values.yaml"
    values.write_text(json.dumps(data))
    proc = subprocess.run(
        [str(helm4_path), "template", "binderhub", str(ROOT / "chart"), "--namespace", "binder",
         "--values", str(values)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"{block.where}: helm template refused the values\n{proc.stderr}"


# ---- environment variables ------------------------------------------------------

_ENV_NAME = re.compile(r"\bBHSVC_[A-Z0-9_]+\b")


def test_documented_environment_variables_exist() -> None:
    sources = "\n".join(
        p.read_text(encoding="utf-8")
        for base in (ROOT / "src", ROOT / "tests", ROOT / "chart")
        for p in base.rglob("*")
        if p.is_file() and p.suffix in {".py", ".yaml", ".tpl", ".txt"}
    ) + (ROOT / "noxfile.py").read_text(encoding="utf-8")
    known = set(_ENV_NAME.findall(sources))
    for path in docslib.markdown_files():
        for name in set(_ENV_NAME.findall(path.read_text(encoding="utf-8"))):
            assert name in known, f"{path.relative_to(ROOT)}: {name} is read nowhere"


def test_every_environment_variable_is_in_the_reference() -> None:
    # Names bhsvc reads from its own environment, as string literals in src/
    # (hub.py's are variables of the hub-side snippets it generates).
    read = set()
    for path in (ROOT / "src" / "bhsvc").rglob("*.py"):
        if path.name == "hub.py":
            continue
        read |= set(re.findall(r"[\"'](BHSVC_[A-Z0-9_]+)[\"']", path.read_text(encoding="utf-8")))
    assert read, "no environment variable found in src/: the pattern is broken"
    reference = (docslib.DOCS / "reference" / "files.md").read_text(encoding="utf-8")
    missing = sorted(name for name in read if f"`{name}`" not in reference)
    assert not missing, f"docs/reference/files.md lacks: {', '.join(missing)}"
