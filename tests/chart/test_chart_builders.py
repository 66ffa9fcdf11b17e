"""dockerApi: the container engine the build pods use."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from chartlib import CHART, HelmError, values_files

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
DIND_IMAGE = "{repository}:{tag}".format(**VALUES["dockerApi"]["defaultImages"]["dind"])
PODMAN_IMAGE = "{repository}:{tag}".format(**VALUES["dockerApi"]["defaultImages"]["podman"])
SOCKET = "/var/run/binder-binderhub/docker-api/docker-api.sock"


def host_paths(rendered) -> set[str]:
    ds = rendered.daemonset()
    if ds is None:
        return set()
    return {
        v["hostPath"]["path"] for v in ds["spec"]["template"]["spec"]["volumes"] if "hostPath" in v
    }


def engine(ds) -> dict:
    (container,) = [
        c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == "docker-api"
    ]
    return container


def test_pinned_default_images():
    for image in (DIND_IMAGE, PODMAN_IMAGE):
        assert ":" in image and not image.endswith(":latest")
    assert DIND_IMAGE.startswith("docker.io/library/docker:") and DIND_IMAGE.endswith("-dind")
    assert PODMAN_IMAGE.startswith("quay.io/podman/stable:")


@pytest.mark.parametrize("scenario", ["defaults", "builder-dind", "seed"])
def test_dind(helm, render, scenario):
    rendered = render(helm, scenario)
    ds = rendered.daemonset()
    container = engine(ds)
    assert container["image"] == DIND_IMAGE
    assert container["args"] == ["dockerd", f"--host=unix://{SOCKET}"]
    assert container["securityContext"]["privileged"] is True
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["storage"] == "/var/lib/docker"
    assert mounts["socket-dir"] == "/var/run/binder-binderhub/docker-api"
    assert host_paths(rendered) == {
        "/var/run/binder-binderhub/docker-api",
        "/var/lib/binder-binderhub/docker-api",
    }
    assert rendered.config("KubernetesBuildExecutor")["docker_host"] == SOCKET


def test_podman(helm, render):
    rendered = render(helm, "builder-podman")
    container = engine(rendered.daemonset())
    assert container["image"] == PODMAN_IMAGE
    assert container["args"] == ["podman", "system", "service", "--time=0", f"unix://{SOCKET}"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["storage"] == "/var/lib/containers/storage"
    assert rendered.config("KubernetesBuildExecutor")["docker_host"] == SOCKET


def test_host(helm, render):
    rendered = render(helm, "builder-host")
    assert rendered.daemonset() is None
    assert not [d for d in rendered.docs if "docker-api" in d["metadata"]["name"]]
    assert rendered.config("KubernetesBuildExecutor")["docker_host"] == "/var/run/docker.sock"


@pytest.mark.parametrize("scenario", ["builder-dind", "builder-podman"])
def test_socket_directory_cleanup(helm, render, scenario, tmp_path):
    ds = render(helm, scenario).daemonset()
    init = ds["spec"]["template"]["spec"]["initContainers"][0]
    command = init["command"]
    # the path is the script's argument, not part of its text
    assert command[:2] == ["sh", "-c"]
    assert command[-1] == SOCKET
    assert SOCKET not in command[2]
    # Run the script on paths under tmp_path: a directory where the socket
    # belongs goes, anything else stays; a path with shell syntax is a path.
    hostile = tmp_path / '"; touch pwned; "'
    for path in (tmp_path / "docker-api.sock", hostile):
        path.mkdir()
        subprocess.run([*command[:-1], str(path)], check=True, timeout=10, cwd=tmp_path)
        assert not path.exists()
    kept = tmp_path / "file"
    kept.write_text("")
    subprocess.run([*command[:-1], str(kept)], check=True, timeout=10, cwd=tmp_path)
    assert kept.exists()
    assert not (tmp_path / "pwned").exists()
    assert {m["mountPath"] for m in init["volumeMounts"]} == {
        "/var/run/binder-binderhub/docker-api"
    }
    assert init["securityContext"]["allowPrivilegeEscalation"] is False
    assert init["securityContext"]["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.parametrize("scenario", ["builder-dind", "builder-podman"])
def test_sticky_build_labels(helm, render, scenario):
    ds = render(helm, scenario).daemonset()
    labels = ds["spec"]["template"]["metadata"]["labels"]
    # KubernetesBuildExecutor.sticky_builds lists "component=image-builder,app=binder"
    assert labels["component"] == "image-builder"
    assert labels["app"] == "binder"
    assert labels["app.kubernetes.io/component"] == "docker-api"
    assert labels["app.kubernetes.io/instance"] == "binderhub"
    assert ds["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "binderhub-service",
        "app.kubernetes.io/instance": "binderhub",
        "app.kubernetes.io/component": "docker-api",
    }


@pytest.mark.parametrize("scenario", ["builder-dind", "builder-podman"])
def test_two_releases_use_disjoint_host_paths(helm, render, scenario):
    a = render(helm, scenario, release="alpha")
    b = render(helm, scenario, release="beta")
    c = render(helm, scenario, release="alpha", namespace="other")
    paths = [host_paths(r) for r in (a, b, c)]
    assert all(len(p) == 2 for p in paths)
    assert not paths[0] & paths[1]
    assert not paths[0] & paths[2]
    assert not paths[1] & paths[2]
    hosts = [r.config("KubernetesBuildExecutor")["docker_host"] for r in (a, b, c)]
    assert hosts == [
        "/var/run/binder-alpha/docker-api/docker-api.sock",
        "/var/run/binder-beta/docker-api/docker-api.sock",
        "/var/run/other-alpha/docker-api/docker-api.sock",
    ]
    for r, host in zip((a, b, c), hosts, strict=False):
        assert any(host in arg for arg in engine(r.daemonset())["args"])


def test_every_option_engine(helm, render):
    rendered = render(helm, "every-option")
    ds = rendered.daemonset()
    spec = ds["spec"]["template"]["spec"]
    container = engine(ds)
    assert container["args"][-1] == "--mtu=1460"
    assert container["resources"]["limits"]["memory"] == "16Gi"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert [c["name"] for c in spec["initContainers"]] == ["remove-socket-directory", "sysctl"]
    assert spec["initContainers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert spec["nodeSelector"] == {"node-pool": "builds"}
    assert spec["imagePullSecrets"] == [{"name": "dockerhub-pull"}]
    assert spec["tolerations"][-1] == {
        "key": "builds",
        "operator": "Exists",
        "effect": "NoSchedule",
    }
    assert "nodeAffinity" in spec["affinity"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["storage"] == {"name": "storage", "emptyDir": {"sizeLimit": "100Gi"}}
    assert ds["spec"]["template"]["metadata"]["annotations"]["example.org/daemon"] == "yes"
    # build pods follow the engine to its nodes
    assert rendered.config("KubernetesBuildExecutor")["node_selector"] == {"node-pool": "builds"}


def test_engine_tolerates_the_build_pod_taints(helm, render):
    spec = render(helm, "defaults").daemonset()["spec"]["template"]["spec"]
    keys = {t["key"] for t in spec["tolerations"]}
    assert keys == {"hub.jupyter.org/dedicated", "hub.jupyter.org_dedicated"}


def test_extra_files(helm, render):
    rendered = render(helm, "every-option")
    ds = rendered.daemonset()
    secret = rendered.get("Secret", "my-binderhub-docker-api")
    assert secret["data"] == {"blob": "aGVsbG8K"}
    assert yaml.safe_load(secret["stringData"]["daemon-json"]) == {
        "log-level": "warn",
        "registry-mirrors": ["https://mirror.gcr.io"],
    }
    assert secret["stringData"]["motd"] == "binder build node\n"
    mounts = {m["mountPath"]: m for m in engine(ds)["volumeMounts"] if m["name"] == "extra-files"}
    assert mounts["/etc/docker/daemon.json"]["subPath"] == "daemon-json"
    volumes = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    items = {i["key"]: i for i in volumes["extra-files"]["secret"]["items"]}
    assert items["motd"]["mode"] == 0o444
    assert "checksum/extra-files" in ds["spec"]["template"]["metadata"]["annotations"]


def test_extra_files_need_one_content_field(template_error):
    err = template_error(
        {
            "dockerApi": {
                "extraFiles": {"f": {"mountPath": "/f", "stringData": "a", "binaryData": "YQ=="}}
            }
        }
    )
    assert "dockerApi.extraFiles.f" in err


def test_extra_files_data_needs_a_known_extension(template_error):
    err = template_error(
        {"dockerApi": {"extraFiles": {"f": {"mountPath": "/f.ini", "data": {"a": 1}}}}}
    )
    assert "dockerApi.extraFiles.f" in err and ".toml" in err


def test_docker_host_set_in_config_wins(helm, render):
    extra = {"config": {"KubernetesBuildExecutor": {"docker_host": "/run/other.sock"}}}
    rendered = render(helm, extra=extra)
    assert rendered.config("KubernetesBuildExecutor")["docker_host"] == "/run/other.sock"


@pytest.mark.parametrize("scenario", ["builder-dind", "builder-podman"])
def test_pinned_engine_images_are_not_pulled_again(helm, render, scenario):
    """A node that has the pinned image restarts the daemon (and the cleaner)
    without asking the registry, which may be down."""
    spec = render(helm, scenario).daemonset()["spec"]["template"]["spec"]
    containers = spec["initContainers"] + spec["containers"]
    assert [c["name"] for c in containers] == [
        "remove-socket-directory",
        "docker-api",
        "image-cleaner",
    ]
    for container in containers:
        assert container["imagePullPolicy"] == "IfNotPresent", container["name"]


@pytest.mark.parametrize(
    ("tag", "policy"),
    [
        ("latest", "Always"),
        ("28.3.3-dind@sha256:" + "a" * 64, "IfNotPresent"),
        ("29.0.0-dind", "IfNotPresent"),
    ],
)
def test_only_a_floating_tag_is_pulled_always(helm, render, tag, policy):
    rendered = render(
        helm, extra={"dockerApi": {"image": {"repository": "docker.io/library/docker", "tag": tag}}}
    )
    container = engine(rendered.daemonset())
    assert container["image"] == f"docker.io/library/docker:{tag}"
    assert container["imagePullPolicy"] == policy


def test_engine_pull_policy_set_by_the_user_wins(helm, render):
    rendered = render(helm, extra={"dockerApi": {"image": {"pullPolicy": "Always"}}})
    spec = rendered.daemonset()["spec"]["template"]["spec"]
    for container in spec["initContainers"] + [engine(rendered.daemonset())]:
        assert container["imagePullPolicy"] == "Always", container["name"]
    assert rendered.container["imagePullPolicy"] == "IfNotPresent"


def test_image_override_per_field(helm, render):
    rendered = render(helm, "builder-podman", extra={"dockerApi": {"image": {"tag": "v5.0.0"}}})
    assert engine(rendered.daemonset())["image"] == "quay.io/podman/stable:v5.0.0"


def test_a_socket_path_too_long_for_unix_is_refused(helm, values_dir):
    long = {"release": "a-very-long-release-name-for-binderhub-service",
            "namespace": "binderhub-production-europe-west"}  # fmt: skip
    with pytest.raises(HelmError) as info:
        helm.template(**long)
    assert "more than the 107 a unix socket allows" in info.value.stderr
    # The node's own Docker has a fixed, short path.
    host = values_files(values_dir, None, {"dockerApi": {"type": "host"}})
    assert "docker_host: /var/run/docker.sock" in helm.template(host, **long)


def test_the_storage_can_be_capped(helm, render):
    rendered = render(helm, extra={"dockerApi": {"storage": {"emptyDir": {"sizeLimit": "60Gi"}}}})
    volumes = rendered.daemonset()["spec"]["template"]["spec"]["volumes"]
    assert {"name": "storage", "emptyDir": {"sizeLimit": "60Gi"}} in volumes


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        # a docker tag left over from dind (the 2i2c chart's dockerApi.image.tag)
        ({"type": "podman", "image": {"tag": "27.5.1-dind"}}, "dockerApi.image.tag"),
        (
            {"type": "podman", "image": {"repository": "docker.io/library/docker"}},
            "dockerApi.image.repository",
        ),
        (
            {"type": "dind", "image": {"repository": "quay.io/podman/stable"}},
            "dockerApi.image.repository",
        ),
        (
            {"type": "podman", "defaultImages": {"podman": {"tag": "28.3.3-dind"}}},
            "dockerApi.defaultImages.podman",
        ),
    ],
)
def test_an_engine_image_of_the_other_type_is_refused(template_error, extra, key):
    err = template_error({"dockerApi": extra})
    assert f"{key} makes the {extra['type']} engine image" in err
    assert "which is not a" in err


def test_an_image_of_the_right_type_is_taken(helm, render):
    image = {"repository": "registry.example.org/mirror/podman-stable", "tag": "v5.6.0"}
    rendered = render(helm, extra={"dockerApi": {"type": "podman", "image": image}})
    assert engine(rendered.daemonset())["image"] == (
        "registry.example.org/mirror/podman-stable:v5.6.0"
    )


@pytest.mark.parametrize(
    ("scenario", "writable"),
    [
        (
            "builder-dind",
            {"/run", "/tmp", "/var/lib/docker", "/var/run/binder-binderhub/docker-api"},
        ),
        (
            "builder-podman",
            {
                "/run",
                "/tmp",
                "/var/tmp",
                "/var/lib/containers/storage",
                "/var/run/binder-binderhub/docker-api",
            },
        ),
    ],
)
def test_engine_root_filesystem_is_read_only(helm, render, scenario, writable):
    """The engine writes to its storage, its socket directory, and emptyDirs
    where dockerd (exec root and pid file under /run) or podman (run root
    under /run, image copies under /var/tmp) and their wrappers write."""
    ds = render(helm, scenario).daemonset()
    container = engine(ds)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["privileged"] is True
    volumes = {v["name"]: v for v in ds["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert {path for path, m in mounts.items() if not m.get("readOnly")} == writable
    for path in writable - {"/var/lib/docker", "/var/lib/containers/storage"}:
        volume = volumes[mounts[path]["name"]]
        assert "emptyDir" in volume or "hostPath" in volume, path


def test_a_2i2c_engine_security_context_keeps_the_read_only_root(helm, render):
    """The 2i2c chart's values set dockerApi.securityContext to privileged and
    user 0: helm merges them with the chart's default."""
    extra = {"dockerApi": {"securityContext": {"privileged": True, "runAsUser": 0}}}
    container = engine(render(helm, extra=extra).daemonset())
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
