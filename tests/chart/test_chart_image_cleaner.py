"""dockerApi.imageCleaner: docker-image-cleaner beside the build daemon."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from chartlib import CHART

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
CLEANER_IMAGE = "quay.io/jupyterhub/docker-image-cleaner:1.0.0-beta.3"
SOCKET_DIR = "/var/run/binder-binderhub/docker-api"
SOCKET = f"{SOCKET_DIR}/docker-api.sock"


def containers(ds) -> dict[str, dict]:
    return {c["name"]: c for c in ds["spec"]["template"]["spec"]["containers"]}


def env(container) -> dict[str, dict]:
    return {e["name"]: e for e in container["env"]}


def cleaner_of(rendered) -> dict:
    return containers(rendered.daemonset())["image-cleaner"]


def test_the_cleaner_image_is_a_pinned_release():
    image = VALUES["dockerApi"]["imageCleaner"]["image"]
    # the latest tag of jupyterhub/docker-image-cleaner
    assert f"{image['repository']}:{image['tag']}" == CLEANER_IMAGE
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    listed = yaml.safe_load(chart["annotations"]["artifacthub.io/images"])
    assert {"name": "docker-image-cleaner", "image": CLEANER_IMAGE} in listed


@pytest.mark.parametrize(
    ("scenario", "storage"),
    [("defaults", "/var/lib/docker"), ("builder-podman", "/var/lib/containers/storage")],
)
def test_the_cleaner_runs_beside_the_daemon(helm, render, scenario, storage):
    rendered = render(helm, scenario)
    found = containers(rendered.daemonset())
    engine, cleaner = found["docker-api"], found["image-cleaner"]
    assert cleaner["image"] == CLEANER_IMAGE
    assert cleaner["imagePullPolicy"] == "IfNotPresent"
    values = {name: e.get("value") for name, e in env(cleaner).items()}
    assert values == {
        "SOCKET": SOCKET,
        "DOCKER_HOST": f"unix://{SOCKET}",
        "DOCKER_IMAGE_CLEANER_PATH_TO_CHECK": storage,
        "DOCKER_IMAGE_CLEANER_THRESHOLD_TYPE": "relative",
        "DOCKER_IMAGE_CLEANER_THRESHOLD_HIGH": "80",
        "DOCKER_IMAGE_CLEANER_INTERVAL_SECONDS": "300",
    }
    # the engine's own socket directory and storage, read-only
    engine_mounts = {m["name"]: m["mountPath"] for m in engine["volumeMounts"]}
    mounts = {m["name"]: m for m in cleaner["volumeMounts"]}
    assert set(mounts) == {"socket-dir", "storage"}
    for name, mount in mounts.items():
        assert mount["mountPath"] == engine_mounts[name]
        assert mount["readOnly"] is True
    assert engine_mounts["storage"] == storage
    assert engine_mounts["socket-dir"] == SOCKET_DIR


def test_the_cleaner_is_hardened(helm, render):
    cleaner = cleaner_of(render(helm, "defaults"))
    security = cleaner["securityContext"]
    # root for the engine's root-owned socket, and nothing else
    assert security["runAsUser"] == 0
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in security
    assert cleaner["resources"]["limits"]["memory"] == "256Mi"
    for probe in ("readinessProbe", "livenessProbe"):
        assert cleaner[probe]["exec"]["command"] == ["test", "-S", SOCKET]


def test_the_cleaner_settings(helm, render):
    extra = {"dockerApi": {"imageCleaner": {"thresholdPercent": 70, "intervalSeconds": 60}}}
    values = env(cleaner_of(render(helm, extra=extra)))
    assert values["DOCKER_IMAGE_CLEANER_THRESHOLD_HIGH"]["value"] == "70"
    assert values["DOCKER_IMAGE_CLEANER_INTERVAL_SECONDS"]["value"] == "60"


@pytest.mark.parametrize("percent", [0, 100, "80"])
def test_a_threshold_outside_1_to_99_is_refused(template_error, percent):
    err = template_error({"dockerApi": {"imageCleaner": {"thresholdPercent": percent}}})
    assert "thresholdPercent" in err


def test_the_cleaner_can_be_turned_off(helm, render):
    rendered = render(helm, extra={"dockerApi": {"imageCleaner": {"enabled": False}}})
    assert set(containers(rendered.daemonset())) == {"docker-api"}


def test_no_cordon_and_no_cluster_rights_by_default(helm, render):
    rendered = render(helm, "defaults")
    assert "DOCKER_IMAGE_CLEANER_NODE_NAME" not in env(cleaner_of(rendered))
    assert "serviceAccountName" not in rendered.daemonset()["spec"]["template"]["spec"]
    assert not rendered.all("ClusterRole") and not rendered.all("ClusterRoleBinding")


def test_cordon(helm, render):
    rendered = render(helm, extra={"dockerApi": {"imageCleaner": {"cordon": True}}})
    spec = rendered.daemonset()["spec"]["template"]["spec"]
    cleaner = containers(rendered.daemonset())["image-cleaner"]
    assert env(cleaner)["DOCKER_IMAGE_CLEANER_NODE_NAME"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "spec.nodeName"}
    }
    account = rendered.get("ServiceAccount", "binderhub-binderhub-service-image-cleaner")
    assert spec["serviceAccountName"] == account["metadata"]["name"]
    assert spec["automountServiceAccountToken"] is False
    (role,) = rendered.all("ClusterRole")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}]
    (binding,) = rendered.all("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "binder"}
    ]
    # the token goes to the cleaner's container, not to the engine's
    token = {m["name"] for m in cleaner["volumeMounts"]} - {"socket-dir", "storage"}
    assert token == {"image-cleaner-api-access"}
    engine = containers(rendered.daemonset())["docker-api"]
    assert "image-cleaner-api-access" not in {m["name"] for m in engine["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    sources = volumes["image-cleaner-api-access"]["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}


def test_cluster_role_names_differ_between_namespaces(helm, render):
    extra = {"dockerApi": {"imageCleaner": {"cordon": True}}}
    a = render(helm, extra=extra, namespace="alpha")
    b = render(helm, extra=extra, namespace="beta")
    names = [r.all("ClusterRole")[0]["metadata"]["name"] for r in (a, b)]
    assert names[0] != names[1]


def test_cordon_needs_rbac(template_error):
    err = template_error(
        {"rbac": {"create": False}, "dockerApi": {"imageCleaner": {"cordon": True}}}
    )
    assert "dockerApi.imageCleaner.cordon" in err and "rbac.create" in err


def test_no_cleaner_for_the_nodes_docker_unless_asked(helm, render):
    rendered = render(helm, "builder-host")
    assert not rendered.all("DaemonSet")


def test_the_cleaner_of_the_nodes_docker(helm, render):
    rendered = render(helm, "builder-host-cleaner")
    (ds,) = rendered.all("DaemonSet")
    assert ds["metadata"]["name"] == "binderhub-binderhub-service-image-cleaner"
    spec = ds["spec"]["template"]["spec"]
    (cleaner,) = spec["containers"]
    values = {name: e.get("value") for name, e in env(cleaner).items()}
    assert values["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    assert values["DOCKER_IMAGE_CLEANER_PATH_TO_CHECK"] == "/var/lib/docker"
    volumes = {v["name"]: v for v in spec["volumes"]}
    # the Docker socket alone (not /var/run and the other runtimes' sockets)
    assert volumes["docker-socket"]["hostPath"] == {
        "path": "/var/run/docker.sock",
        "type": "Socket",
    }
    assert volumes["docker-storage"]["hostPath"] == {"path": "/var/lib/docker", "type": "Directory"}
    assert "privileged" not in cleaner["securityContext"]
    assert {t["key"] for t in spec["tolerations"]} == {
        "hub.jupyter.org/dedicated",
        "hub.jupyter.org_dedicated",
    }
    assert ds["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "image-cleaner"
    # its labels are not the daemon pods' that sticky builds look for
    assert "component" not in ds["spec"]["template"]["metadata"]["labels"]
    assert spec["serviceAccountName"] == "binderhub-binderhub-service-image-cleaner"


@pytest.mark.parametrize(
    ("overrides", "name"),
    [({}, "image-cleaner"), ({"fullnameOverride": "prod"}, "prod-image-cleaner")],
)
def test_2i2c_naming_names_the_cleaner_beside_docker_api(helm, render, overrides, name):
    """The 2i2c chart has no cleaner: its objects are named in that chart's
    style, beside its DaemonSet "docker-api"."""
    for scenario in ("builder-host-cleaner", None):
        extra = {"naming": "2i2c", "dockerApi": {"imageCleaner": {"cordon": True}}, **overrides}
        rendered = render(helm, scenario, extra=extra)
        account = rendered.get("ServiceAccount", name)
        pod = rendered.daemonset() if scenario is None else rendered.get("DaemonSet", name)
        assert pod["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
        (role,), (binding,) = rendered.all("ClusterRole"), rendered.all("ClusterRoleBinding")
        # cluster-wide: the namespace is part of the name
        assert role["metadata"]["name"] == binding["roleRef"]["name"] == f"binder-{name}"
        assert binding["subjects"][0]["name"] == name


# ---------------------------------------------------------------------------
# The cleaner's start script, run with sh
# ---------------------------------------------------------------------------


@pytest.fixture
def fake_cleaner(tmp_path: Path) -> Path:
    """A docker-image-cleaner on PATH that records how it was started."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "docker-image-cleaner"
    program.write_text('#!/bin/sh\necho "started with DOCKER_HOST=$DOCKER_HOST" > "$RECORD"\n')
    program.chmod(0o755)
    return bin_dir


def start_script(helm, render, tmp_path: Path, fake_cleaner: Path, sock: Path):
    cleaner = cleaner_of(render(helm, "defaults"))
    assert cleaner["command"][:4] == ["/tini", "--", "sh", "-c"]
    script = cleaner["command"][4]
    environment = {
        **{name: e["value"] for name, e in env(cleaner).items() if "value" in e},
        "SOCKET": str(sock),
        "RECORD": str(tmp_path / "record"),
        "PATH": f"{fake_cleaner}:{os.environ['PATH']}",
    }
    return subprocess.Popen(["sh", "-c", script], env=environment)


def test_the_cleaner_waits_for_the_engine_socket(helm, render, tmp_path, fake_cleaner):
    sock = tmp_path / "engine.sock"
    proc = start_script(helm, render, tmp_path, fake_cleaner, sock)
    try:
        time.sleep(1)
        assert proc.poll() is None  # still waiting: no socket yet
        assert not (tmp_path / "record").exists()
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(sock))
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            server.close()
    finally:
        proc.kill()
    assert (tmp_path / "record").read_text().strip() == f"started with DOCKER_HOST=unix://{SOCKET}"
