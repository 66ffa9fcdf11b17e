"""`bhsvc uninstall` against the fake Kubernetes API with real helm (and the Google
Cloud fakes for --registry): only what bhsvc made goes, the plan comes first, a
second run changes nothing."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploylib import NAMESPACE, REGISTRY_SECRET, RELEASE, Project, serving

from fakes.binderhub import FakeBinderHub
from fakes.gcp_services import Gcp
from fakes.k8s_api import FakeKubernetes

RECORD = Path(".bhsvc") / "installed.yaml"
DOCKERHUB = {
    "registry": {
        "provider": "dockerhub",
        "gar": None,
        "username": "binder-bot",
        "password_file": "t",
    }
}


def api() -> Any:
    """The Kubernetes API of the test's kubeconfig, as another client would change it."""
    from bhsvc.kube import connect

    return connect(None).core


def deploy(run_cli: Any, project: Project, *extra: str) -> None:
    result = run_cli("deploy", "-c", str(project.config), "--yes", "--timeout", "30", *extra)
    assert result.code == 0, result.both


def uninstall(run_cli: Any, project: Project, *extra: str) -> Any:
    return run_cli("uninstall", "-c", str(project.config), "--timeout", "30", *extra)


def helm(env: dict[str, str], helm_path: Path, *args: str) -> str:
    proc = subprocess.run(
        [str(helm_path), *args], env={**os.environ, **env}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def releases(env: dict[str, str], helm_path: Path) -> dict[str, str]:
    listed = json.loads(helm(env, helm_path, "list", "--all-namespaces", "-o", "json"))
    return {r["name"]: r["namespace"] for r in listed}


def with_hub(project: Project, tmp_path: Path, **hub: Any) -> None:
    from hub.hublib import fake_z2jh_chart

    chart = fake_z2jh_chart(tmp_path / "charts", "4.3.1")
    settings = {"enabled": True, "namespace": "jupyterhub", "chart": str(chart), **hub}
    project.write_config({"hub": settings})


def hub_deploy(run_cli: Any, project: Project, cluster: FakeKubernetes, *extra: str) -> None:
    with serving(cluster, hub=True):
        deploy(run_cli, project, *extra)


# ---- BinderHub alone ------------------------------------------------------------------------


@pytest.mark.parametrize("major", [4, 3])
def test_it_removes_what_deploy_made_and_a_rerun_changes_nothing(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    binderhub: FakeBinderHub,
    deploy_env: dict[str, str],
    helm3_path: Path,
    helm4_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    major: int,
) -> None:
    helm_path = helm4_path if major == 4 else helm3_path
    monkeypatch.setenv("BHSVC_HELM", str(helm_path))
    deploy(run_cli, project)
    cluster.writes.clear()

    dry = uninstall(run_cli, project, "--dry-run")
    assert dry.code == 0, dry.both
    assert cluster.writes == []
    assert f"1. BinderHub release {RELEASE}: remove release {RELEASE} in {NAMESPACE}" in dry.out
    assert (
        f"helm uninstall {RELEASE} --namespace {NAMESPACE} --kube-context fake --wait "
        "--cascade foreground --timeout 30s"
    ) in dry.out
    assert f"remove Secret {NAMESPACE}/{REGISTRY_SECRET}" in dry.out
    assert f"remove namespace {NAMESPACE}" in dry.out

    done = uninstall(run_cli, project, "--yes")
    assert done.code == 0, done.both
    assert "Removing BinderHub release binderhub from context fake" in done.err
    for line in (f"BinderHub release {RELEASE}: uninstalled", "values files: deleted",
                 "registry credentials Secret: deleted", "namespace: deleted"):  # fmt: skip
        assert line in done.err
    assert releases(deploy_env, helm_path) == {}
    assert cluster.get("Namespace", "", NAMESPACE) is None
    assert list(project.rendered.iterdir()) == []
    assert project.key.exists(), "the key goes only with --registry"

    cluster.writes.clear()
    again = uninstall(run_cli, project, "--yes")
    assert again.code == 0, again.both
    assert "Nothing of bhsvc's to remove." in again.out
    assert f"release {RELEASE} in {NAMESPACE} is not installed" in again.out
    assert cluster.writes == []


def test_what_bhsvc_did_not_make_stays(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    binderhub: FakeBinderHub,
    deploy_env: dict[str, str],
    helm4_path: Path,
) -> None:
    # The namespace was there before bhsvc; a second one bhsvc creates holds something else.
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    deploy(run_cli, project)
    secret = cluster.get("Secret", NAMESPACE, REGISTRY_SECRET)
    assert secret is not None
    # Someone took the Secret over: without bhsvc's label it is no longer bhsvc's.
    unlabel = {"metadata": {"labels": {"app.kubernetes.io/managed-by": None}}}
    api().patch_namespaced_secret(REGISTRY_SECRET, NAMESPACE, unlabel)

    result = uninstall(run_cli, project, "--yes", "-o", "json")
    assert result.code == 0, result.both
    doc = result.json()
    kept = {row["name"]: row["detail"] for row in doc["kept"]}
    assert kept["namespace"] == f"namespace {NAMESPACE} was not created by bhsvc: left alone"
    assert kept["registry credentials Secret"] == (
        f"Secret {NAMESPACE}/{REGISTRY_SECRET} was not made by bhsvc: left alone"
    )
    assert cluster.get("Secret", NAMESPACE, REGISTRY_SECRET) is not None
    assert cluster.get("Namespace", "", NAMESPACE) is not None
    assert releases(deploy_env, helm4_path) == {}


def test_a_namespace_bhsvc_created_stays_while_it_holds_something_else(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    deploy(run_cli, project)
    # Something of someone else's: helm does not know it, and it has no owner.
    notes = {"metadata": {"name": "notes"}, "data": {"todo": "keep me"}}
    api().create_namespaced_config_map(NAMESPACE, notes)
    plan = uninstall(run_cli, project, "--dry-run", "-o", "json").json()
    kept = {row["name"]: row["detail"] for row in plan["kept"]}
    assert kept["namespace"] == f"namespace {NAMESPACE} is kept: it holds ConfigMap/notes"
    assert [row["name"] for row in plan["plan"]][-1] == "registry credentials Secret"

    result = uninstall(run_cli, project, "--yes", "-o", "json")
    assert result.code == 0, result.both
    assert [s["name"] for s in result.json()["steps"]] == [row["name"] for row in plan["plan"]]
    assert cluster.get("ConfigMap", NAMESPACE, "notes") is not None
    # Once it is empty, the next run deletes the namespace bhsvc created.
    cluster.writes.clear()
    assert uninstall(run_cli, project, "--yes").code == 0
    assert [w.verb for w in cluster.writes] == []
    api().delete_namespaced_config_map("notes", NAMESPACE)
    final = uninstall(run_cli, project, "--yes")
    assert final.code == 0, final.both
    assert "namespace: deleted (binder deleted)" in final.err
    assert cluster.get("Namespace", "", NAMESPACE) is None


def test_a_release_of_another_chart_is_left_alone(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    deploy_env: dict[str, str],
    helm4_path: Path,
    tmp_path: Path,
) -> None:
    from hub.hublib import fake_z2jh_chart

    chart = fake_z2jh_chart(tmp_path / "charts", "4.3.1")
    helm(deploy_env, helm4_path, "install", RELEASE, str(chart), "--namespace", NAMESPACE,
         "--create-namespace")  # fmt: skip
    result = uninstall(run_cli, project, "--yes", "-o", "json")
    assert result.code == 0, result.both
    kept = {row["name"]: row["detail"] for row in result.json()["kept"]}
    assert kept[f"BinderHub release {RELEASE}"] == (
        f"release {RELEASE} in {NAMESPACE} runs chart jupyterhub-4.3.1, not "
        "binderhub-service: left alone"
    )
    assert releases(deploy_env, helm4_path) == {RELEASE: NAMESPACE}


# ---- the hub ----------------------------------------------------------------------------------


def test_a_hub_bhsvc_installed_loses_bhsvcs_values_and_goes_only_with_hub(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    tmp_path: Path,
    deploy_env: dict[str, str],
    helm4_path: Path,
) -> None:
    with_hub(project, tmp_path)
    hub_deploy(run_cli, project, cluster)
    noted = yaml.safe_load((project.root / RECORD).read_text())
    assert [(h["namespace"], h["release"]) for h in noted["hubs"]] == [("jupyterhub", "jupyterhub")]

    # Without --hub: the hub keeps running, without anything of bhsvc's.
    result = uninstall(run_cli, project, "--yes", "-o", "json")
    assert result.code == 0, result.both
    steps = [s["name"] for s in result.json()["steps"]]
    assert steps == [f"BinderHub release {RELEASE}", "hub API token for BinderHub",
                     "JupyterHub release jupyterhub", "values files",
                     "image pull Secret for the hub's users", "registry credentials Secret",
                     "namespace"]  # fmt: skip
    values = helm(deploy_env, helm4_path, "get", "values", "jupyterhub", "-n", "jupyterhub",
                  "-o", "json")  # fmt: skip
    assert json.loads(values) in (None, {})
    assert releases(deploy_env, helm4_path) == {"jupyterhub": "jupyterhub"}
    assert cluster.get("Namespace", "", NAMESPACE) is None
    assert cluster.get("Namespace", "", "jupyterhub") is not None, "it holds the hub"
    assert cluster.get("Secret", "jupyterhub", f"{RELEASE}-image-pull") is None
    hub_secret = cluster.get("Secret", "jupyterhub", "hub")
    assert hub_secret is not None
    assert "hub.services.binder.apiToken" not in (hub_secret.get("data") or {})

    # With --hub: the release bhsvc installed, and its namespace once empty.
    cluster.writes.clear()
    plan = uninstall(run_cli, project, "--hub", "--dry-run", "-o", "json").json()["plan"]
    assert [row["name"] for row in plan] == ["JupyterHub release jupyterhub", "namespace"]
    gone = uninstall(run_cli, project, "--hub", "--yes", "-o", "json")
    assert gone.code == 0, gone.both
    assert [s["name"] for s in gone.json()["steps"]] == [row["name"] for row in plan]
    assert releases(deploy_env, helm4_path) == {}
    assert cluster.get("Namespace", "", "jupyterhub") is None
    assert not (project.root / RECORD).exists()
    again = uninstall(run_cli, project, "--hub", "--yes")
    assert again.code == 0, again.both
    assert "Nothing of bhsvc's to remove." in again.out


def test_a_hub_bhsvc_only_connected_is_never_uninstalled(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    tmp_path: Path,
    deploy_env: dict[str, str],
    helm4_path: Path,
) -> None:
    with_hub(project, tmp_path, values_files=["hub-config.yaml"])
    mine = project.root / "hub-config.yaml"
    mine.write_text("hub:\n  config:\n    Authenticator:\n      admin_users: [alice]\n")
    chart = str(tmp_path / "charts" / "jupyterhub")
    # The hub was there before bhsvc: installed by its operator with their file.
    helm(deploy_env, helm4_path, "install", "jupyterhub", chart, "--namespace", "jupyterhub",
         "--create-namespace", "--values", str(mine))  # fmt: skip
    hub_deploy(run_cli, project, cluster)
    assert not (project.root / RECORD).exists(), "bhsvc did not install the hub"
    writes = len(cluster.writes)

    refused = uninstall(run_cli, project, "--hub", "--yes")
    assert refused.code == 2, refused.both
    assert "--hub: bhsvc did not install the hub release jupyterhub in jupyterhub" in refused.err
    assert len(cluster.writes) == writes, "nothing changes before the refusal"

    # Without its own file, an upgrade would drop what only that file set: refused.
    with_hub(project, tmp_path, values_files=[])
    dropped = uninstall(run_cli, project, "--yes")
    assert dropped.code == 2, dropped.both
    assert "holds values neither your files nor bhsvc set (hub.config)" in dropped.err
    assert len(cluster.writes) == writes

    result = uninstall(run_cli, project, "--yes", "--hub-values", str(mine))
    assert result.code == 0, result.both
    values = helm(deploy_env, helm4_path, "get", "values", "jupyterhub", "-n", "jupyterhub",
                  "-o", "json")  # fmt: skip
    assert json.loads(values) == yaml.safe_load(mine.read_text()), "the operator's values only"
    again = uninstall(run_cli, project, "--yes", "--hub-values", str(mine))
    assert again.code == 0 and "Nothing of bhsvc's to remove." in again.out


def test_a_hub_reinstalled_by_someone_else_is_not_bhsvcs(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    tmp_path: Path,
    deploy_env: dict[str, str],
    helm4_path: Path,
) -> None:
    with_hub(project, tmp_path)
    hub_deploy(run_cli, project, cluster)
    chart = str(tmp_path / "charts" / "jupyterhub")
    # Uninstalled and installed again by hand, under the same name.
    helm(deploy_env, helm4_path, "uninstall", "jupyterhub", "-n", "jupyterhub", "--wait")
    helm(deploy_env, helm4_path, "install", "jupyterhub", chart, "-n", "jupyterhub")
    refused = uninstall(run_cli, project, "--hub", "--dry-run", "-o", "json")
    assert refused.code == 0
    [hub] = [
        row for row in refused.json()["kept"] if row["name"] == "JupyterHub release jupyterhub"
    ]
    assert hub["detail"] == "release jupyterhub in jupyterhub was not installed by bhsvc"


# ---- bad input, asking first -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "config", "message"),
    [
        (["--delete-images", "--yes"], {}, "--delete-images only goes with --registry"),
        (["--hub", "--yes"], {}, "--hub: "),
        (["--registry", "--yes"], DOCKERHUB, "--registry: bhsvc provisions only Artifact Registry"),
        ([], {}, "uninstall removes things and needs a confirmation: pass --yes"),
    ],
)
def test_bad_input_exits_2_before_any_request(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    extra: list[str],
    config: dict[str, Any],
    message: str,
) -> None:
    project.write_config(config)
    result = uninstall(run_cli, project, *extra)
    assert result.code == 2, result.both
    assert message in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert cluster.requests == []


def test_on_a_terminal_it_asks_first(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    binderhub: FakeBinderHub,
    deploy_env: dict[str, str],
) -> None:
    import pty

    from deploylib import bhsvc_process

    deploy(run_cli, project)
    cluster.writes.clear()
    leader, follower = pty.openpty()
    proc = bhsvc_process("uninstall", "--config", str(project.config), env=deploy_env,
                         stdin=follower, stdout=-1, stderr=-1)  # fmt: skip
    os.close(follower)
    try:
        os.write(leader, b"n\n")
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(leader)
    assert proc.returncode == 1, err
    assert "Removal plan for context fake" in out
    assert "Remove these?" in err and "uninstall cancelled: nothing was changed" in err
    assert cluster.writes == []


# ---- the registry -------------------------------------------------------------------------------


def test_registry_goes_with_the_installation_and_images_only_when_asked(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    binderhub: FakeBinderHub,
    gcp: Gcp,
) -> None:
    from bhsvc.config import load_config
    from bhsvc.registry.provision import provision_registry

    project.key.unlink()  # init makes the key
    provision_registry(load_config(project.config), env=gcp.env)
    deploy(run_cli, project)
    repo = "projects/my-project/locations/europe-west10/repositories/binder"
    gcp.artifact_registry.add_image(repo, "binder-requirements-55ab5c", "abc123")
    writes = len(cluster.writes)
    gcp.reset_log()

    refused = uninstall(run_cli, project, "--registry", "--yes")
    assert refused.code == 2, refused.both
    assert "pass --delete-images to delete them with it" in refused.err
    assert len(cluster.writes) == writes and gcp.mutating() == []

    plan = uninstall(run_cli, project, "--registry", "--delete-images", "--dry-run", "-o", "json")
    names = [row["name"] for row in plan.json()["plan"]]
    # What deploy made goes first, what init made last.
    assert names[-3:] == ["pusher key", "pusher service account", "Artifact Registry repository"]
    done = uninstall(run_cli, project, "--registry", "--delete-images", "--yes", "-o", "json")
    assert done.code == 0, done.both
    assert [s["name"] for s in done.json()["steps"]] == names
    assert repo not in gcp.artifact_registry.repositories
    assert gcp.iam.accounts == {}
    assert not project.key.exists()
    # The key never shows, not even in what uninstall printed.
    for issued in gcp.iam.issued_private_keys:
        assert issued not in done.out + done.err
    gcp.reset_log()
    again = uninstall(run_cli, project, "--registry", "--yes")
    assert again.code == 0 and "Nothing of bhsvc's to remove." in again.out
    assert gcp.mutating() == []


def test_the_json_document_holds_no_secret(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    deploy(run_cli, project)
    secret = cluster.get("Secret", NAMESPACE, REGISTRY_SECRET)
    assert secret is not None
    content = base64.b64decode(secret["data"]["config.json"]).decode()
    result = uninstall(run_cli, project, "--yes", "-o", "json")
    assert result.code == 0
    assert content not in result.out and "PRIVATE" not in result.out + result.err
