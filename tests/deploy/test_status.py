"""`bhsvc status` against the fake Kubernetes API (the release installed by real helm
through `bhsvc deploy`), a fake BinderHub behind the port-forward and the Google
Cloud fakes: healthy, drifted and broken, as one screen and as a JSON document."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from deploylib import (
    BINDERHUB_SELECTOR,
    KEY_MARKER,
    NAMESPACE,
    REGISTRY_SECRET,
    RELEASE,
    Project,
)
from google.cloud.artifactregistry_v1 import CleanupPolicy, CleanupPolicyCondition
from healthlib import ACCOUNT, PREFIX, REPOSITORY, build_log, build_pod, provision

from fakes.binderhub import FakeBinderHub
from fakes.gcp_services import Gcp
from fakes.k8s_api import FakeKubernetes

TOP_KEYS = {
    "schema_version", "ok", "exit_code", "context", "server", "kubernetes_version",
    "namespace", "release", "components", "releases", "binderhub", "builds", "registry",
    "hub", "orphans", "problems",
}  # fmt: skip


def deploy(run_cli: Any, project: Project, *extra: str) -> None:
    result = run_cli("deploy", "--config", str(project.config), "--yes", "--timeout", "30", *extra)
    assert result.code == 0, result.both


def status(run_cli: Any, project: Project, *extra: str) -> Any:
    return run_cli("status", "--config", str(project.config), *extra)


def test_a_healthy_install_in_one_screen_and_one_document(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub, gcp: Gcp
) -> None:
    provision(gcp, created=datetime.now(timezone.utc) - timedelta(days=12))
    deploy(run_cli, project)
    cluster.writes.clear()
    gcp.reset_log()

    screen = status(run_cli, project)
    assert screen.code == 0, screen.both
    text = screen.out
    for line in (
        "✓ namespace",
        "✓ registry credentials Secret",
        f"✓ BinderHub release {RELEASE}",
        "converged",
        f"{RELEASE} in {NAMESPACE}: binderhub-service 0.1.0",
        "revision 1, deployed, last deployed",
        f"1/1 pods ready (1 wanted); /versions: BinderHub {binderhub.version}",
        "builder dind; daemon ready per node: fake-node-1 1/1; 0 running; 0 failed in the last 24",
        "europe-west10-docker.pkg.dev/my-project/binder: present, 3 images, 1.8 GiB",
        "cleanup policies: none",
        f"pusher {ACCOUNT}: enabled; key key1, 12 days old, enabled",
        "not configured (hub.enabled: false)",
        "Orphans     none",
        "Healthy: no problem found.",
    ):
        assert line in text, line
    # Read-only: nothing written to the cluster, no change asked of Google Cloud.
    assert cluster.writes == []
    assert gcp.mutating() == []

    doc = status(run_cli, project, "-o", "json")
    assert doc.code == 0, doc.both
    data = doc.json()
    assert set(data) == TOP_KEYS
    assert (data["ok"], data["exit_code"], data["problems"]) == (True, 0, [])
    assert (data["context"], data["server"]) == ("fake", cluster.url)
    assert {c["state"] for c in data["components"]} == {"converged"}
    for component in data["components"]:
        assert set(component) == {"name", "state", "detail"}
    [release] = data["releases"]
    assert release == {
        "role": "binderhub", "release": RELEASE, "namespace": NAMESPACE, "installed": True,
        "chart": "binderhub-service", "chart_version": "0.1.0",
        "app_version": release["app_version"], "revision": 1, "status": "deployed",
        "last_deployed": release["last_deployed"],
    }  # fmt: skip
    assert release["app_version"] and release["last_deployed"]
    assert data["binderhub"] == {
        "replicas": 1,
        "pods_ready": 1,
        "pods_total": 1,
        "versions": {
            "answered": True,
            "binderhub": binderhub.version,
            "builder": data["binderhub"]["versions"]["builder"],
            "error": None,
        },
    }
    assert data["builds"] == {
        "builder": "dind",
        "daemon": [{"node": "fake-node-1", "ready": 1, "total": 1, "build_pods": 0}],
        "running": [],
        "failed_recently": [],
    }
    registry = data["registry"]
    assert registry["checked"] is True and registry["image_prefix"] == PREFIX
    assert registry["repository"] == {
        "name": "europe-west10-docker.pkg.dev/my-project/binder",
        "present": True,
        "images": 3,
        "size_bytes": 1_950_000_000,
        "complete": True,
        "cleanup": {"dry_run": False, "policies": []},
    }
    assert registry["pusher"] == {
        "account": ACCOUNT, "auth": "key", "present": True, "disabled": False, "key_id": "key1",
        "key_present": True, "key_disabled": False, "key_age_days": 12,
    }  # fmt: skip
    assert data["hub"] == {"enabled": False, "service": None, "route": None}
    assert data["orphans"] == []
    assert KEY_MARKER not in screen.both + doc.both


def test_cleanup_policies_as_init_set_them_and_when_they_drift(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub, gcp: Gcp
) -> None:
    provision(gcp)
    keep_releases = CleanupPolicy(
        action=CleanupPolicy.Action.KEEP,
        condition=CleanupPolicyCondition(
            tag_state=CleanupPolicyCondition.TagState.TAGGED, tag_prefixes=["v"]
        ),
    )
    gcp.artifact_registry.repositories[REPOSITORY].cleanup_policies["keep-releases"].CopyFrom(
        CleanupPolicy.pb(keep_releases)
    )
    gar = {"project": "my-project", "region": "europe-west10"}
    cleanup = {"keep_recent": 5, "older_than_days": 30, "dry_run": True}
    project.write_config({"registry": {"gar": {**gar, "cleanup": cleanup}}})
    init = run_cli("init", "--non-interactive", "--config", str(project.config))
    assert init.code == 0, init.both
    deploy(run_cli, project)
    gcp.reset_log()

    screen = status(run_cli, project)

    assert screen.code == 0, screen.both
    assert (
        "cleanup policies: keep 5 recent, delete any after 30 days; 1 of the repository's own "
        "(keep-releases) (dry run)" in screen.out
    )
    data = status(run_cli, project, "-o", "json").json()
    assert data["problems"] == []
    assert data["registry"]["repository"]["cleanup"] == {
        "dry_run": True,
        "policies": [
            {"id": "bhsvc-keep-recent", "bhsvc": True, "action": "KEEP", "tag_state": None,
             "older_than_days": None, "keep_count": 5, "more_conditions": False},
            {"id": "keep-releases", "bhsvc": False, "action": "KEEP", "tag_state": "TAGGED",
             "older_than_days": None, "keep_count": None, "more_conditions": True},
            {"id": "bhsvc-delete-old", "bhsvc": True, "action": "DELETE", "tag_state": "ANY",
             "older_than_days": 30, "keep_count": None, "more_conditions": False},
        ],
    }  # fmt: skip
    # The config asks for more than the repository has: a warning, the fix named.
    project.write_config({"registry": {"gar": {**gar, "cleanup": {**cleanup, "dry_run": False}}}})
    drifted = status(run_cli, project, "-o", "json").json()
    assert drifted["exit_code"] == 0
    assert drifted["problems"] == [
        {
            "severity": "warning",
            "subject": "registry",
            "message": "the repository's cleanup policies are not as registry.gar.cleanup says: "
            "bhsvc init --non-interactive sets them",
        }
    ]
    assert gcp.mutating() == []  # status only reads


def test_drift_missing_objects_and_an_old_key(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub, gcp: Gcp
) -> None:
    provision(gcp, created=datetime.now(timezone.utc) - timedelta(days=120))
    deploy(run_cli, project)
    old_key = status(run_cli, project, "-o", "json")
    assert old_key.code == 0  # a warning
    assert old_key.json()["problems"] == [
        {
            "severity": "warning",
            "subject": "registry",
            "message": "pusher key key1 is 120 days old (more than 90): rotate it",
        }
    ]
    screen = status(run_cli, project)
    assert "key key1, 120 days old (rotate it), enabled" in screen.out
    assert "0 error(s), 1 warning(s):" in screen.out
    # The config changed since the deploy, and someone deleted the registry Secret.
    project.write_config({"binderhub": {"release": RELEASE, "values": {"replicas": 2}}})
    cluster.delete("Secret", NAMESPACE, REGISTRY_SECRET)
    result = status(run_cli, project, "-o", "json")
    assert result.code == 1
    data = result.json()
    assert data["ok"] is False and data["exit_code"] == 1
    states = {c["name"]: (c["state"], c["detail"]) for c in data["components"]}
    assert states["registry credentials Secret"] == ("missing", "does not exist")
    state, detail = states[f"BinderHub release {RELEASE}"]
    assert state == "drifted"
    assert detail == "revision 1 deployed, binderhub-service-0.1.0: values differ at replicas"
    assert data["problems"] == [
        {
            "severity": "error",
            "subject": "registry credentials Secret",
            "message": "missing: does not exist",
        },
        {
            "severity": "error",
            "subject": "values files",
            "message": "drifted: will write binderhub-service.values.yaml",
        },
        {
            "severity": "error",
            "subject": f"BinderHub release {RELEASE}",
            "message": f"drifted: {detail}",
        },
    ]
    # Without the Secret, the key in use is not known.
    assert data["registry"]["pusher"]["key_id"] is None
    screen = status(run_cli, project)
    assert screen.code == 1
    assert "3 error(s), 0 warning(s):" in screen.out
    assert "~ values files" in screen.out and "✗ registry credentials Secret" in screen.out


def test_failed_builds_of_the_last_day_with_their_repository_and_reason(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub, gcp: Gcp
) -> None:
    provision(gcp)
    deploy(run_cli, project)
    repo = "https://github.com/binder-examples/requirements"
    cluster.pod_logs.append(
        ("name=build-denied", build_log("Pushing image\n", "denied: requested access to the "
                                        "resource is denied\n"))
    )  # fmt: skip
    cluster.start_pod(build_pod(NAMESPACE, "build-denied", repo), "Failed")
    cluster.start_pod(build_pod(NAMESPACE, "build-crashed", repo + "-2"), "Failed")
    cluster.start_pod(build_pod(NAMESPACE, "build-running", repo + "-3"))
    data = status(run_cli, project, "-o", "json").json()
    builds = data["builds"]
    assert builds["running"] == ["build-running"]
    assert builds["daemon"][0]["build_pods"] == 1
    failed = {b["name"]: b for b in builds["failed_recently"]}
    assert set(failed) == {"build-denied", "build-crashed"}
    assert failed["build-denied"]["repository"] == repo
    assert failed["build-denied"]["reason"] == (
        "push refused: denied: requested access to the resource is denied"
    )
    assert failed["build-crashed"]["reason"] == "exit code 1 (Error)"
    assert failed["build-crashed"]["finished"]
    # A warning: the service works, some builds did not.
    assert data["exit_code"] == 0
    [problem] = [p for p in data["problems"] if p["subject"] == "builds"]
    assert problem["severity"] == "warning"
    assert problem["message"].startswith("2 build pod(s) failed in the last 24 hours")


def test_binderhub_down_is_a_problem_with_the_reason(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub, gcp: Gcp
) -> None:
    provision(gcp)
    deploy(run_cli, project)
    cluster.port_targets.pop(8585)  # the process in the pod stopped listening
    data = status(run_cli, project, "-o", "json").json()
    assert data["exit_code"] == 1
    versions = data["binderhub"]["versions"]
    assert versions["answered"] is False
    assert "failed to connect to localhost:8585" in versions["error"]
    [check] = [c for c in data["components"] if c["name"] == "GET /versions"]
    assert check["state"] == "failing"


def test_orphans_of_an_earlier_namespace_are_listed(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub, gcp: Gcp
) -> None:
    provision(gcp)
    project.write_config({"kube": {"namespace": "earlier"}})
    deploy(run_cli, project)
    project.write_config()
    deploy(run_cli, project)
    data = status(run_cli, project, "-o", "json").json()
    assert data["orphans"] == [
        {"kind": "release", "namespace": "earlier", "name": RELEASE, "release": RELEASE},
        {"kind": "Secret", "namespace": "earlier", "name": REGISTRY_SECRET, "release": RELEASE},
    ]
    assert [p["subject"] for p in data["problems"]] == ["orphans", "orphans"]
    assert {p["severity"] for p in data["problems"]} == {"warning"}
    assert data["exit_code"] == 0
    screen = status(run_cli, project)
    assert f"Orphans     release earlier/{RELEASE} (release {RELEASE})" in screen.out


def test_another_registry_is_not_checked(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    password = project.root / "password.txt"
    password.write_text("registry-password\n")
    project.config.write_text(
        f"version: 1\nkube: {{namespace: {NAMESPACE}}}\nregistry:\n  provider: quay\n"
        f"  username: someone\n  password_file: {password}\n"
    )
    deploy(run_cli, project)
    result = status(run_cli, project, "-o", "json")
    assert result.code == 0, result.both
    registry = result.json()["registry"]
    assert registry["checked"] is False
    assert registry["not_checked_reason"] == (
        "bhsvc reads the registry's API for Artifact Registry only, not quay"
    )
    assert registry["image_prefix"] == "quay.io/someone/binder-"
    assert "registry-password" not in result.both


def test_no_cluster_is_one_line_and_exit_1(
    run_cli: Any, project: Project, tmp_path: Path, monkeypatch: Any
) -> None:
    dead = FakeKubernetes()
    dead.start()
    kubeconfig = dead.kubeconfig(tmp_path / "dead-kubeconfig")
    dead.stop()
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    result = status(run_cli, project)
    assert result.code == 1
    assert result.out == ""
    [line] = result.err.strip().splitlines()
    assert line.startswith("error: reach the cluster of context fake: cannot reach the Kubernetes")
    as_json = status(run_cli, project, "-o", "json")
    assert as_json.code == 1 and as_json.json()["ok"] is False


def test_bad_input_is_exit_2_before_any_call(
    run_cli: Any, project: Project, cluster: FakeKubernetes, monkeypatch: Any
) -> None:
    project.config.write_text("version: 1\nkube: {namespace: Not_A_Name}\n")
    result = status(run_cli, project)
    assert result.code == 2
    assert result.err.startswith("error: ") and "kube.namespace" in result.err
    assert "Traceback" not in result.err
    project.write_config()
    monkeypatch.setenv("BHSVC_ARTIFACT_REGISTRY_ENDPOINT", "http://example.org:80")
    result = run_cli("doctor", "--config", str(project.config))
    assert result.code == 2
    [line] = result.err.strip().splitlines()
    assert line.startswith("error: BHSVC_ARTIFACT_REGISTRY_ENDPOINT=http://example.org:80: ")
    assert cluster.requests == []


def test_doctor_on_a_standalone_install(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub, gcp: Gcp
) -> None:
    """No hub: the hub's checks have nothing to say. Two replicas serving BinderHub's
    own pages need a shared build token secret, and both replicas ready (one lost:
    its replacement crashes)."""
    provision(gcp)
    deploy(run_cli, project)
    healthy = run_cli("doctor", "--config", str(project.config), "-o", "json")
    assert healthy.code == 0, healthy.both
    assert healthy.json()["findings"] == []

    project.write_config(
        {"binderhub": {"release": RELEASE, "api_only": False, "values": {"replicas": 2}}}
    )
    deploy(run_cli, project)
    cluster.set_pod_behavior("CrashLoopBackOff", BINDERHUB_SELECTOR)
    pods = [
        p for p in cluster.objects("Pod", NAMESPACE)
        if p["metadata"]["labels"].get("app.kubernetes.io/component") == "binderhub"
    ]  # fmt: skip
    cluster.delete("Pod", NAMESPACE, pods[0]["metadata"]["name"])
    # Status: a problem. Doctor: that, and what two replicas need.
    result = status(run_cli, project, "-o", "json")
    assert result.code == 1
    data = result.json()
    assert data["binderhub"]["replicas"] == 2
    assert (data["binderhub"]["pods_ready"], data["binderhub"]["pods_total"]) == (1, 2)
    assert data["problems"] == [
        {
            "severity": "error",
            "subject": "BinderHub",
            "message": "1/2 pods ready (2 replicas wanted)",
        }
    ]
    result = run_cli("doctor", "--config", str(project.config), "-o", "json")
    assert result.code == 1
    found = result.json()["findings"]
    assert [f["check"] for f in found] == ["replicas", "replicas"]
    assert found[0]["finding"] == (
        "1 of 2 BinderHub replicas ready (2 pods): requests that reach the others fail"
    )
    assert found[1]["finding"] == (
        "2 replicas serve BinderHub's pages without a shared build token secret: a build "
        "started from one replica's page is refused by another"
    )
    assert found[1]["fix"] == (
        "give every replica one secret (binderhub.values.extraEnv: "
        "BINDERHUB_BUILD_TOKEN_SECRET from a Secret, hex), or set binderhub.values.replicas: "
        f"1; then bhsvc deploy --config {project.config}"
    )
