"""Every example: the dry run's plan lists exactly the steps the real run performs,
in order, against the fake cluster with real helm; and a dry run after the real
run finds the objects bhsvc wrote up to date."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploylib import PULLER, key_json

from fakes.binderhub import FakeBinderHub
from fakes.k8s_api import FakeKubernetes

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def project_for(example: Path, tmp_path: Path) -> Path:
    """The example in a folder of its own, with the credentials it names, and (with a
    hub) the stand-in z2jh chart: no chart repository is reachable here."""
    from hub.hublib import fake_z2jh_chart

    root = tmp_path / "proj"
    (root / ".bhsvc").mkdir(parents=True)
    config = root / "bhsvc.yaml"
    shutil.copy(example, config)
    data = yaml.safe_load(config.read_text())
    registry = data["registry"]
    hub = data.get("hub", {}).get("enabled", False)
    if registry["provider"] == "gar":
        # Keys with auth key: the pusher's, and with a hub the read-only pull key.
        keys = {} if registry["gar"].get("auth") == "workload-identity" else {"pusher": key_json()}
        if keys and hub:
            keys["puller"] = key_json(email=PULLER)
        for account, text in keys.items():
            key = root / ".bhsvc" / f"binderhub-{account}-key.json"
            key.write_text(text)
            key.chmod(0o600)
    else:
        token = root / registry["password_file"]
        token.write_text("a-registry-token\n")
        token.chmod(0o600)
    if hub:
        data["hub"]["chart"] = str(fake_z2jh_chart(tmp_path / "charts", "4.3.1"))
        config.write_text(yaml.safe_dump(data))
    return config


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_the_plan_is_what_the_run_does(
    run_cli: Any, cluster: FakeKubernetes, tmp_path: Path, example: Path
) -> None:
    config = project_for(example, tmp_path)
    hub = yaml.safe_load(config.read_text()).get("hub", {}).get("enabled", False)
    with FakeBinderHub(base_url="/services/binder/" if hub else "/") as fake:
        # BinderHub's pod and, with a hub, the proxy pod both reach the fake BinderHub.
        cluster.port_targets[8585] = ("127.0.0.1", fake.port)
        cluster.port_targets[8000] = ("127.0.0.1", fake.port)
        dry = run_cli("deploy", "--dry-run", "-c", str(config), "--timeout", "60", "-o", "json")
        assert dry.code == 0, dry.both
        planned = [(step["name"], step["state"]) for step in dry.json()["plan"]]
        assert cluster.writes == [], "a dry run writes nothing"

        real = run_cli("deploy", "-c", str(config), "--yes", "--timeout", "60", "-o", "json")
        assert real.code == 0, real.both
        performed = [step["name"] for step in real.json()["steps"]]
        assert performed == [name for name, _ in planned]
        assert real.json()["plan"] == [
            {k: v for k, v in step.items() if k not in ("state", "detail", "blocker")}
            for step in dry.json()["plan"]
        ], "the same commands"

        after = run_cli("deploy", "--dry-run", "-c", str(config), "--timeout", "60", "-o", "json")
        states = {step["name"]: step["state"] for step in after.json()["plan"]}
    for name, state in states.items():
        if name == "namespace" or "Secret" in name or name == "values files":
            assert state == "converged", (name, after.json()["plan"])
    keyless = "workload-identity" in config.read_text()
    assert [name for name, state in planned if state == "missing"][:2] == [
        "namespace",
        "values files" if keyless else "registry credentials Secret",
    ]
    if keyless:  # no Secret at all: said in the plan, and none written
        assert ("registry credentials", "converged") in planned
        assert not [w for w in cluster.writes if w.kind == "Secret" and "registry" in w.name]
