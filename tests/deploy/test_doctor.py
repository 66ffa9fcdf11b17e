"""`bhsvc doctor` against one installation with a hub, deployed once by `bhsvc deploy`
(real helm, the fake Kubernetes API, a stand-in z2jh chart, the Google Cloud fakes),
then broken one way per test the way it breaks in the field: by hand-made helm
upgrades, deleted objects, pods that fail as the kubelet reports them, logs, keys.
Each test puts the cluster back as it was (a snapshot of the fake's store)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploylib import (
    KEY_MARKER,
    NAMESPACE,
    RELEASE,
    Project,
    cluster_env,
    write_key_files,
)
from healthlib import (
    ACCOUNT,
    AR_PUSH_DENIED,
    PREFIX,
    build_log,
    build_pod,
    provision,
    user_pod,
)

from bhsvc.chart import bundled_chart
from bhsvc.health.checks import CHECKS
from clirun import CliRun, run_in_process
from fakes.binderhub import FakeBinderHub
from fakes.gcp_services import Gcp, serve_gcp
from fakes.k8s_api import NODE_NAME, FakeKubernetes

pytestmark = pytest.mark.timeout(600)

HUB_NS = "jupyterhub"
BINDERHUB_POD = "app.kubernetes.io/component=binderhub"
DAEMON_POD = "app.kubernetes.io/component=docker-api"


@dataclass
class World:
    cluster: FakeKubernetes
    binderhub: FakeBinderHub
    gcp: Gcp
    project: Project
    hub_chart: Path
    env: dict[str, str]

    def helm(self, *args: str) -> None:
        done = subprocess.run(
            [self.env["BHSVC_HELM"], *args, "--kube-context", "fake"],
            env={**os.environ, **self.env}, capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    def upgrade_binderhub(self, *flags: str) -> None:
        """A hand-made `helm upgrade` of BinderHub's release, keeping its values."""
        self.helm("upgrade", RELEASE, str(bundled_chart()), "--namespace", NAMESPACE,
                  "--reuse-values", *flags)  # fmt: skip

    def upgrade_hub(self, *flags: str) -> None:
        self.helm("upgrade", "jupyterhub", str(self.hub_chart), "--namespace", HUB_NS,
                  "--reuse-values", *flags)  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, helm4_path: Path) -> Iterator[World]:
    from hub.hublib import fake_z2jh_chart

    root = tmp_path_factory.mktemp("doctor")
    key = write_key_files(root / "proj" / ".bhsvc")
    project = Project(root / "proj", root / "proj" / "bhsvc.yaml", key)
    chart = fake_z2jh_chart(root / "charts", "4.3.1")
    project.write_config({"hub": {"enabled": True, "namespace": HUB_NS, "chart": str(chart)}})
    with (
        FakeKubernetes(strict_references=True) as cluster,
        FakeBinderHub(base_url="/services/binder/") as binderhub,
        serve_gcp() as gcp,
    ):
        kubeconfig = cluster.kubeconfig(root / "kubeconfig")
        env = {**cluster_env(kubeconfig, helm4_path, root / "home"), **gcp.env}
        # BinderHub's pod, and the hub's proxy that routes /services/binder/ to it.
        cluster.port_targets[8585] = ("127.0.0.1", binderhub.port)
        cluster.port_targets[8000] = ("127.0.0.1", binderhub.port)
        provision(gcp)
        done = subprocess.run(
            [sys.executable, "-m", "bhsvc", "deploy", "--config", str(project.config), "--yes",
             "--timeout", "60"],
            env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield World(cluster, binderhub, gcp, project, chart, env)


@pytest.fixture
def world_now(world: World) -> Iterator[World]:
    """The world, put back as it was after the test."""
    snapshot = world.cluster.snapshot()
    targets = dict(world.cluster.port_targets)
    yield world
    world.cluster.restore(snapshot)
    world.cluster.port_targets.clear()
    world.cluster.port_targets.update(targets)


@pytest.fixture
def run(
    world_now: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    for name, value in world_now.env.items():
        monkeypatch.setenv(name, value)
    return lambda *args: run_in_process(monkeypatch, capsys, *args)


def doctor(run: Any, world: World, *extra: str) -> CliRun:
    return run("doctor", "--config", str(world.project.config), *extra)  # type: ignore[no-any-return]


def findings(run: Any, world: World) -> list[dict[str, Any]]:
    """Doctor's findings; its exit code says whether there is an error."""
    result = doctor(run, world, "-o", "json")
    document = result.json()
    found: list[dict[str, Any]] = document["findings"]
    assert result.code == document["exit_code"], result.both
    if any(f["severity"] == "error" for f in found):
        assert result.code == 1
    return found


def fix(world: World, command: str) -> str:
    return f"bhsvc {command} --config {world.project.config}"


# ---- healthy ---------------------------------------------------------------------------


def test_a_healthy_install_has_no_finding(run: Any, world_now: World) -> None:
    config = str(world_now.project.config)
    status = run("status", "--config", config, "-o", "json")
    assert status.code == 0, status.both
    data = status.json()
    assert data["problems"] == []
    assert data["hub"] == {
        "enabled": True,
        "namespace": HUB_NS,
        "release": "jupyterhub",
        "service": {"name": "binder", "url": "http://binderhub-binderhub-service.binder:80"},
        "route": {
            "path": "/services/binder/versions",
            "answered": True,
            "binderhub": world_now.binderhub.version,
            "builder": data["hub"]["route"]["builder"],
            "error": None,
        },
    }
    assert [r["role"] for r in data["releases"]] == ["binderhub", "jupyterhub"]
    assert {c["state"] for c in data["components"]} == {"converged"}
    result = doctor(run, world_now, "-o", "json")
    assert result.code == 0, result.both
    document = result.json()
    assert document["findings"] == [] and document["ok"] is True
    assert set(document) == set(data) | {"findings"}
    text = doctor(run, world_now)
    assert text.code == 0
    assert "Healthy: no problem found." in text.out
    # The Secrets status reads (registry, pull, hub token) show only in names.
    token = world_now.cluster.get("Secret", HUB_NS, "hub")
    assert token is not None
    for value in token["data"].values():
        assert base64.b64decode(value).decode() not in text.both + result.both
    assert KEY_MARKER not in text.both + result.both + status.both
    assert "Doctor: no known failure found." in text.out
    assert len(CHECKS) == 11  # each ran above without a false alarm


# ---- the registry ----------------------------------------------------------------------


def test_a_registry_url_other_than_the_push_target_makes_a_rebuild_loop(
    run: Any, world_now: World
) -> None:
    world_now.upgrade_binderhub("--set", "config.DockerRegistry.url=https://gcr.io")
    [found] = findings(run, world_now)
    assert found["check"] == "rebuild-loop" and found["severity"] == "error"
    assert found["finding"] == (
        "BinderHub looks images up at gcr.io (config.DockerRegistry.url) but pushes them to "
        "europe-west10-docker.pkg.dev (config.BinderHub.image_prefix): it never finds what it "
        "built and rebuilds on every launch"
    )
    assert found["fix"] == (
        "remove config.DockerRegistry.url from binderhub.values (or set it to "
        f"https://europe-west10-docker.pkg.dev), then {fix(world_now, 'deploy')}"
    )


def test_credentials_for_another_registry_make_a_rebuild_loop(run: Any, world_now: World) -> None:
    # The registry Secret written by hand for another registry (kubectl create secret
    # docker-registry --docker-server us-docker.pkg.dev ...).
    config = json.dumps(
        {"auths": {"us-docker.pkg.dev": {"username": "_json_key", "password": "x"}}}
    )
    data = base64.b64encode(config.encode()).decode()
    world_now.cluster.delete("Secret", NAMESPACE, f"{RELEASE}-registry-credentials")
    world_now.cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": f"{RELEASE}-registry-credentials", "namespace": NAMESPACE},
            "data": {".dockerconfigjson": data, "config.json": data},
        }
    )
    [found] = findings(run, world_now)
    assert found["finding"] == (
        "BinderHub looks images up at us-docker.pkg.dev (the first registry of its "
        "credentials) but pushes them to europe-west10-docker.pkg.dev "
        "(config.BinderHub.image_prefix): it never finds what it built and rebuilds on "
        "every launch"
    )
    assert found["fix"] == (
        "make registry.server and registry.image_prefix name one registry, then "
        f"{fix(world_now, 'deploy')}"
    )


def test_credentials_that_cannot_read_make_a_rebuild_loop(run: Any, world_now: World) -> None:
    image = f"{PREFIX}binder-2dexamples-2drequirements-55ab5c:{'a' * 40}"
    world_now.cluster.pod_logs.append(
        (
            BINDERHUB_POD,
            [
                "[I 2026-01-01 10:00:00.000 BinderHub builder:420] Launching pod",
                f"[E 2026-01-01 10:00:01.000 BinderHub builder:435] Failed to get image "
                f"manifest for {image}",
                "    Traceback (most recent call last):",
                "    tornado.httpclient.HTTPClientError: HTTP 403: Forbidden",
            ],
        )
    )
    [found] = findings(run, world_now)
    assert found["check"] == "rebuild-loop"
    assert found["finding"].startswith(
        "BinderHub's log shows 1 failed image lookups (HTTP 403): its registry credentials "
        "can push but not read"
    )
    assert found["fix"] == (
        "gcloud artifacts repositories add-iam-policy-binding binder --location europe-west10 "
        f"--project my-project --member serviceAccount:{ACCOUNT} "
        "--role roles/artifactregistry.reader"
    )


def test_a_refused_push_in_a_build_log(run: Any, world_now: World) -> None:
    cluster = world_now.cluster
    cluster.pod_logs.append(
        ("name=build-refused", build_log("Successfully built 1234\n", AR_PUSH_DENIED))
    )
    repo = "https://github.com/binder-examples/requirements"
    cluster.start_pod(build_pod(NAMESPACE, "build-refused", repo), "Failed")
    [found] = findings(run, world_now)
    assert found["check"] == "push-denied"
    assert found["finding"] == (
        'build pod build-refused could not push: denied: Permission "artifactregistry.'
        'repositories.uploadArtifacts" denied on resource "projects/my-project/locations/'
        'europe-west10/repositories/binder" (or it may not exist)'
    )
    assert found["fix"].startswith(fix(world_now, "init") + " --non-interactive (grants")
    status = run("status", "--config", str(world_now.project.config), "-o", "json").json()
    [failed] = status["builds"]["failed_recently"]
    assert failed["repository"] == repo and failed["reason"].startswith("push refused: denied")


def test_a_disabled_then_a_deleted_pusher_key(run: Any, world_now: World) -> None:
    iam = world_now.gcp.iam
    keys = list(iam.keys[ACCOUNT])
    try:
        iam.disable_key(ACCOUNT, "key1")
        [found] = findings(run, world_now)
        assert (found["check"], found["finding"]) == (
            "pusher-key",
            "the registry Secret's key key1 is disabled: every push is refused",
        )
        assert found["fix"] == (
            f"{fix(world_now, 'init')} --non-interactive --rotate-key, then "
            f"{fix(world_now, 'deploy')}"
        )
        iam.keys[ACCOUNT] = [k for k in keys if not k.name.endswith("/key1")]
        [found] = findings(run, world_now)
        assert found["finding"] == (
            f"the registry Secret's key key1 was deleted from {ACCOUNT}: every push is refused"
        )
    finally:
        for key in keys:
            key.disabled = False
        iam.keys[ACCOUNT] = keys


# ---- the build daemon ------------------------------------------------------------------


def test_build_pods_on_a_node_whose_daemon_is_not_ready(run: Any, world_now: World) -> None:
    cluster = world_now.cluster
    cluster.set_pod_behavior("CrashLoopBackOff", DAEMON_POD)
    cluster.add_node("fake-node-2")  # the daemon's pod there crashes
    repo = "https://github.com/binder-examples/conda"
    cluster.start_pod(build_pod(NAMESPACE, "build-conda", repo, node="fake-node-2"))
    [found] = findings(run, world_now)
    assert found["check"] == "build-daemon"
    assert found["finding"] == (
        "1 build pod(s) on node fake-node-2, where the build daemon is not ready (0/1): their "
        "builds fail"
    )
    assert found["fix"].startswith(
        f"kubectl --namespace {NAMESPACE} get pods -l app.kubernetes.io/instance={RELEASE},"
        "app.kubernetes.io/component=docker-api -o wide shows why"
    )
    status = run("status", "--config", str(world_now.project.config), "-o", "json").json()
    assert status["builds"]["daemon"] == [
        {"node": NODE_NAME, "ready": 1, "total": 1, "build_pods": 0},
        {"node": "fake-node-2", "ready": 0, "total": 1, "build_pods": 1},
    ]


def test_disk_pressure_on_a_daemon_node(run: Any, world_now: World) -> None:
    world_now.cluster.set_node_condition(
        NODE_NAME, "DiskPressure", "True", "KubeletHasDiskPressure", "kubelet has disk pressure"
    )
    [found] = findings(run, world_now)
    assert found["check"] == "build-daemon"
    assert found["finding"].startswith(f"node {NODE_NAME} has DiskPressure")


# ---- BinderHub's settings against the hub's ----------------------------------------------


def test_api_only_mode_off_while_fancy_profiles_builds(run: Any, world_now: World) -> None:
    world_now.upgrade_binderhub("--set", "config.BinderHub.enable_api_only_mode=false")
    [found] = findings(run, world_now)
    assert found["check"] == "api-only"
    assert found["fix"] == (
        f"set binderhub.api_only: true (hub.launch: fancy-profiles), then "
        f"{fix(world_now, 'deploy')}"
    )


def test_a_base_url_other_than_the_hub_route(run: Any, world_now: World) -> None:
    world_now.upgrade_binderhub("--set", "config.BinderHub.base_url=/")
    with FakeBinderHub(base_url="/") as moved:  # BinderHub now serves under /
        world_now.cluster.port_targets[8585] = ("127.0.0.1", moved.port)
        world_now.cluster.port_targets[8000] = ("127.0.0.1", moved.port)
        [found] = findings(run, world_now)
    assert found["check"] == "base-url"
    assert found["finding"].startswith(
        "BinderHub serves under / but the hub routes /services/binder/ to it (through the "
        "proxy: no answer to GET /services/binder/versions"
    )
    assert "/services/binder/versions answered HTTP 404 Not Found" in found["finding"]
    assert found["fix"] == fix(world_now, "connect-hub")


# ---- the hub and BinderHub reaching each other ---------------------------------------------


def test_a_service_url_naming_no_service(run: Any, world_now: World) -> None:
    world_now.upgrade_hub("--set", "hub.services.binder.url=http://binderhub.binder:80")
    [found] = findings(run, world_now)
    assert found == {
        "check": "hub-to-binderhub",
        "severity": "error",
        "finding": "hub.services.binder.url http://binderhub.binder:80 names Service "
        "binder/binderhub, which does not exist: the hub's proxy cannot reach BinderHub",
        "fix": fix(world_now, "connect-hub"),
    }


def test_a_service_url_with_another_port(run: Any, world_now: World) -> None:
    url = "http://binderhub-binderhub-service.binder:8585"
    world_now.upgrade_hub("--set", f"hub.services.binder.url={url}")
    [found] = findings(run, world_now)
    assert found["check"] == "hub-to-binderhub"
    assert found["finding"] == (
        f"hub.services.binder.url {url} uses port 8585, but Service "
        "binder/binderhub-binderhub-service listens on 80"
    )


def test_a_network_policy_that_shuts_binderhub_off(run: Any, world_now: World) -> None:
    cluster = world_now.cluster
    # The chart's own policy removed, and a namespace-wide default deny added.
    cluster.delete("NetworkPolicy", NAMESPACE, "binderhub-binderhub-service")
    cluster.create(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": NAMESPACE},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        }
    )
    [found] = findings(run, world_now)
    assert found["check"] == "hub-to-binderhub"
    assert found["finding"] == (
        f"NetworkPolicies default-deny in namespace {NAMESPACE} select BinderHub's pod and "
        f"admit nothing from the hub's proxy (namespace {HUB_NS}) on port 8585"
    )


def test_binderhub_without_its_token_or_the_hubs_label_policy(run: Any, world_now: World) -> None:
    world_now.cluster.delete("Secret", NAMESPACE, f"{RELEASE}-hub-api-token")
    world_now.upgrade_hub("--set", "hub.networkPolicy.interNamespaceAccessLabels=ignore")
    found = findings(run, world_now)
    assert [f["check"] for f in found] == ["binderhub-to-hub", "binderhub-to-hub"]
    assert found[0]["finding"].startswith(
        f"BinderHub runs in namespace {NAMESPACE}, but the hub's NetworkPolicy ignores the "
        "network-access label of pods in other namespaces"
    )
    assert found[1]["finding"] == (
        f"Secret {NAMESPACE}/{RELEASE}-hub-api-token or its key hub.services.binder.apiToken "
        "is missing: BinderHub has no token for the hub's API"
    )
    assert {f["fix"] for f in found} == {fix(world_now, "connect-hub")}


def test_binderhub_without_the_network_access_label(run: Any, world_now: World) -> None:
    world_now.upgrade_binderhub(
        "--set-string", r"podLabels.hub\.jupyter\.org/network-access-hub=false"
    )
    [found] = findings(run, world_now)
    assert found["check"] == "binderhub-to-hub"
    assert found["finding"].startswith(
        "BinderHub's pod lacks the label hub.jupyter.org/network-access-hub=true"
    )


def test_user_servers_refused_the_built_image(run: Any, world_now: World) -> None:
    cluster = world_now.cluster
    pull = f"{RELEASE}-image-pull"
    cluster.delete("Secret", HUB_NS, pull)
    image = f"{PREFIX}binder-2dexamples-2drequirements-55ab5c:{'b' * 40}"
    cluster.start_pod(user_pod(HUB_NS, "ada", image, [pull]), "ImagePullUnauthorized")
    [found] = findings(run, world_now)
    assert found["check"] == "pull-denied"
    assert found["finding"] == (
        f"user servers cannot pull the images BinderHub built: Secret {HUB_NS}/{pull} does "
        "not exist (pod jupyter-ada: the registry answered 403 Forbidden)"
    )
    assert found["fix"] == (
        f"{fix(world_now, 'connect-hub')} (writes the pull Secret and lists it), then restart "
        "the servers that failed"
    )


def test_user_servers_refused_the_built_image_with_workload_identity(
    run: Any, world_now: World
) -> None:
    """With Workload Identity the nodes pull without a Secret: a refused pull points at
    the nodes' reader role, never at a pull Secret."""
    config = world_now.project.config
    before = config.read_text()
    keyless = yaml.safe_load(before)
    keyless["registry"]["gar"]["auth"] = "workload-identity"
    config.write_text(yaml.safe_dump(keyless))
    try:
        cluster = world_now.cluster
        cluster.delete("Secret", HUB_NS, f"{RELEASE}-image-pull")
        image = f"{PREFIX}binder-2dexamples-2drequirements-55ab5c:{'b' * 40}"
        cluster.start_pod(user_pod(HUB_NS, "ada", image, []), "ImagePullUnauthorized")
        pulls = [f for f in findings(run, world_now) if f["check"] == "pull-denied"]
    finally:
        config.write_text(before)
    assert [f["finding"] for f in pulls] == [
        "user servers cannot pull the images BinderHub built: the nodes' service account may "
        "not read the repository (pod jupyter-ada: the registry answered 403 Forbidden)"
    ]
    assert pulls[0]["fix"].startswith(
        f"{fix(world_now, 'init')} --non-interactive (grants the nodes' service account "
        "roles/artifactregistry.reader"
    )


def test_a_hub_image_without_fancy_profiles(run: Any, world_now: World) -> None:
    world_now.upgrade_hub("--set", "hub.image.name=quay.io/jupyterhub/k8s-hub,hub.image.tag=4.3.1")
    [found] = findings(run, world_now)
    assert found["check"] == "hub-image"
    assert found["finding"] == (
        "the hub loads jupyterhub-fancy-profiles but its image lacks it "
        "(quay.io/jupyterhub/k8s-hub:4.3.1 is z2jh's own hub image, without the package)"
    )


def test_two_findings_on_one_screen(run: Any, world_now: World) -> None:
    world_now.gcp.iam.disable_key(ACCOUNT, "key1")
    try:
        world_now.cluster.pod_logs.append(
            ("name=build-refused", build_log("Pushing image\n", AR_PUSH_DENIED))
        )
        repo = "https://github.com/binder-examples/requirements"
        world_now.cluster.start_pod(build_pod(NAMESPACE, "build-refused", repo), "Failed")
        result = doctor(run, world_now)
    finally:
        for key in world_now.gcp.iam.keys[ACCOUNT]:
            key.disabled = False
    assert result.code == 1
    assert "Doctor: 2 finding(s)" in result.out
    assert "1. error [push-denied] build pod build-refused could not push" in result.out
    assert "2. error [pusher-key] the registry Secret's key key1 is disabled" in result.out
    assert result.out.count("   fix: ") == 2
    print(result.out)
