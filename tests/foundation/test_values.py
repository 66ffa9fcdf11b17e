"""Values generation: golden files for each example, z2jh schema validation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bhsvc.config import load_config, parse_config
from bhsvc.merge import deep_merge
from bhsvc.naming import binderhub_fullname
from bhsvc.render import values_files
from bhsvc.values import binderhub_values, jupyterhub_values

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
UPDATE = os.environ.get("BHSVC_UPDATE_GOLDEN") == "1"


def validate_z2jh(values: dict[str, Any], version: str) -> None:
    """Validate like helm does: the chart's defaults merged with ours, against its schema."""
    folder = FIXTURES / f"z2jh-{version}"
    schema = yaml.safe_load((folder / "values.schema.yaml").read_text())
    defaults = yaml.safe_load((folder / "values.yaml").read_text())
    jsonschema.validate(deep_merge(defaults, values), schema)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_values_match_golden_files(example: Path) -> None:
    config = load_config(example)
    files = values_files(config, f"examples/{example.name}")
    for name, text in files.items():
        golden = GOLDEN / f"{example.stem}.{name}"
        if UPDATE:
            golden.write_text(text)
        assert golden.exists(), f"missing golden file {golden.name}; run with BHSVC_UPDATE_GOLDEN=1"
        assert text == golden.read_text(), (
            f"{golden.name} differs; review, then BHSVC_UPDATE_GOLDEN=1"
        )


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_hub_values_validate_against_z2jh_schema(example: Path) -> None:
    config = load_config(example)
    values = jupyterhub_values(config)
    if values is None:
        assert not config.hub.enabled
        return
    validate_z2jh(values, "4.4.0")


def test_values_hold_no_secret_only_secret_names(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text('{"type": "service_account", "private_key": "SECRET-MATERIAL"}')
    config = load_config(ROOT / "examples" / "gar-with-hub.yaml")
    text = "".join(values_files(config, "x").values())
    assert "SECRET-MATERIAL" not in text
    assert "binderhub-registry-credentials" in text


def test_user_values_are_merged_last() -> None:
    config = parse_config(
        {
            "kube": {"namespace": "binder"},
            "registry": {"provider": "gar", "gar": {"project": "my-project", "region": "us"}},
            "binderhub": {
                "values": {"config": {"BinderHub": {"build_memory_limit": "2G"}}, "replicas": 2}
            },
        },
        "f",
    )
    values = binderhub_values(config)
    assert values["config"]["BinderHub"]["build_memory_limit"] == "2G"
    assert values["config"]["BinderHub"]["use_registry"] is True
    assert values["replicas"] == 2


def test_deep_merge_does_not_mutate_inputs() -> None:
    base = {"a": {"b": 1}}
    merged = deep_merge(base, {"a": {"c": 2}})
    assert merged == {"a": {"b": 1, "c": 2}}
    assert base == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("release", "values", "expected"),
    [
        ("binderhub", {}, "binderhub-binderhub-service"),
        ("my-binderhub-service", {}, "my-binderhub-service"),
        ("bh", {"nameOverride": "svc"}, "bh-svc"),
        ("bh", {"fullnameOverride": "builder"}, "builder"),
    ],
)
def test_fullname_mirrors_the_chart(release: str, values: dict[str, Any], expected: str) -> None:
    config = parse_config(
        {
            "kube": {"namespace": "binder"},
            "binderhub": {"release": release, "values": values},
            "registry": {"provider": "gar", "gar": {"project": "my-project", "region": "us"}},
        },
        "f",
    )
    assert binderhub_fullname(config) == expected
