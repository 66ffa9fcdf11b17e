"""Upgrades: what a new chart version restarts, and what it keeps.

- Pod templates name no chart or app version: the same values rendered by two
  chart versions give the same pods, so an upgrade that changes nothing in a
  pod does not restart it (the build daemon's restart kills running builds).
- The secrets every BinderHub replica must share come from one Secret,
  generated on install and kept by upgrades (looked up in the cluster: here a
  fake Kubernetes API that real helm talks to).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
import yaml
from chartlib import CHART, NAMESPACE, RELEASE, Helm, Rendered, values_files

from fakes.k8s_api import FakeKubernetes

WORKLOADS = ("Deployment", "DaemonSet", "Job")
SECRETS = "binderhub-binderhub-service-secrets"


@pytest.fixture(scope="module")
def packages(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The chart packaged as two releases: another chart version and appVersion."""
    out = tmp_path_factory.mktemp(f"packages-helm{helm.major}")
    found = {}
    for version, app_version in (("0.1.0", "1.0.0"), ("7.3.0", "2.0.0-rc.1")):
        helm.run("package", str(CHART), "--version", version, "--app-version", app_version,
                 "--destination", str(out))  # fmt: skip
        found[version] = out / f"binderhub-service-{version}.tgz"
        assert found[version].is_file()
    return found


def workloads(rendered: Rendered) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in rendered.docs if d["kind"] in WORKLOADS}


@pytest.mark.parametrize(
    "scenario", ["defaults", "seed", "hub-auth", "builder-podman", "builder-host-cleaner",
                 "every-option"],
)  # fmt: skip
def test_a_new_chart_version_alone_restarts_no_pod(helm, packages, values_dir, scenario):
    files = values_files(values_dir, scenario, None)
    old, new = (Rendered(helm.template(files, chart=packages[v])) for v in ("0.1.0", "7.3.0"))
    old_workloads, new_workloads = workloads(old), workloads(new)
    assert set(old_workloads) == set(new_workloads)
    assert {kind for kind, _ in old_workloads} >= {"Deployment", "Job"}
    for key, before in old_workloads.items():
        after = new_workloads[key]
        # the objects themselves say which version made them ...
        assert before["metadata"]["labels"]["helm.sh/chart"] == "binderhub-service-0.1.0"
        assert after["metadata"]["labels"]["helm.sh/chart"] == "binderhub-service-7.3.0"
        assert after["metadata"]["labels"]["app.kubernetes.io/version"] == "2.0.0-rc.1"
        # ... their pods do not, and selectors (immutable) stay as they were
        assert after["spec"]["template"] == before["spec"]["template"], key
        if "selector" in before["spec"]:
            assert after["spec"]["selector"] == before["spec"]["selector"], key
        labels = after["spec"]["template"]["metadata"]["labels"]
        assert "helm.sh/chart" not in labels and "app.kubernetes.io/version" not in labels


def test_a_config_change_still_restarts_binderhub(helm, packages, values_dir):
    """The checksums that restart pods follow the configuration, not the
    manifests' labels."""
    base = values_files(values_dir, "seed", None)
    changed = values_files(values_dir, "seed", {"extraConfig": {"x": "pass"}})
    a = Rendered(helm.template(base, chart=packages["0.1.0"]))
    b = Rendered(helm.template(changed, chart=packages["7.3.0"]))
    key = "checksum/config"
    assert (
        a.deployment["spec"]["template"]["metadata"]["annotations"][key]
        != b.deployment["spec"]["template"]["metadata"]["annotations"][key]
    )


# ---------------------------------------------------------------------------
# Secrets shared by the replicas
# ---------------------------------------------------------------------------


def test_every_replica_reads_the_secrets_of_one_secret(helm, render):
    rendered = render(helm, "seed", extra={"replicas": 3})
    assert rendered.deployment["spec"]["replicas"] == 3
    # one pod template: every replica mounts the same files of the same Secret
    assert rendered.shared_secrets() == {
        "build-token-secret": (SECRETS, "build-token-secret"),
        "cookie-secret": (SECRETS, "cookie-secret"),
    }
    assert rendered.env()["BINDERHUB_SECRETS_DIR"]["value"] == "/etc/binderhub/secrets"
    # not as environment variables (CKV_K8S_35)
    assert not [e for e in rendered.env().values() if "secretKeyRef" in e.get("valueFrom", {})]


def test_an_offline_render_draws_no_secret(helm, render):
    """`helm template` has no cluster to keep a secret in: a random value would
    change at every render. It leaves them empty (BinderHub then draws its own)."""
    secret = render(helm, "seed").get("Secret", SECRETS)
    assert secret["data"] == {"build-token-secret": "", "cookie-secret": ""}


def test_an_existing_build_token_secret(helm, render):
    rendered = render(helm, extra={"buildTokenSecret": {"existingSecret": "mine", "key": "hex"}})
    assert rendered.shared_secrets()["build-token-secret"] == ("mine", "hex")
    assert rendered.shared_secrets()["cookie-secret"] == (SECRETS, "cookie-secret")
    # BinderHub reads it at start: a change of the Secret (looked up on install
    # and upgrade; nothing to look up here) restarts it
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/build-token-secret"] == hashlib.sha256(b"").hexdigest()
    assert "checksum/cookie-secret" not in annotations


@pytest.fixture
def cluster():
    with FakeKubernetes() as kube:
        yield kube


def helm_env(cluster: FakeKubernetes, tmp_path: Path) -> dict[str, str]:
    return {
        "KUBECONFIG": str(cluster.kubeconfig(tmp_path / "kubeconfig")),
        "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
        "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
        "HELM_DATA_HOME": str(tmp_path / "helm-data"),
    }


def upgrade(helm: Helm, env: dict[str, str], values: dict) -> str:
    """`helm upgrade --install`; its notes."""
    path = Path(env["HELM_DATA_HOME"]).parent / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    out = helm.run("upgrade", "--install", RELEASE, str(CHART), "--namespace", NAMESPACE,
                   "--create-namespace", "--values", str(path), env=env)  # fmt: skip
    return " ".join(out.split())


def shared(cluster: FakeKubernetes) -> dict[str, str]:
    secret = cluster.get("Secret", NAMESPACE, SECRETS)
    assert secret is not None
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def test_upgrades_keep_the_generated_secrets(helm, cluster, tmp_path):
    """As `bhsvc deploy` runs helm: the namespace exists already."""
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    env = helm_env(cluster, tmp_path)
    notes = upgrade(helm, env, {"replicas": 2})
    assert "not generated yet" not in notes
    first = shared(cluster)
    assert set(first) == {"build-token-secret", "cookie-secret"}
    # BinderHub reads the build token secret as hex: 32 random bytes
    assert re.fullmatch("[0-9a-f]{64}", first["build-token-secret"])
    assert re.fullmatch("[0-9a-f]{64}", first["cookie-secret"])
    assert first["cookie-secret"] != first["build-token-secret"]
    # an upgrade that changes the Deployment, then one that changes nothing
    upgrade(helm, env, {"replicas": 3, "extraConfig": {"x": "pass"}})
    upgrade(helm, env, {"replicas": 3, "extraConfig": {"x": "pass"}})
    assert shared(cluster) == first
    deployment = cluster.get("Deployment", NAMESPACE, "binderhub-binderhub-service")
    assert deployment is not None and deployment["spec"]["replicas"] == 3
    # not in the configuration BinderHub's pods show
    config = cluster.get("Secret", NAMESPACE, "binderhub-binderhub-service-config")
    assert config is not None
    assert (
        first["build-token-secret"]
        not in base64.b64decode(config["data"]["chart-config.yaml"]).decode()
    )


def test_a_namespace_created_by_helm_gets_the_secrets_at_the_next_upgrade(helm, cluster, tmp_path):
    """helm renders before it creates the namespace (--create-namespace): it
    cannot tell a new cluster from `helm template` then, and says so."""
    env = helm_env(cluster, tmp_path)
    notes = upgrade(helm, env, {})
    assert "WARNING: the secrets BinderHub's replicas share" in notes
    assert shared(cluster) == {"build-token-secret": "", "cookie-secret": ""}
    notes = upgrade(helm, env, {})
    assert "not generated yet" not in notes
    generated = shared(cluster)
    assert re.fullmatch("[0-9a-f]{64}", generated["build-token-secret"])
    upgrade(helm, env, {"replicas": 2})
    assert shared(cluster) == generated
