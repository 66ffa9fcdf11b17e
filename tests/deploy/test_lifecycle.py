"""Every example: the dry run's plan lists exactly the steps the real run performs,
in order, against the fake cluster with real helm; and a dry run after the real
run finds the objects bhsvc wrote up to date. The same for removing: uninstall's
dry run lists what the real run removes, and a second run changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploylib import PULLER, key_json, serving

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
    with serving(cluster, hub):
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


def removed(cluster: FakeKubernetes) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of what bhsvc deleted itself (helm deletes a release's
    objects; the fake's garbage collector what they owned)."""
    return {
        (w.kind, w.namespace, w.name)
        for w in cluster.writes
        if w.verb == "delete" and w.user_agent.startswith("OpenAPI-Generator/")
    }


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_the_removal_plan_is_what_uninstall_removes(
    run_cli: Any, cluster: FakeKubernetes, tmp_path: Path, example: Path
) -> None:
    config = project_for(example, tmp_path)
    hub = yaml.safe_load(config.read_text()).get("hub", {}).get("enabled", False)
    with serving(cluster, hub):
        deployed = run_cli("deploy", "-c", str(config), "--yes", "--timeout", "60")
        assert deployed.code == 0, deployed.both
    namespaces = {ns["metadata"]["name"] for ns in cluster.objects("Namespace")}
    cluster.writes.clear()

    dry = run_cli("uninstall", "--dry-run", "-c", str(config), "--timeout", "60", "-o", "json")
    assert dry.code == 0, dry.both
    plan = dry.json()["plan"]
    assert cluster.writes == [], "a dry run removes nothing"
    real = run_cli("uninstall", "-c", str(config), "--yes", "--timeout", "60", "-o", "json")
    assert real.code == 0, real.both
    assert [step["name"] for step in real.json()["steps"]] == [step["name"] for step in plan]
    assert real.json()["plan"] == plan, "the same plan, carried out"
    # Each Secret and namespace the plan names was deleted, and nothing else.
    planned = {line for step in plan for line in step["remove"]}
    gone = removed(cluster)
    secrets = {(k, ns, n) for k, ns, n in gone if k == "Secret"}
    assert {f"Secret {ns}/{n}" for _, ns, n in secrets} == {
        line for line in planned if line.startswith("Secret ")
    }
    assert {f"namespace {n}" for k, _, n in gone if k == "Namespace"} == {
        line for line in planned if line.startswith("namespace ")
    }
    # BinderHub's release is gone; the hub keeps running (its namespace with it), without
    # bhsvc's values: only --hub uninstalls it.
    assert not [d for d in cluster.objects("Deployment") if "binderhub" in d["metadata"]["name"]]
    left = {ns["metadata"]["name"] for ns in cluster.objects("Namespace")}
    if hub:
        assert left == namespaces
        assert "JupyterHub release jupyterhub" in [step["name"] for step in plan]
        assert cluster.objects("Service", "jupyterhub"), "the hub runs"
    else:
        assert left == namespaces - {"binder"}
    for path in (config.parent / ".bhsvc" / "rendered").glob("*.yaml"):
        raise AssertionError(f"{path} was left behind")

    cluster.writes.clear()
    again = run_cli("uninstall", "-c", str(config), "--yes", "--timeout", "60", "-o", "json")
    assert again.code == 0, again.both
    assert again.json()["plan"] == [] and again.json()["steps"] == []
    assert cluster.writes == [], "a second run changes nothing"
