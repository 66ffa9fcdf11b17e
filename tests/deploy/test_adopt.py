"""Taking over a release of the 2i2c binderhub-service chart: `bhsvc adopt`, then
`bhsvc deploy` upgrades it in place.

The 2i2c release is made for real in the fake cluster: a throw-away chart named
binderhub-service (version 0.x) whose templates are the manifests the 2i2c
chart renders (tests/chart/fixtures/2i2c-binderhub-service), installed by helm
with the values they were rendered from, so `helm get values` and `helm get
manifest` answer as for the real release. The fake records every write: the
upgrade must delete none of the release's objects, recreate none (same uid),
and keep their kinds and selectors.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploylib import Project

from bhsvc.takeover import CannotAdopt, compare_objects, plan_takeover
from fakes.binderhub import FakeBinderHub
from fakes.k8s_api import FakeKubernetes

FIXTURES = Path(__file__).resolve().parents[1] / "chart" / "fixtures" / "2i2c-binderhub-service"
RELEASE = "binderhub-service"  # the fixtures were rendered as this release, in binder
NAMESPACE = "binder"
SERVER = "https://us-central1-docker.pkg.dev"


def manifests(case: str) -> list[dict[str, Any]]:
    text = (FIXTURES / f"rendered-{case}.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


def values(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((FIXTURES / f"values-{name}.yaml").read_text())
    return loaded


def install_2i2c_release(
    helm: Path, env: dict[str, str], tmp_path: Path, case: str, values_file: str
) -> None:
    """The 2i2c chart's objects, installed by helm as release binderhub-service."""
    chart = tmp_path / "2i2c" / "binderhub-service"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: binderhub-service\nversion: 0.1.0-0.dev.git.160.h6e4b2f1\n"
        "appVersion: 1.0.0\n"
    )
    (chart / "templates" / "manifests.yaml").write_text(
        (FIXTURES / f"rendered-{case}.yaml").read_text()
    )
    subprocess.run(
        [str(helm), "install", RELEASE, str(chart), "--namespace", NAMESPACE,
         "--create-namespace", "--values", str(FIXTURES / f"values-{values_file}.yaml"),
         "--wait", "--timeout", "60s"],
        env={**os.environ, **env}, check=True, capture_output=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def install_2i2c(
    project: Project, deploy_env: dict[str, str], helm4_path: Path, tmp_path: Path
) -> Callable[..., None]:
    """install(case, values file, helm=helm 4): the 2i2c release, in a project that has
    no bhsvc.yaml nor key yet."""
    project.config.unlink()
    project.key.unlink()

    def install(case: str, values_file: str, helm: Path = helm4_path) -> None:
        install_2i2c_release(helm, deploy_env, tmp_path, case, values_file)

    return install


def objects_of(cluster: FakeKubernetes, docs: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    found = {}
    for doc in docs:
        key = (doc["kind"], doc["metadata"]["name"])
        found[key] = cluster.get(key[0], NAMESPACE, key[1])
        assert found[key] is not None, key
    return found


@pytest.mark.parametrize("major", [4, 3])
def test_adopt_then_deploy_upgrades_the_release_in_place(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    install_2i2c: Callable[..., None],
    helm4_path: Path,
    helm3_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    major: int,
) -> None:
    """With helm 4 and helm 3: the release installed, read and upgraded by the same one."""
    helm = helm4_path if major == 4 else helm3_path
    monkeypatch.setenv("BHSVC_HELM", str(helm))
    install_2i2c("05", "05-readme-step11-and-hub-step8", helm)
    theirs = manifests("05")
    before = objects_of(cluster, theirs)
    writes_before = len(cluster.writes)

    adopted = run_cli("adopt", "--release", RELEASE, "--namespace", NAMESPACE,
                      "--config", str(project.config), "-o", "json")  # fmt: skip
    assert adopted.code == 0, adopted.both
    assert len(cluster.writes) == writes_before  # adopt reads, never writes
    doc = adopted.json()
    config = yaml.safe_load(project.config.read_text())
    password = values("05-readme-step11-and-hub-step8")["buildPodsRegistryCredentials"]["password"]
    # the password moved out of the values, into the key file bhsvc's gar provider reads
    key_file = project.root / ".bhsvc" / "pusher-key.json"
    assert doc["secret_file"] == str(key_file)
    assert key_file.read_text() == password
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(project.config.stat().st_mode) == 0o600
    for text in (adopted.out, adopted.err, project.config.read_text()):
        assert "PRIVATE KEY" not in text and "XXX" not in text
    assert config["kube"] == {"namespace": NAMESPACE}
    assert config["registry"] == {
        "provider": "gar",
        "gar": {
            "project": "my-project",
            "region": "us-central1",
            "repository": "my-repo",
            "service_account": "pusher",
        },
        "image_prefix": "us-central1-docker.pkg.dev/my-project/my-repo/binder",
    }
    assert config["binderhub"] == {
        "release": RELEASE,
        "base_url": "/services/binder/",
        "values": {"naming": "2i2c"},
    }
    assert {"from": "config.BinderHub.base_url", "to": "binderhub.base_url"} in doc["mapped"]
    assert doc["not_carried"] == [
        {"value": "config.BinderHub.use_registry", "why": "bhsvc's BinderHub always pushes"}
    ]
    assert doc["objects"]["taken_over"] == ["Secret build-pods-docker-config"]
    assert "Service binderhub" in doc["objects"]["kept"]

    writes_before = len(cluster.writes)
    with FakeBinderHub(base_url="/services/binder/") as binderhub:
        cluster.port_targets[8585] = ("127.0.0.1", binderhub.port)
        deployed = run_cli("deploy", "--config", str(project.config), "--yes", "--timeout", "30",
                           "-o", "json")  # fmt: skip
    assert deployed.code == 0, deployed.both
    assert deployed.json()["revision"] == 2  # the same release, its history goes on
    writes = cluster.writes[writes_before:]
    adopted_keys = set(before)
    deletes = [(w.kind, w.name) for w in writes if w.verb == "delete"]
    assert not adopted_keys & set(deletes), deletes
    after = objects_of(cluster, theirs)
    for key, old in before.items():
        new = after[key]
        assert new["metadata"]["uid"] == old["metadata"]["uid"], f"{key} was made again"
        if key[0] in ("Deployment", "DaemonSet"):
            assert new["spec"]["selector"] == old["spec"]["selector"], key
        if key[0] == "Service":
            assert new["spec"]["selector"] == old["spec"]["selector"]
            assert new["spec"]["clusterIP"] == old["spec"]["clusterIP"]
    # The hub's `hub.services.binder.url: http://binderhub` still reaches BinderHub.
    service = after[("Service", "binderhub")]
    deployment = after[("Deployment", "binderhub")]
    pod = deployment["spec"]["template"]
    assert all(pod["metadata"]["labels"][k] == v for k, v in service["spec"]["selector"].items())
    [port] = service["spec"]["ports"]
    [container] = [c for c in pod["spec"]["containers"] if c["name"] == "binderhub"]
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (port["port"], named[port["targetPort"]]) == (80, 8585)
    assert "k8s-binderhub" in container["image"]  # bhsvc's chart runs now
    # The push Secret keeps its name and type; bhsvc writes it, and helm kept it.
    push = after[("Secret", "build-pods-docker-config")]
    assert push["type"] == "Opaque"
    assert push["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    docker_config = json.loads(base64.b64decode(push["data"]["config.json"]))
    auth = base64.b64decode(docker_config["auths"][SERVER]["auth"]).decode()
    assert auth == f"_json_key:{password}"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PUSH_SECRET_NAME"] == "build-pods-docker-config"

    # Again: nothing to change. And the release is bhsvc's now: nothing to adopt.
    with FakeBinderHub(base_url="/services/binder/") as binderhub:
        cluster.port_targets[8585] = ("127.0.0.1", binderhub.port)
        again = run_cli("deploy", "--config", str(project.config), "--yes", "-o", "json")
    assert again.code == 0, again.both
    assert again.json()["skipped"] == [f"BinderHub release {RELEASE}"]
    other = project.root / "other.yaml"
    readopt = run_cli("adopt", "--release", RELEASE, "-n", NAMESPACE, "-c", str(other))
    assert readopt.code == 1
    assert "runs bhsvc's binderhub-service chart already" in readopt.err
    assert not other.exists()


def test_adopt_again_keeps_its_files_and_never_writes_over_others(
    run_cli: Any, project: Project, install_2i2c: Callable[..., None]
) -> None:
    install_2i2c("04", "04-readme-step8")
    args = ["adopt", "--release", RELEASE, "--namespace", NAMESPACE, "-c", str(project.config)]
    first = run_cli(*args)
    assert first.code == 0, first.both
    assert f"Wrote {project.config}" in first.out
    text = project.config.read_text()
    again = run_cli(*args)
    assert again.code == 0, again.both
    assert f"Kept (the same) {project.config}" in again.out
    # A file adopt did not write (or that holds something else) stops it, before any write.
    project.config.write_text(text + "# mine\n")
    key = project.root / ".bhsvc" / "pusher-key.json"
    key.unlink()
    refused = run_cli(*args)
    assert refused.code == 2
    assert "exists: bhsvc adopt never writes over a file" in refused.err
    assert not key.exists()  # neither file without the other


def test_values_with_credentials_bhsvc_cannot_move_stop_adopt(
    run_cli: Any, project: Project, cluster: FakeKubernetes, install_2i2c: Callable[..., None]
) -> None:
    """The 2i2c lint values set extraCredentials.googleServiceAccountKey."""
    install_2i2c("03", "03-lint-and-validate-values")
    writes = len(cluster.writes)
    result = run_cli("adopt", "--release", RELEASE, "-n", NAMESPACE, "-c", str(project.config))
    assert result.code == 1
    [line] = result.err.strip().splitlines()[-1:]
    assert "extraCredentials.googleServiceAccountKey holds credentials" in line
    assert "PRIVATE_KEY" not in result.both
    assert not project.config.exists() and len(cluster.writes) == writes


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--release", "Bad_Name", "-n", "binder"], "--release: 'Bad_Name' is not a valid"),
        (["--release", "x", "-n", "-binder"], "--namespace: '-binder' is not a valid"),
        (["--release", "nothere", "-n", "binder"], "--release: there is no helm release"),
    ],
)
def test_bad_flags_are_bad_input(
    run_cli: Any, project: Project, cluster: FakeKubernetes, flags: list[str], message: str
) -> None:
    project.config.unlink()
    result = run_cli("adopt", *flags, "-c", str(project.config))
    assert result.code == 2, result.both
    assert message in result.err
    assert cluster.writes == [] and not project.config.exists()


# ---- the decisions, alone ----------------------------------------------------------------


def test_a_password_registry_becomes_a_generic_one_with_a_password_file() -> None:
    given = {
        "buildPodsRegistryCredentials": {
            "server": "https://registry.example.org",
            "username": "pusher",
            "password": "s3cret-pw",
        },
        "config": {"BinderHub": {"image_prefix": "registry.example.org/binder/bh-"}},
        "fullnameOverride": "prod",
        "service": {"type": "NodePort", "nodePort": 30080},
    }
    takeover = plan_takeover(given, "bh", "binder")
    assert takeover.document["registry"] == {
        "provider": "generic",
        "username": "pusher",
        "server": "https://registry.example.org",
        "password_file": ".bhsvc/registry-password",
        "image_prefix": "registry.example.org/binder/bh-",
    }
    assert takeover.secret.path == ".bhsvc/registry-password"
    assert takeover.secret.text == "s3cret-pw\n"
    assert "s3cret" not in repr(takeover)
    assert takeover.document["binderhub"]["values"] == {
        "naming": "2i2c",
        "fullnameOverride": "prod",
        "service": {"type": "NodePort", "nodePort": 30080},
    }
    assert given["buildPodsRegistryCredentials"]["password"] == "s3cret-pw"  # not changed
    hub_credentials = {
        "server": "https://index.docker.io/v1/",
        "username": "someone",
        "password": "t",
    }
    dockerhub = dict(given, buildPodsRegistryCredentials=hub_credentials)
    dockerhub["config"] = {"BinderHub": {"image_prefix": "docker.io/someone/binder-"}}
    assert plan_takeover(dockerhub, "bh", "binder").document["registry"]["provider"] == "dockerhub"


def test_a_key_of_another_project_than_the_repository_is_a_generic_registry() -> None:
    email = "pusher@other-proj.iam.gserviceaccount.com"
    key = {"type": "service_account", "private_key": "k", "client_email": email}
    credentials = {"server": SERVER, "username": "_json_key", "password": json.dumps(key)}
    given = {
        "buildPodsRegistryCredentials": credentials,
        "config": {"BinderHub": {"image_prefix": "us-central1-docker.pkg.dev/my-project/r/b-"}},
    }
    registry = plan_takeover(given, "bh", "binder").document["registry"]
    assert registry["provider"] == "generic" and registry["username"] == "_json_key"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"config": {"BinderHub": {"image_prefix": "r.example.org/x/"}}}, "no complete"),
        (
            {
                "buildPodsRegistryCredentials": {
                    "server": "r.example.org",
                    "username": "u",
                    "password": "p",
                }
            },
            "no config.BinderHub.image_prefix",
        ),
        ({"buildPodsDockerConfig": {"auths": {}}}, "buildPodsDockerConfig holds credentials"),
        ({"dockerApi": {"type": "dind"}}, "runs bhsvc's binderhub-service chart already"),
    ],
)
def test_releases_bhsvc_cannot_take_over(given: dict[str, Any], message: str | None) -> None:
    with pytest.raises(CannotAdopt) as err:
        plan_takeover(given, "bh", "binder")
    if message:
        assert message in str(err.value)


def test_an_upgrade_that_would_delete_or_break_an_object_is_found() -> None:
    theirs = manifests("05")
    ours = [doc for doc in manifests("05") if doc["kind"] != "Role"]
    deployment = next(doc for doc in ours if doc["kind"] == "Deployment")
    deployment["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    changes = compare_objects(theirs, ours, [("Secret", "build-pods-docker-config")])
    assert changes.lost == ["Role binderhub"]
    assert changes.problems == ["Deployment binderhub: its spec.selector would change"]
    hook = {"kind": "Pod", "metadata": {"name": "t", "annotations": {"helm.sh/hook": "test"}}}
    assert compare_objects(theirs, [*theirs, hook]).added == []


def test_a_failed_takeover_is_left_in_place_for_the_next_run(
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    install_2i2c: Callable[..., None],
    helm4_path: Path,
    deploy_env: dict[str, str],
) -> None:
    """helm 4.1 cannot roll back to the 2i2c revision (it holds the push Secret that
    bhsvc's revision does not): the first upgrades go without rollback, and a failure
    leaves every object there and the release ready for the next run."""
    install_2i2c("05", "05-readme-step11-and-hub-step8")
    before = objects_of(cluster, manifests("05"))
    args = ["--config", str(project.config), "-o", "json"]
    assert (
        run_cli("adopt", "--release", RELEASE, "-n", NAMESPACE, "-c", str(project.config)).code == 0
    )
    plan = run_cli("deploy", "--dry-run", *args)
    [step] = [s for s in plan.json()["plan"] if s["action"] == "helm"]
    assert "--rollback-on-failure" not in step["command"]
    assert "without rollback on failure" in step["description"]

    # An image that cannot be pulled: the upgrade fails, and nothing is rolled back.
    adopted = project.config.read_text()
    broken = yaml.safe_load(adopted)
    broken["binderhub"]["values"]["image"] = {"tag": "no-such-tag"}
    project.config.write_text(yaml.safe_dump(broken))
    cluster.set_pod_behavior(
        "ImagePullBackOff", "app.kubernetes.io/component=binderhub", "no-such-tag"
    )
    writes = len(cluster.writes)
    failed = run_cli("deploy", "--yes", "--timeout", "5", *args)
    assert failed.code == 1, failed.both
    assert "not found" not in failed.json()["error"]  # no failed rollback
    history = subprocess.run(
        [str(helm4_path), "history", RELEASE, "-n", NAMESPACE, "-o", "json"],
        env={**os.environ, **deploy_env}, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert [r["status"] for r in json.loads(history.stdout)] == ["deployed", "failed"]
    deletes = [(w.kind, w.name) for w in cluster.writes[writes:] if w.verb == "delete"]
    assert not set(before) & set(deletes)
    assert objects_of(cluster, manifests("05")).keys() == before.keys()

    # Fixed, the next run upgrades the same release; once it is bhsvc's, with rollback again.
    project.config.write_text(adopted)
    with FakeBinderHub(base_url="/services/binder/") as binderhub:
        cluster.port_targets[8585] = ("127.0.0.1", binderhub.port)
        fixed = run_cli("deploy", "--yes", "--timeout", "30", *args)
    assert fixed.code == 0, fixed.both
    assert fixed.json()["revision"] == 3
    again = run_cli("deploy", "--dry-run", *args)
    [step] = [s for s in again.json()["plan"] if s["action"] == "helm"]
    assert "--rollback-on-failure" in step["command"]
