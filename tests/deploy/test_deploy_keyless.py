"""`bhsvc deploy` with registry.gar.auth workload-identity: no registry Secret, no pull
Secret, no key anywhere; and a switch from a key, whose Secrets are said to be left."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import yaml
from deploylib import NAMESPACE, REGISTRY_SECRET, Project
from healthlib import provision

from fakes.binderhub import FakeBinderHub
from fakes.gcp_services import Gcp
from fakes.k8s_api import FakeKubernetes

PUSHER = "binderhub-pusher@my-project.iam.gserviceaccount.com"
KEYLESS = {"registry": {"provider": "gar", "gar": {
    "project": "my-project", "region": "europe-west10", "auth": "workload-identity"}}}  # fmt: skip
# What key material looks like, in a file, a Secret or output.
KEY_SIGNS = ("PRIVATE KEY", "private_key", "_json_key", "MARKER", ".dockerconfigjson")


def deploy(run_cli: Any, project: Project, *extra: str) -> Any:
    return run_cli("deploy", "--config", str(project.config), "--yes", "--timeout", "30", *extra)


def keyless(project: Project) -> None:
    for key in (project.root / ".bhsvc").glob("*-key.json"):
        key.unlink()
    project.write_config(KEYLESS)


def test_keyless_deploy_writes_no_secret(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    keyless(project)

    plan = run_cli("deploy", "--config", str(project.config), "--dry-run", "-o", "json")
    result = deploy(run_cli, project, "-o", "json")

    assert plan.code == 0, plan.both
    [step] = [s for s in plan.json()["plan"] if s["name"] == "registry credentials"]
    assert step["description"] == (
        "no registry Secret: BinderHub's ServiceAccount binder/binderhub-binderhub-service "
        f"pushes as {PUSHER} through Workload Identity"
    )
    assert result.code == 0, result.both
    steps = {s["name"]: s["status"] for s in result.json()["steps"]}
    assert steps["registry credentials"] == "none"
    assert "registry credentials Secret" not in steps
    assert not [w for w in cluster.writes if w.kind == "Secret" and "registry" in w.name]
    account = cluster.get("ServiceAccount", NAMESPACE, "binderhub-binderhub-service")
    assert account is not None
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == PUSHER
    deployment = cluster.get("Deployment", NAMESPACE, "binderhub-binderhub-service")
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "binderhub-binderhub-service"
    assert "docker-config" not in {v["name"] for v in pod["volumes"]}
    values = yaml.safe_load((project.rendered / "binderhub-service.values.yaml").read_text())
    assert "buildPodsRegistryCredentials" not in values
    assert values["gkeWorkloadIdentity"]["googleServiceAccount"] == PUSHER


def test_a_switch_from_a_key_names_the_secrets_left(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub
) -> None:
    assert deploy(run_cli, project).code == 0  # with the key
    assert cluster.get("Secret", NAMESPACE, REGISTRY_SECRET) is not None
    keyless(project)

    plan = run_cli("deploy", "--config", str(project.config), "--dry-run")
    switched = deploy(run_cli, project)

    left = (
        f"Secret {NAMESPACE}/{REGISTRY_SECRET} from registry.gar.auth key is no longer used: "
        "delete it once builds work"
    )
    assert left in plan.out + plan.err
    assert switched.code == 0, switched.both
    assert f"registry credentials: none ({left})" in switched.err
    # BinderHub restarts without the docker config; the Secret itself is left alone.
    deployment = cluster.get("Deployment", NAMESPACE, "binderhub-binderhub-service")
    assert deployment is not None
    volumes = {v["name"] for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert "docker-config" not in volumes
    assert cluster.get("Secret", NAMESPACE, REGISTRY_SECRET) is not None


def test_no_key_material_anywhere(
    gcp: Gcp,
    run_cli: Any,
    project: Project,
    cluster: FakeKubernetes,
    binderhub: FakeBinderHub,
    tmp_path: Path,
) -> None:
    """init, deploy and render with Workload Identity, against the Google Cloud fakes and
    the fake cluster: no key is made, and none is in a file, a Secret or any output."""
    gcp.iam.enable_workload_pool("my-project")
    gcp.iam.add_compute_default("my-project", "123456789012")
    cluster.create(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "gke-node",
                "labels": {"iam.gke.io/gke-metadata-server-enabled": "true"},
            },
        }
    )
    keyless(project)
    project.write_config({**KEYLESS, "hub": {"enabled": True, "chart": str(_z2jh(tmp_path))}})

    init = run_cli("init", "--non-interactive", "--config", str(project.config))
    with FakeBinderHub(base_url="/services/binder/") as hub:
        cluster.port_targets[8585] = ("127.0.0.1", hub.port)
        cluster.port_targets[8000] = ("127.0.0.1", hub.port)
        deployed = deploy(run_cli, project, "-o", "json")
    rendered = run_cli(
        "render", "--config", str(project.config), "--output-dir", str(tmp_path / "out")
    )

    assert init.code == 0, init.both
    assert deployed.code == 0, deployed.both
    assert rendered.code == 0, rendered.both
    assert gcp.iam.calls("CreateServiceAccountKey") == []
    assert gcp.iam.issued_private_keys == []
    for run in (init, deployed, rendered):
        for sign in KEY_SIGNS:
            assert sign not in run.out + run.err
    for folder in (project.root, tmp_path / "out"):
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert not [p for p in files if p.name.endswith(("-key.json", ".pending"))]
        for path in files:
            text = path.read_text(errors="replace")
            for sign in KEY_SIGNS:
                assert sign not in text, (path, sign)
    # No Secret of the cluster holds registry credentials: bhsvc's, the chart's, the hub's.
    secrets = cluster.objects("Secret")
    assert not [s for s in secrets if s.get("type") == "kubernetes.io/dockerconfigjson"]
    for secret in secrets:
        if (secret["metadata"].get("labels") or {}).get("owner") == "helm":
            continue  # helm's release records: the values, checked above as files
        for value in (secret.get("data") or {}).values():
            decoded = base64.b64decode(value).decode(errors="replace")
            for sign in ("PRIVATE KEY", "private_key", '"auths"'):
                assert sign not in decoded, (secret["metadata"]["name"], sign)
    # The hub's users have no pull Secret to pull with: the nodes pull.
    hub_values = yaml.safe_load((project.rendered / "jupyterhub.values.yaml").read_text())
    assert "pullSecrets" not in json.dumps(hub_values)


def _z2jh(tmp_path: Path) -> Path:
    from hub.hublib import fake_z2jh_chart

    return fake_z2jh_chart(tmp_path / "charts", "4.3.1")


def test_status_and_uninstall_after_a_switch(
    run_cli: Any, project: Project, cluster: FakeKubernetes, binderhub: FakeBinderHub, gcp: Gcp
) -> None:
    provision(gcp)
    assert deploy(run_cli, project).code == 0  # with the key
    keyless(project)
    assert deploy(run_cli, project).code == 0

    screen = run_cli("status", "--config", str(project.config))
    doc = run_cli("status", "--config", str(project.config), "-o", "json")

    assert screen.code == 0, screen.both
    assert f"pusher {PUSHER}: enabled; no key: BinderHub pushes through Workload Identity" in (
        screen.out
    )
    pusher = doc.json()["registry"]["pusher"]
    assert pusher["auth"] == "workload-identity"
    assert pusher["key_id"] is None, "the Secret left from the key is not the key in use"
    # The Secret the key deploy wrote goes with the installation.
    removed = run_cli("uninstall", "--config", str(project.config), "--yes", "-o", "json")
    assert removed.code == 0, removed.both
    [step] = [s for s in removed.json()["plan"] if s["name"] == "registry credentials"]
    assert step["remove"] == [f"Secret {NAMESPACE}/{REGISTRY_SECRET}"]
    assert cluster.get("Secret", NAMESPACE, REGISTRY_SECRET) is None
