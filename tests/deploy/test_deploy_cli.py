"""`bhsvc deploy` against the fake Kubernetes API, with real helm (4, and 3 for the
rollback) installing the bundled chart, and the smoke check through the
port-forward websocket to a fake BinderHub."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from deploylib import (
    BINDERHUB_SELECTOR,
    KEY_MARKER,
    NAMESPACE,
    PULLER,
    REGISTRY_SECRET,
    RELEASE,
    Project,
    key_json,
)

from fakes.binderhub import FakeBinderHub
from fakes.k8s_api import FakeKubernetes

HELM_STORAGE = re.compile(rf"sh\.helm\.release\.v1\.{RELEASE}\.v\d+")


def deploy_args(project: Project, *extra: str) -> list[str]:
    return ["deploy", "--config", str(project.config), "--yes", "--timeout", "30", *extra]


def resource_writes(cluster: FakeKubernetes) -> list[tuple[str, str, str]]:
    """What was written, leaving out helm's own release records."""
    return [
        (w.verb, w.kind, w.name)
        for w in cluster.writes
        if not (w.kind == "Secret" and HELM_STORAGE.fullmatch(w.name))
    ]


def release_records(cluster: FakeKubernetes) -> dict[int, str]:
    """helm's release history as its Secrets hold it: revision -> status."""
    return {
        int(s["metadata"]["labels"]["version"]): s["metadata"]["labels"]["status"]
        for s in cluster.objects("Secret", NAMESPACE)
        if (s["metadata"].get("labels") or {}).get("owner") == "helm"
    }


def binderhub_objects(cluster: FakeKubernetes, kind: str) -> list[str]:
    """Names of the BinderHub component's objects of a kind."""
    return [
        o["metadata"]["name"]
        for o in cluster.objects(kind, NAMESPACE)
        if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "binderhub"
    ]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert KEY_MARKER not in text
        assert "PRIVATE KEY" not in text


# ---- a fresh install, then re-runs -------------------------------------------------


def test_fresh_install_then_rerun_changes_nothing(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    first = run_cli(*deploy_args(project))
    assert first.code == 0, first.both
    # Where it acts comes before the first change.
    where = f"to context fake (cluster {cluster.url}), namespace {NAMESPACE}"
    assert where in first.err
    assert first.err.index(where) < first.err.index("namespace: created")
    for line in ("registry credentials Secret: created", "BinderHub release binderhub: deployed",
                 "GET /versions: ok"):  # fmt: skip
        assert line in first.err
    assert "release binderhub revision 1" in first.out

    # The registry Secret: docker config.json under both keys, labelled, typed.
    secret = cluster.get("Secret", NAMESPACE, REGISTRY_SECRET)
    assert secret is not None and secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "bhsvc"
    docker = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert secret["data"]["config.json"] == secret["data"][".dockerconfigjson"]
    auth = docker["auths"]["https://europe-west10-docker.pkg.dev"]
    assert auth["username"] == "_json_key" and json.loads(auth["password"]) == json.loads(
        key_json()
    )
    # The chart's objects exist and BinderHub's pod is ready (it mounts that Secret).
    kinds = {(w.kind, w.name) for w in cluster.writes}
    for kind in ("Deployment", "DaemonSet", "Service", "ServiceAccount", "Role", "RoleBinding",
                 "NetworkPolicy"):  # fmt: skip
        assert any(k == kind for k, _ in kinds), kind
    assert [r.path for r in binderhub.requests] == ["/versions"]
    # Values files, with Secret names only.
    values = (project.rendered / "binderhub-service.values.yaml").read_text()
    assert REGISTRY_SECRET in values
    assert (project.rendered / "binderhub-service.values.yaml").stat().st_mode & 0o777 == 0o600
    assert_no_secret(first.out, first.err, values)

    cluster.writes.clear()
    again = run_cli(*deploy_args(project, "-o", "json"))
    assert again.code == 0, again.both
    steps = {step["name"]: step["status"] for step in again.json()["steps"]}
    assert steps["registry credentials Secret"] == "unchanged"
    assert steps["BinderHub release binderhub"] == "unchanged"
    assert again.json()["skipped"] == ["BinderHub release binderhub"]
    assert again.json()["revision"] == 1
    # Nothing changed: no write at all, not even a new helm revision.
    assert cluster.writes == []
    assert release_records(cluster) == {1: "deployed"}

    forced = run_cli(*deploy_args(project, "--force"))
    assert forced.code == 0, forced.both
    assert "release binderhub revision 2" in forced.out
    assert resource_writes(cluster) == []
    assert release_records(cluster) == {1: "superseded", 2: "deployed"}


def push_checksum(cluster: FakeKubernetes) -> str:
    deployment = cluster.get("Deployment", NAMESPACE, "binderhub-binderhub-service")
    assert deployment is not None
    checksum: str = deployment["spec"]["template"]["metadata"]["annotations"][
        "checksum/push-secret"
    ]
    return checksum


def test_a_changed_key_updates_the_secret_and_restarts_binderhub(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    assert run_cli(*deploy_args(project)).code == 0
    before = cluster.get("Secret", NAMESPACE, REGISTRY_SECRET)
    checksum = push_checksum(cluster)
    project.key.write_text(key_json(version=2))  # as `bhsvc init --rotate-key` leaves it
    cluster.writes.clear()
    result = run_cli(*deploy_args(project))
    assert result.code == 0, result.both
    assert "registry credentials Secret: updated" in result.err
    # BinderHub reads the credentials at start: its pod template changes, so it restarts.
    writes = resource_writes(cluster)
    assert writes[0] == ("update", "Secret", REGISTRY_SECRET)
    assert ("apply", "Deployment", "binderhub-binderhub-service") in writes
    assert push_checksum(cluster) != checksum
    after = cluster.get("Secret", NAMESPACE, REGISTRY_SECRET)
    assert before is not None and after is not None
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    password = json.loads(base64.b64decode(after["data"]["config.json"]))["auths"][
        "https://europe-west10-docker.pkg.dev"
    ]["password"]
    assert json.loads(password)["private_key_id"] == "key2"
    assert_no_secret(result.out, result.err)


def test_output_json_is_one_document(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    result = run_cli(*deploy_args(project, "--output", "json"))
    assert result.code == 0, result.both
    doc = result.json()  # the whole of stdout parses: one document
    assert doc["ok"] is True and doc["error"] is None and doc["diagnosis"] == []
    assert (doc["context"], doc["server"], doc["namespace"]) == ("fake", cluster.url, NAMESPACE)
    assert (doc["release"], doc["revision"]) == (RELEASE, 1)
    assert doc["chart_version"] == "0.1.0"
    assert doc["binderhub_version"] == binderhub.version
    assert doc["hub"] is None
    assert doc["values_files"] == [str(project.rendered / "binderhub-service.values.yaml")]
    steps = {step["name"]: step for step in doc["steps"]}
    assert steps["namespace"]["status"] == "created"
    assert steps["registry credentials Secret"]["status"] == "created"
    assert steps[f"BinderHub release {RELEASE}"]["status"] == "deployed"
    assert steps["GET /versions"]["status"] == "ok"
    for step in doc["steps"]:
        assert set(step) == {"name", "status", "detail", "seconds"}
        assert isinstance(step["seconds"], float) and step["seconds"] >= 0
    assert "✓" not in result.out
    assert_no_secret(result.out, result.err)


# ---- failures --------------------------------------------------------------------------


def test_an_unready_pod_is_diagnosed(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    cluster.set_pod_behavior("ImagePullBackOff", BINDERHUB_SELECTOR)
    result = run_cli(*deploy_args(project, "--timeout", "8"))
    assert result.code == 1
    assert "Traceback" not in result.both
    assert "Diagnosis:" in result.err
    assert "container binderhub: ImagePullBackOff: Back-off pulling image" in result.err
    assert "event Warning Failed on Pod" in result.err
    assert re.search(r"error: release binderhub did not become ready: .*rollback", result.err)
    # A fresh install that fails is uninstalled by helm.
    assert cluster.objects("Deployment", NAMESPACE) == []
    assert_no_secret(result.out, result.err)

    doc = run_cli(*deploy_args(project, "--timeout", "8", "-o", "json"))
    assert doc.code == 1
    failed = doc.json()
    assert failed["ok"] is False and "did not become ready" in failed["error"]
    assert any("ImagePullBackOff" in line for line in failed["diagnosis"])
    assert failed["steps"][-1]["status"] == "failed"


@pytest.mark.parametrize("major", [4, 3])
def test_a_failed_upgrade_rolls_back(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    binderhub: FakeBinderHub,
    monkeypatch: pytest.MonkeyPatch,
    helm3_path: Path,
    major: int,
) -> None:
    if major == 3:
        monkeypatch.setenv("BHSVC_HELM", str(helm3_path))
    assert run_cli(*deploy_args(project)).code == 0
    [good_pod] = binderhub_objects(cluster, "Pod")
    # The next revision's BinderHub image cannot be pulled.
    project.write_config({"binderhub": {"values": {"image": {"tag": "no-such-tag"}}}})
    cluster.set_pod_behavior("ImagePullBackOff", BINDERHUB_SELECTOR, image="no-such-tag")
    result = run_cli(*deploy_args(project, "--timeout", "8"))
    assert result.code == 1, result.both
    assert 'Back-off pulling image "quay.io/jupyterhub/k8s-binderhub:no-such-tag"' in result.err
    flag = "rollback-on-failure" if major == 4 else "atomic"
    assert flag in result.err
    # Revision 2 failed, revision 3 is revision 1 again; the old pod kept serving.
    assert release_records(cluster) == {1: "superseded", 2: "failed", 3: "deployed"}
    [deployment] = binderhub_objects(cluster, "Deployment")
    [container] = cluster.get("Deployment", NAMESPACE, deployment)["spec"]["template"]["spec"][
        "containers"
    ]
    assert not container["image"].endswith("no-such-tag")
    assert binderhub_objects(cluster, "Pod") == [good_pod]


def test_a_context_missing_from_the_kubeconfig_is_refused(
    run_cli: Any, project: Project, cluster: FakeKubernetes
) -> None:
    project.write_config({"kube": {"context": "production"}})
    result = run_cli(*deploy_args(project))
    assert result.code == 2
    assert "kube.context 'production' is not in the kubeconfig" in result.err
    assert "available contexts: fake" in result.err
    assert cluster.requests == []  # not one request reached the cluster


def test_dry_run_refuses_a_context_missing_from_the_kubeconfig_too(
    run_cli: Any, project: Project, cluster: FakeKubernetes
) -> None:
    """The plan would name a cluster the real run refuses: bad input, not 'no cluster'."""
    project.write_config({"kube": {"context": "production"}})
    result = run_cli("deploy", "--config", str(project.config), "--dry-run")
    assert result.code == 2
    assert "kube.context 'production' is not in the kubeconfig" in result.err
    assert cluster.requests == []


def test_a_values_folder_it_cannot_write_is_one_line(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    project.rendered.write_text("a file where the values folder goes")
    result = run_cli(*deploy_args(project))
    assert result.code == 1
    assert f"{project.rendered}/binderhub-service.values.yaml: cannot write the values file" in (
        result.err
    )
    assert "Traceback" not in result.err


def test_without_a_terminal_it_needs_yes(
    run_cli: Any, project: Project, cluster: FakeKubernetes
) -> None:
    result = run_cli("deploy", "--config", str(project.config))
    assert result.code == 2
    assert "deploy changes the cluster and needs a confirmation: pass --yes" in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert cluster.requests == []


def test_bad_credentials_stop_before_the_cluster(
    run_cli: Any, project: Project, cluster: FakeKubernetes
) -> None:
    project.key.unlink()
    result = run_cli(*deploy_args(project))
    assert result.code == 2
    assert f"{project.key}: service-account key file not found" in result.err
    assert cluster.requests == []


# ---- dry runs ----------------------------------------------------------------------------


def test_dry_run_offline_and_against_the_cluster(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    binderhub: FakeBinderHub,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    kubeconfig = os.environ["KUBECONFIG"]
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    offline = run_cli("deploy", "--dry-run", "--config", str(project.config))
    assert offline.code == 0, offline.both
    assert "No cluster reached (no kubeconfig at" in offline.out
    assert "helm upgrade --install binderhub" in offline.out

    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    fresh = run_cli("deploy", "--dry-run", "--config", str(project.config), "-o", "json")
    assert fresh.code == 0, fresh.both
    state = fresh.json()["cluster"]
    assert state["reachable"] is True and state["context"] == "fake"
    plan = {step["name"]: step for step in fresh.json()["plan"]}
    assert plan["namespace"]["state"] == "missing"
    assert plan["registry credentials Secret"]["state"] == "missing"
    helm_step = plan[f"BinderHub release {RELEASE}"]
    assert helm_step["state"] == "missing" and helm_step["blocker"] is None
    assert helm_step["command"][:3] == ["helm", "upgrade", "--install"]
    assert "--kube-context" in helm_step["command"] and "fake" in helm_step["command"]

    assert run_cli(*deploy_args(project)).code == 0
    cluster.writes.clear()
    text = run_cli("deploy", "--dry-run", "--config", str(project.config))
    assert text.code == 0, text.both
    assert f"ensure namespace {NAMESPACE} ({NAMESPACE} exists)" in text.out
    assert f"{REGISTRY_SECRET} (docker config.json" in text.out
    assert ") (up to date)" in text.out
    assert (
        "revision 1 deployed (binderhub-service-0.1.0) in binder: same chart and values" in text.out
    )
    project.key.write_text(key_json(version=3))
    changed = run_cli("deploy", "--dry-run", "--config", str(project.config))
    assert "(will be updated: its content, type or labels differ)" in changed.out
    assert cluster.writes == []  # a dry run changes nothing
    assert_no_secret(offline.both, fresh.both, text.both, changed.both)


# ---- with JupyterHub -------------------------------------------------------------------------


def test_with_the_hub_it_goes_first_and_its_token_reaches_binderhub(
    run_cli: Any, project: Project, cluster: FakeKubernetes, tmp_path: Path
) -> None:
    from hub.hublib import fake_z2jh_chart

    chart = fake_z2jh_chart(tmp_path / "charts", "4.3.1")
    project.write_config({"hub": {"enabled": True, "namespace": "jupyterhub", "chart": str(chart)}})
    with FakeBinderHub(base_url="/services/binder/") as binderhub:
        # BinderHub's pod, and the hub's proxy that routes /services/binder/ to it.
        cluster.port_targets[8585] = ("127.0.0.1", binderhub.port)
        cluster.port_targets[8000] = ("127.0.0.1", binderhub.port)
        result = run_cli(*deploy_args(project, "-o", "json"))
        assert result.code == 0, result.both
        assert [r.path for r in binderhub.requests] == ["/services/binder/versions"] * 2
        # For people: how to reach the hub, and that its default login lets anyone in.
        text = run_cli(*deploy_args(project))
        assert "port-forward service/proxy-public 8080:80" in text.out
        assert "z2jh's default authenticator, which lets anyone log in" in text.err
        auth = {"hub": {"config": {"JupyterHub": {"authenticator_class": "github"}}}}
        project.write_config({"hub": {"enabled": True, "namespace": "jupyterhub",
                                      "chart": str(chart), "values": auth}})  # fmt: skip
        quiet = run_cli(*deploy_args(project))
        assert quiet.code == 0, quiet.both
        assert "default authenticator" not in quiet.err
    doc = result.json()
    names = [step["name"] for step in doc["steps"]]
    assert names.index("JupyterHub release jupyterhub") < names.index("hub API token for BinderHub")
    assert names.index("hub API token for BinderHub") < names.index(f"BinderHub release {RELEASE}")
    assert doc["hub"]["release"] == "jupyterhub" and doc["hub"]["namespace"] == "jupyterhub"
    # The token z2jh generated, copied into BinderHub's namespace (its pod reads it there).
    key = "hub.services.binder.apiToken"
    source = cluster.get("Secret", "jupyterhub", "hub")
    copied = cluster.get("Secret", NAMESPACE, f"{RELEASE}-hub-api-token")
    assert source is not None and copied is not None
    assert copied["data"][key] == source["data"][key]
    pull = cluster.get("Secret", "jupyterhub", f"{RELEASE}-image-pull")
    assert pull is not None and pull["type"] == "kubernetes.io/dockerconfigjson"
    # The hub's users pull with the read-only account's key, never the pusher's.
    pull_auth = json.loads(base64.b64decode(pull["data"][".dockerconfigjson"]))["auths"]
    pull_key = json.loads(pull_auth["https://europe-west10-docker.pkg.dev"]["password"])
    assert pull_key["client_email"] == PULLER
    token = base64.b64decode(source["data"][key]).decode()
    assert token not in result.out + result.err
    for path in doc["values_files"]:
        assert token not in Path(path).read_text()
        assert_no_secret(Path(path).read_text())


def test_hub_values_it_cannot_read_stop_the_run_before_any_change(
    run_cli: Any, project: Project, cluster: FakeKubernetes, tmp_path: Path
) -> None:
    from hub.hublib import fake_z2jh_chart

    chart = fake_z2jh_chart(tmp_path / "charts", "4.3.1")
    project.write_config({"hub": {"enabled": True, "namespace": "jupyterhub", "chart": str(chart)}})
    cluster.forbidden_reads.add(("jupyterhub", "secrets"))  # helm keeps releases in Secrets
    result = run_cli(*deploy_args(project))
    assert result.code == 1
    # The first read there stops the run (the pull Secret, then helm's releases).
    assert "error: read Secret jupyterhub/binderhub-image-pull: forbidden" in result.err
    assert resource_writes(cluster) == []


def test_the_hubs_own_values_files_go_first_and_are_never_dropped(
    run_cli: Any, project: Project, cluster: FakeKubernetes, tmp_path: Path
) -> None:
    from hub.hublib import fake_z2jh_chart

    chart = fake_z2jh_chart(tmp_path / "charts", "4.3.1")
    mine = project.root / "hub-config.yaml"
    mine.write_text("hub:\n  config:\n    Authenticator:\n      admin_users: [alice]\n")
    hub = {"enabled": True, "chart": str(chart), "values_files": ["hub-config.yaml"]}
    project.write_config({"hub": hub})
    plan = run_cli(*deploy_args(project, "--dry-run", "-o", "json"))
    assert plan.code == 0, plan.both
    hub_command = next(s["command"] for s in plan.json()["plan"] if "jupyterhub" in s["command"])
    files = [hub_command[i + 1] for i, arg in enumerate(hub_command) if arg == "--values"]
    assert files == [str(mine), str(project.rendered / "jupyterhub.values.yaml")]
    with FakeBinderHub(base_url="/services/binder/") as binderhub:
        cluster.port_targets[8585] = ("127.0.0.1", binderhub.port)
        cluster.port_targets[8000] = ("127.0.0.1", binderhub.port)
        assert run_cli(*deploy_args(project)).code == 0
        # The same deploy without the operator's file would drop admin_users: refused.
        project.write_config({"hub": {**hub, "values_files": []}})
        writes = len(cluster.writes)
        refused = run_cli(*deploy_args(project))
        assert refused.code == 2, refused.both
        assert "(hub.config)" in refused.err and "hub.values_files" in refused.err
        assert len(cluster.writes) == writes, "nothing may change before the refusal"
        # Given again on the command line, it goes through.
        again = run_cli(*deploy_args(project, "--hub-values", str(mine)))
        assert again.code == 0, again.both
        # What bhsvc itself set before is bhsvc's to change: no home-folder hook any more.
        project.write_config({"hub": {**hub, "home_strategy": "none"}})
        changed = run_cli(*deploy_args(project))
        assert changed.code == 0, changed.both
        hub_values = (project.rendered / "jupyterhub.values.yaml").read_text()
        assert "lifecycleHooks" not in hub_values


# ---- slow path: a terminal, Ctrl-C ------------------------------------------------------------


def test_on_a_terminal_it_asks_first(
    project: Project, cluster: FakeKubernetes, deploy_env: dict[str, str]
) -> None:
    import pty

    from deploylib import bhsvc_process

    leader, follower = pty.openpty()
    proc = bhsvc_process(
        "deploy", "--config", str(project.config),
        env=deploy_env, stdin=follower, stdout=-1, stderr=-1,
    )  # fmt: skip
    os.close(follower)
    try:
        # The terminal keeps the answer until the prompt reads it.
        os.write(leader, b"n\n")
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(leader)
    assert proc.returncode == 1, err
    assert "Go ahead?" in err and "deploy cancelled: nothing was changed" in err
    assert cluster.writes == []


def test_ctrl_c_stops_cleanly_and_a_rerun_converges(
    project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub, deploy_env: dict[str, str]
) -> None:
    import signal

    from deploylib import bhsvc_process

    cluster.set_pod_behavior("CrashLoopBackOff", BINDERHUB_SELECTOR)
    proc = bhsvc_process(*deploy_args(project), env=deploy_env, stdout=-1, stderr=-1)
    deadline = time.monotonic() + 60
    while not cluster.objects("Deployment", NAMESPACE) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # helm is waiting for the pod now
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "BinderHub release binderhub: failed" in err
    assert "for helm upgrade to finish (it rolls back); Ctrl-C again stops it now" in err
    # helm had time to record the outcome: no release is left pending.
    assert "pending-install" not in release_records(cluster).values()

    cluster.pod_rules.clear()
    rerun = bhsvc_process(*deploy_args(project), env=deploy_env, stdout=-1, stderr=-1)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert "GET /versions: ok" in err


def test_a_release_helm_left_pending_stops_the_run_before_any_change(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    deploy_env: dict[str, str],
    helm4_path: Path,
) -> None:
    import signal

    from bhsvc.chart import bundled_chart

    # A helm killed while it waits (SIGKILL: no chance to record the outcome).
    cluster.set_pod_behavior("CrashLoopBackOff", BINDERHUB_SELECTOR)
    helm = subprocess.Popen(
        [str(helm4_path), "upgrade", "--install", RELEASE, str(bundled_chart()),
         "--namespace", NAMESPACE, "--create-namespace", "--wait", "--timeout", "60s"],
        env={**os.environ, **deploy_env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not cluster.objects("Deployment", NAMESPACE) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    helm.send_signal(signal.SIGKILL)
    helm.wait(timeout=10)
    assert "pending-install" in release_records(cluster).values()
    cluster.writes.clear()

    result = run_cli(*deploy_args(project))

    assert result.code == 1
    assert f"release {RELEASE} in {NAMESPACE} is pending-install" in result.err
    assert f"helm rollback {RELEASE} --namespace {NAMESPACE} --kube-context fake" in result.err
    assert "Diagnosis" not in result.err
    assert resource_writes(cluster) == []


# ---- never a downgrade ------------------------------------------------------------------


def test_a_newer_hub_chart_is_never_downgraded(
    run_cli: Any, project: Project, cluster: FakeKubernetes, tmp_path: Path
) -> None:
    from hub.hublib import fake_z2jh_chart

    newer = fake_z2jh_chart(tmp_path / "new", "4.4.0")
    older = fake_z2jh_chart(tmp_path / "old", "4.3.1")
    hub = {
        "enabled": True,
        "namespace": "jupyterhub",
        "fancy_profiles": False,
        "url": "https://hub.example.org/",
    }
    project.write_config({"hub": {**hub, "chart": str(newer)}, "binderhub": {"api_only": False}})
    with FakeBinderHub(base_url="/services/binder/") as binderhub:
        cluster.port_targets[8585] = ("127.0.0.1", binderhub.port)
        cluster.port_targets[8000] = ("127.0.0.1", binderhub.port)
        assert run_cli(*deploy_args(project)).code == 0
    project.write_config({"hub": {**hub, "chart": str(older)}, "binderhub": {"api_only": False}})
    plan = run_cli("deploy", "--dry-run", "-c", str(project.config), "-o", "json")
    [hub_step] = [s for s in plan.json()["plan"] if s["name"] == "JupyterHub release jupyterhub"]
    assert "bhsvc never downgrades a chart" in hub_step["blocker"]
    writes = len(cluster.writes)
    refused = run_cli(*deploy_args(project))
    assert refused.code == 2, refused.both
    assert "runs chart jupyterhub 4.4.0, newer than the 4.3.1 bhsvc would install" in refused.err
    assert "hub.chart_version" in refused.err and "hub.fancy_profiles: false" in refused.err
    assert len(cluster.writes) == writes, "nothing changes before the refusal"


def test_a_newer_binderhub_chart_is_never_downgraded(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    binderhub: FakeBinderHub,
    tmp_path: Path,
) -> None:
    from bhsvc.chart import bundled_chart

    newer = tmp_path / "binderhub-service"
    shutil.copytree(bundled_chart(), newer)
    chart_yaml = newer / "Chart.yaml"
    chart_yaml.write_text(re.sub(r"(?m)^version: .*$", "version: 99.0.0", chart_yaml.read_text()))
    project.write_config({"binderhub": {"release": RELEASE, "chart": str(newer)}})
    assert run_cli(*deploy_args(project)).code == 0
    project.write_config()
    refused = run_cli(*deploy_args(project))
    assert refused.code == 2, refused.both
    assert "runs chart binderhub-service 99.0.0, newer than the" in refused.err
    assert "upgrade bhsvc" in refused.err
