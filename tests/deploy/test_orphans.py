"""deploy says what a config left behind where it deployed before, and --prune removes
it after the deploy: against the fake Kubernetes API with real helm."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from deploylib import NAMESPACE, REGISTRY_SECRET, RELEASE, Project, serving
from test_uninstall import RECORD, api, helm, hub_deploy, releases, with_hub

from fakes.binderhub import FakeBinderHub
from fakes.k8s_api import FakeKubernetes


def deploy(run_cli: Any, project: Project, *extra: str) -> Any:
    result = run_cli("deploy", "-c", str(project.config), "--yes", "--timeout", "30", *extra)
    assert result.code == 0, result.both
    return result


def places(project: Project) -> list[tuple[str, str, str | None]]:
    noted = yaml.safe_load((project.root / RECORD).read_text())
    return [(p["namespace"], p["release"], p["hub_release"]) for p in noted["places"]]


def test_a_new_namespace_leaves_the_old_installation_until_pruned(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    binderhub: FakeBinderHub,
    deploy_env: dict[str, str],
    helm4_path: Path,
) -> None:
    deploy(run_cli, project)
    project.write_config({"kube": {"namespace": "binder-new"}})
    moved = deploy(run_cli, project)
    note = "note: left behind where this config deployed before: "
    assert (
        f"{note}BinderHub release {RELEASE} in {NAMESPACE}: release {RELEASE} in {NAMESPACE}"
        in (moved.err)
    )
    assert (
        f"{note}registry credentials Secret {NAMESPACE}/{REGISTRY_SECRET}: Secret "
        f"{NAMESPACE}/{REGISTRY_SECRET}"
    ) in moved.err
    assert "'bhsvc deploy --prune' removes them after the deploy" in moved.err
    listed = json.loads(helm(deploy_env, helm4_path, "list", "--all-namespaces", "-o", "json"))
    assert sorted(r["namespace"] for r in listed) == [NAMESPACE, "binder-new"]
    assert places(project) == [(NAMESPACE, RELEASE, None), ("binder-new", RELEASE, None)]

    cluster.writes.clear()
    dry = run_cli("deploy", "-c", str(project.config), "--dry-run", "--prune", "-o", "json")
    assert dry.code == 0, dry.both
    orphans = [row["name"] for row in dry.json()["orphans"]]
    assert orphans == [f"BinderHub release {RELEASE} in {NAMESPACE}",
                       f"registry credentials Secret {NAMESPACE}/{REGISTRY_SECRET}",
                       f"namespace {NAMESPACE}"]  # fmt: skip
    assert cluster.writes == []

    pruned = deploy(run_cli, project, "--prune", "-o", "json")
    assert [step["name"] for step in pruned.json()["pruned"]] == orphans
    helm_list = json.loads(
        helm(deploy_env, helm4_path, "list", "--all-namespaces", "-o", "json")
    )  # fmt: skip
    assert [(r["name"], r["namespace"]) for r in helm_list] == [(RELEASE, "binder-new")]
    assert cluster.get("Namespace", "", NAMESPACE) is None
    assert cluster.get("Secret", "binder-new", REGISTRY_SECRET) is not None
    assert places(project) == [("binder-new", RELEASE, None)]
    quiet = deploy(run_cli, project)
    assert "left behind" not in quiet.err


def test_the_hub_turned_off_loses_bhsvcs_values_and_secrets_with_prune(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    tmp_path: Path,
    deploy_env: dict[str, str],
    helm4_path: Path,
) -> None:
    with_hub(project, tmp_path)
    hub_deploy(run_cli, project, cluster)
    with_hub(project, tmp_path, enabled=False)
    with serving(cluster, hub=False):
        off = deploy(run_cli, project, "-o", "json")
        orphans = {row["name"]: row["remove"] for row in off.json()["orphans"]}
        assert set(orphans) == {
            "JupyterHub release jupyterhub in jupyterhub",
            f"image pull Secret jupyterhub/{RELEASE}-image-pull",
            f"copy of the hub token {NAMESPACE}/{RELEASE}-hub-api-token",
        }, "the hub's namespace holds the hub: it stays"
        assert orphans["JupyterHub release jupyterhub in jupyterhub"][0].startswith(
            "bhsvc's values in release jupyterhub in jupyterhub"
        )
        assert off.json()["pruned"] == []
        pruned = deploy(run_cli, project, "--prune", "-o", "json")
    assert {step["name"] for step in pruned.json()["pruned"]} == set(orphans)
    values = helm(deploy_env, helm4_path, "get", "values", "jupyterhub", "-n", "jupyterhub",
                  "-o", "json")  # fmt: skip
    assert json.loads(values) in (None, {})
    assert releases(deploy_env, helm4_path) == {RELEASE: NAMESPACE, "jupyterhub": "jupyterhub"}
    assert cluster.get("Secret", "jupyterhub", f"{RELEASE}-image-pull") is None
    assert cluster.get("Secret", NAMESPACE, f"{RELEASE}-hub-api-token") is None
    assert places(project) == [(NAMESPACE, RELEASE, None)]
    assert not (project.rendered / "jupyterhub.values.applied.yaml").exists()


def test_prune_never_removes_what_is_no_longer_bhsvcs(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    deploy(run_cli, project)
    unlabel = {"metadata": {"labels": {"app.kubernetes.io/managed-by": None}}}
    api().patch_namespaced_secret(REGISTRY_SECRET, NAMESPACE, unlabel)
    project.write_config({"kube": {"namespace": "binder-new"}})
    pruned = deploy(run_cli, project, "--prune", "-o", "json")
    assert [step["name"] for step in pruned.json()["pruned"]] == [
        f"BinderHub release {RELEASE} in {NAMESPACE}"
    ]
    assert cluster.get("Secret", NAMESPACE, REGISTRY_SECRET) is not None
    assert cluster.get("Namespace", "", NAMESPACE) is not None, "it holds that Secret"


def test_uninstall_removes_what_earlier_places_hold_too(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    binderhub: FakeBinderHub,
    deploy_env: dict[str, str],
    helm4_path: Path,
) -> None:
    deploy(run_cli, project)
    project.write_config({"kube": {"namespace": "binder-new"}})
    deploy(run_cli, project)
    plan = run_cli("uninstall", "-c", str(project.config), "--dry-run", "-o", "json")
    names = [row["name"] for row in plan.json()["plan"]]
    # The current installation first, then what the earlier place holds.
    assert names == [f"BinderHub release {RELEASE}", "values files", "registry credentials Secret",
                     "namespace", f"BinderHub release {RELEASE} in {NAMESPACE}",
                     f"registry credentials Secret {NAMESPACE}/{REGISTRY_SECRET}",
                     f"namespace {NAMESPACE}"]  # fmt: skip
    done = run_cli("uninstall", "-c", str(project.config), "--yes", "-o", "json")
    assert done.code == 0, done.both
    assert [step["name"] for step in done.json()["steps"]] == names
    assert releases(deploy_env, helm4_path) == {}
    assert cluster.get("Namespace", "", NAMESPACE) is None
    assert cluster.get("Namespace", "", "binder-new") is None
    assert not (project.root / RECORD).exists()
