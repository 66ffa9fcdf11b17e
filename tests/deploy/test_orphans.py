"""deploy says what a config left behind on its cluster (bhsvc's Secrets under another
namespace or release name, their releases, the hub it no longer serves), and --prune
removes it after the deploy: against the fake Kubernetes API with real helm."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploylib import NAMESPACE, REGISTRY_SECRET, RELEASE, Project, serving
from test_uninstall import api, helm, hub_deploy, releases, with_hub

from fakes.binderhub import FakeBinderHub
from fakes.k8s_api import FakeKubernetes


def deploy(run_cli: Any, project: Project, *extra: str) -> Any:
    result = run_cli("deploy", "-c", str(project.config), "--yes", "--timeout", "30", *extra)
    assert result.code == 0, result.both
    return result


def all_releases(env: dict[str, str], helm_path: Path) -> list[tuple[str, str]]:
    listed = json.loads(helm(env, helm_path, "list", "--all-namespaces", "-o", "json"))
    return sorted((r["name"], r["namespace"]) for r in listed)


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
    assert (
        f"note: left behind: BinderHub release {RELEASE} in {NAMESPACE}: release {RELEASE} in "
        f"{NAMESPACE} (binderhub-service-0.1.0, revision 1)"
    ) in moved.err
    assert (
        f"note: left behind: Secret {NAMESPACE}/{REGISTRY_SECRET}: Secret "
        f"{NAMESPACE}/{REGISTRY_SECRET}"
    ) in moved.err
    assert "'bhsvc deploy --prune' removes them after the deploy" in moved.err
    # The notes come before the question, and change nothing.
    assert moved.err.index("left behind") < moved.err.index("Deploying BinderHub")
    assert all_releases(deploy_env, helm4_path) == [(RELEASE, NAMESPACE), (RELEASE, "binder-new")]

    cluster.writes.clear()
    dry = run_cli("deploy", "-c", str(project.config), "--dry-run", "--prune", "-o", "json")
    assert dry.code == 0, dry.both
    orphans = [row["name"] for row in dry.json()["orphans"]]
    assert orphans == [f"BinderHub release {RELEASE} in {NAMESPACE}",
                       f"Secret {NAMESPACE}/{REGISTRY_SECRET}",
                       f"namespace {NAMESPACE}"]  # fmt: skip
    assert cluster.writes == []

    pruned = deploy(run_cli, project, "--prune", "-o", "json")
    assert [step["name"] for step in pruned.json()["pruned"]] == orphans
    assert all_releases(deploy_env, helm4_path) == [(RELEASE, "binder-new")]
    assert cluster.get("Namespace", "", NAMESPACE) is None
    assert cluster.get("Secret", "binder-new", REGISTRY_SECRET) is not None
    quiet = deploy(run_cli, project)
    assert "left behind" not in quiet.err


def test_a_renamed_release_leaves_the_old_one(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    binderhub: FakeBinderHub,
    deploy_env: dict[str, str],
    helm4_path: Path,
) -> None:
    deploy(run_cli, project)
    gar = {
        "project": "my-project",
        "region": "europe-west10",
        "service_account": "binderhub-pusher",
    }
    project.write_config({"binderhub": {"release": "binder-two"}, "registry": {"gar": gar}})
    on_a_terminal = deploy(run_cli, project, "--prune")
    assert "After the deploy, --prune removes:" in on_a_terminal.out
    assert f"1. BinderHub release {RELEASE} in {NAMESPACE}: remove release" in on_a_terminal.out
    assert f"Secret {NAMESPACE}/{REGISTRY_SECRET}: deleted" in on_a_terminal.err
    assert all_releases(deploy_env, helm4_path) == [("binder-two", NAMESPACE)]
    assert cluster.get("Namespace", "", NAMESPACE) is not None, "the config's namespace"


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
        assert list(orphans) == [
            "copy of the hub's API token",
            "JupyterHub release jupyterhub",
            "hub values file",
            "image pull Secret for the hub's users",
        ], "in the reverse order deploy made them; the hub's namespace holds the hub: it stays"
        assert orphans["JupyterHub release jupyterhub"][0].startswith(
            "bhsvc's values in release jupyterhub in jupyterhub"
        )
        assert off.json()["pruned"] == []
        pruned = deploy(run_cli, project, "--prune", "-o", "json")
    assert [step["name"] for step in pruned.json()["pruned"]] == list(orphans)
    values = helm(deploy_env, helm4_path, "get", "values", "jupyterhub", "-n", "jupyterhub",
                  "-o", "json")  # fmt: skip
    assert json.loads(values) in (None, {})
    assert releases(deploy_env, helm4_path) == {RELEASE: NAMESPACE, "jupyterhub": "jupyterhub"}
    assert cluster.get("Secret", "jupyterhub", f"{RELEASE}-image-pull") is None
    assert cluster.get("Secret", NAMESPACE, f"{RELEASE}-hub-api-token") is None
    assert sorted(p.name for p in project.rendered.iterdir()) == ["binderhub-service.values.yaml"]
    with serving(cluster, hub=False):
        quiet = deploy(run_cli, project)
    assert "left behind" not in quiet.err


def test_uninstall_takes_what_it_set_up_for_a_hub_turned_off(
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
    plan = run_cli("uninstall", "-c", str(project.config), "--dry-run", "-o", "json")
    names = [row["name"] for row in plan.json()["plan"]]
    # What it set up for the hub first: then BinderHub's namespace is empty at the end.
    assert names == ["copy of the hub's API token", "JupyterHub release jupyterhub",
                     "hub values file", "image pull Secret for the hub's users",
                     f"BinderHub release {RELEASE}", "values files",
                     "registry credentials Secret", "namespace"]  # fmt: skip
    done = run_cli("uninstall", "-c", str(project.config), "--yes", "-o", "json")
    assert done.code == 0, done.both
    assert [step["name"] for step in done.json()["steps"]] == names
    assert releases(deploy_env, helm4_path) == {"jupyterhub": "jupyterhub"}
    assert cluster.get("Namespace", "", NAMESPACE) is None
    assert list(project.rendered.iterdir()) == []


def test_prune_never_removes_what_is_no_longer_bhsvcs(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    deploy(run_cli, project)
    unlabel = {"metadata": {"labels": {"app.kubernetes.io/managed-by": None}}}
    api().patch_namespaced_secret(REGISTRY_SECRET, NAMESPACE, unlabel)
    install = (project.root / ".bhsvc" / "install-id").read_text().strip()
    api().create_namespaced_secret(NAMESPACE, {"metadata": {"name": "old-registry-credentials",
        "labels": {"app.kubernetes.io/managed-by": "bhsvc", "bhsvc.io/install": install,
                   "app.kubernetes.io/instance": "old"}}})  # fmt: skip
    # Another bhsvc install on the same cluster (another folder's id), and one from
    # before installs had ids: neither is this config's.
    api().create_namespaced_secret(NAMESPACE, {"metadata": {"name": "other-install",
        "labels": {"app.kubernetes.io/managed-by": "bhsvc", "bhsvc.io/install": "f" * 16,
                   "app.kubernetes.io/instance": "other"}}})  # fmt: skip
    api().create_namespaced_secret(NAMESPACE, {"metadata": {"name": "before-ids",
        "labels": {"app.kubernetes.io/managed-by": "bhsvc",
                   "app.kubernetes.io/instance": "older"}}})  # fmt: skip
    project.write_config({"kube": {"namespace": "binder-new"}})
    pruned = deploy(run_cli, project, "--prune", "-o", "json")
    # Without bhsvc's label the Secret is not an orphan, and its release with it: a
    # release goes only with a Secret of bhsvc's for it. The other Secret is this
    # install's; another install's are left alone.
    assert [step["name"] for step in pruned.json()["pruned"]] == [
        f"Secret {NAMESPACE}/old-registry-credentials"
    ]
    assert cluster.get("Secret", NAMESPACE, "other-install") is not None
    assert cluster.get("Secret", NAMESPACE, "before-ids") is not None
    assert cluster.get("Secret", NAMESPACE, REGISTRY_SECRET) is not None
    assert cluster.get("Namespace", "", NAMESPACE) is not None, "it holds the release"


def test_a_cluster_that_does_not_let_bhsvc_look_is_a_note_unless_pruning(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    cluster.forbidden_reads.add(("", "secrets"))  # no Secrets of all namespaces
    done = deploy(run_cli, project)
    assert "note: what this config left behind was not looked for: list Secrets" in done.err
    writes = len(cluster.writes)
    refused = run_cli("deploy", "-c", str(project.config), "--yes", "--prune")
    assert refused.code == 1, refused.both
    assert "error: list Secrets app.kubernetes.io/managed-by=bhsvc in all namespaces" in refused.err
    assert len(cluster.writes) == writes, "nothing changes when --prune cannot look"
