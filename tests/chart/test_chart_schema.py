"""values.schema.yaml: described, generated files in sync, fully exercised."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from chartlib import CHART, REPO, SCENARIOS_DIR

TOOL = REPO / "tools" / "chart_schema.py"
SCHEMA = yaml.safe_load((CHART / "values.schema.yaml").read_text())

# Keys the every-option scenario leaves out, and why.
NOT_IN_EVERY_OPTION = {
    "buildPodsRegistryCredentials.existingSecret": "excludes inline credentials; "
    "its own scenario (existing-secret)",
    **{
        f"gkeWorkloadIdentity.{key}": "excludes every push credential; its own scenario "
        "(gke-workload-identity)"
        for key in ("enabled", "googleServiceAccount", "registryHost")
    },
}


def load_tool():
    spec = importlib.util.spec_from_file_location("chart_schema", TOOL)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_generated_files_are_up_to_date():
    proc = subprocess.run(
        [sys.executable, str(TOOL), "--check"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_json_schema_matches_the_yaml_source():
    assert json.loads((CHART / "values.schema.json").read_text()) == SCHEMA


def test_every_key_has_a_description():
    tool = load_tool()
    assert tool.missing_descriptions(SCHEMA) == []
    assert list(tool.iter_keys(SCHEMA))  # the walk finds keys at all


def test_missing_description_is_reported(tmp_path: Path):
    tool = load_tool()
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "object", "description": "A", "properties": {"b": {"type": "string"}}}
        },
    }
    assert tool.missing_descriptions(schema) == ["a.b"]


def test_reference_lists_every_key():
    tool = load_tool()
    readme = (CHART / "README.md").read_text()
    for path, _ in tool.iter_keys(SCHEMA):
        assert f"| `{'.'.join(path)}` |" in readme


def test_defaults_match_the_schema():
    validator = jsonschema.Draft7Validator(SCHEMA)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert list(validator.iter_errors(values)) == []


def leaf_paths(schema: dict, prefix: tuple[str, ...] = ()) -> list[str]:
    """Schema keys without documented sub-keys."""
    out = []
    for name, sub in (schema.get("properties") or {}).items():
        path = (*prefix, name)
        if sub.get("properties") and sub.get("additionalProperties") is False:
            out += leaf_paths(sub, path)
        else:
            out.append(".".join(path))
    return out


def has_path(values: dict, dotted: str) -> bool:
    for key in dotted.split("."):
        if not isinstance(values, dict) or key not in values:
            return False
        values = values[key]
    return values not in (None, "", {}, [])


@pytest.mark.parametrize("path", leaf_paths(SCHEMA))
def test_every_option_sets_every_key(path):
    every = yaml.safe_load((SCENARIOS_DIR / "every-option.yaml").read_text())
    if path in NOT_IN_EVERY_OPTION:
        assert not has_path(every, path)
        return
    assert has_path(every, path), f"every-option.yaml does not set {path}"
