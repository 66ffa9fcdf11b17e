"""Values files of the 2i2c binderhub-service chart keep their meaning here.

fixtures/2i2c-binderhub-service holds the values files of the 2i2c chart's
repository and the manifests that chart renders from them (see its README).
Each values file is rendered with this chart, with `naming: release` (the
default) and `naming: 2i2c`, and compared by meaning with the 2i2c manifests:
BinderHub's traits, the build pods' docker config, the container engine,
the Service, tolerations, and with `naming: 2i2c` the object names, kinds
and selectors. The differences on purpose are spelled out below (and in
docs/how-to/helm-only.md).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from chartlib import CHART, Helm, Rendered, load_config_file, secret_data, values_files

from bhsvc.values import deep_merge

traitlets_config = pytest.importorskip("traitlets.config")

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "2i2c-binderhub-service"
# The release and namespace the fixtures were rendered with.
RELEASE = "binderhub-service"
NAMESPACE = "binder"

# case -> (values files, the 2i2c chart's manifests from them)
CASES = {
    "01-defaults": (["values-01-defaults.yaml"], "rendered-01.yaml"),
    "02-ci-local-registry": (
        ["values-02-dev-config.yaml", "values-02b-ci-set.yaml"],
        "rendered-02.yaml",
    ),
    "03-lint-values": (["values-03-lint-and-validate-values.yaml"], "rendered-03.yaml"),
    "04-readme-gar": (["values-04-readme-step8.yaml"], "rendered-04.yaml"),
    "05-readme-hub": (["values-05-readme-step11-and-hub-step8.yaml"], "rendered-05.yaml"),
}
NAMINGS = ["release", "2i2c"]

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
OUR_DIND = "{repository}:{tag}".format(**VALUES["dockerApi"]["defaultImages"]["dind"])
OUR_IMAGE = "{repository}:{tag}".format(**VALUES["image"])

# The tolerations the chart always gives the container engine (z2jh's user
# nodes, which build pods tolerate); the 2i2c chart gives none.
USER_NODE_TOLERATIONS = [
    {"key": key, "operator": "Equal", "value": "user", "effect": "NoSchedule"}
    for key in ("hub.jupyter.org/dedicated", "hub.jupyter.org_dedicated")
]


def values_of(case: str) -> dict[str, Any]:
    """The case's values files merged (the later file wins, as with helm)."""
    merged: dict[str, Any] = {}
    for name in CASES[case][0]:
        merged = deep_merge(merged, yaml.safe_load((FIXTURES / name).read_text()) or {})
    return merged


@functools.cache
def theirs(case: str) -> Rendered:
    return Rendered((FIXTURES / CASES[case][1]).read_text())


_ours: dict[tuple[str, str, str], Rendered] = {}


def ours(helm: Helm, case: str, naming: str, tmp_dir: Path) -> Rendered:
    key = (helm.path, case, naming)
    if key not in _ours:
        files = [FIXTURES / name for name in CASES[case][0]]
        files += values_files(tmp_dir, None, {"naming": naming})
        _ours[key] = Rendered(helm.template(files, RELEASE, NAMESPACE))
    return _ours[key]


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=NAMINGS)
def naming(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def both(helm, case, naming, values_dir) -> tuple[Rendered, Rendered]:
    """(ours, theirs) for the case."""
    return ours(helm, case, naming, values_dir), theirs(case)


def one(rendered: Rendered, kind: str) -> dict[str, Any]:
    (doc,) = rendered.all(kind)
    return doc


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    """The workload's container (the engine's, beside this chart's image
    cleaner)."""
    (c,) = [c for c in pod_spec(workload)["containers"] if c["name"] != "image-cleaner"]
    return c


def env_values(workload: dict[str, Any]) -> dict[str, str]:
    """A container's literal env values, and the namespace where the downward
    API gives it."""
    out = {}
    for e in container(workload).get("env", []):
        if "value" in e:
            out[e["name"]] = e["value"]
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            out[e["name"]] = NAMESPACE
    return out


def as_dict(config: Any) -> dict[str, Any]:
    return {k: as_dict(v) if isinstance(v, dict) else v for k, v in config.items()}


# ---------------------------------------------------------------------------
# Every 2i2c values file renders, and every render is valid
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.27.0", "1.35.0"])
def test_renders_and_validates(both, k8s_validate, version):
    rendered, _ = both
    assert rendered.all("Deployment")
    for doc in rendered.docs:
        k8s_validate(doc, version)


# ---------------------------------------------------------------------------
# BinderHub's configuration
# ---------------------------------------------------------------------------


def their_traits(case: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the 2i2c chart's binderhub_config.py makes of its chart-config.yaml:
    each non-empty config.<Class> section, then the extraConfig snippets in
    the sorted order of their names, run with the pod's environment."""
    rendered = theirs(case)
    secret = next(s for s in rendered.all("Secret") if "chart-config.yaml" in s["stringData"])
    chart_config = yaml.safe_load(secret["stringData"]["chart-config.yaml"])
    for name, value in env_values(one(rendered, "Deployment")).items():
        monkeypatch.setenv(name, value)
    c = traitlets_config.Config()
    for section, traits in chart_config["config"].items():
        if traits:
            c[section].update(traits)
    for _, snippet in sorted(chart_config["extraConfig"].items()):
        if snippet:
            exec(snippet, {"c": c})  # the snippets of the 2i2c chart's own defaults
    return as_dict(c)


def our_traits(rendered: Rendered, directory: Path, monkeypatch: pytest.MonkeyPatch):
    env = env_values(rendered.deployment)
    return as_dict(load_config_file(directory, rendered, monkeypatch, env))


def test_binderhub_traits(both, case, naming, tmp_path, monkeypatch):
    rendered, _ = both
    expected = their_traits(case, monkeypatch)
    got = our_traits(rendered, tmp_path, monkeypatch)
    kbe = got["KubernetesBuildExecutor"]
    if naming == "release":
        # the push Secret is named after the release; it is the one rendered
        assert kbe["push_secret"] == "binderhub-service-build-pods-docker-config"
        assert rendered.get("Secret", kbe["push_secret"])
        expected["KubernetesBuildExecutor"]["push_secret"] = kbe["push_secret"]
    # On purpose: the build capacity model (buildPods.memory) and sticky
    # builds (buildPods.stickyBuilds), which the 2i2c chart leaves to
    # BinderHub's defaults (no request, no limit on concurrent builds)
    assert kbe.pop("resources") == {"requests": {"memory": "2Gi"}}
    assert kbe.pop("sticky_builds") is True
    assert got["BinderHub"].pop("concurrent_build_limit") == 8
    assert got == expected
    # the same per-release socket as the 2i2c chart's daemon
    assert kbe["docker_host"] == "/var/run/binder-binderhub-service/docker-api/docker-api.sock"


# ---------------------------------------------------------------------------
# The build pods' docker config
# ---------------------------------------------------------------------------


def registries(config_json: str) -> dict[str, Any]:
    """A docker config.json by meaning: each registry's (user, password), or
    None for an entry without credentials; other keys as they are. An empty
    user and password (base64 of ":", the 2i2c chart's way of writing a
    registry without credentials) counts as no credentials."""
    config = json.loads(config_json)
    out = {k: v for k, v in config.items() if k != "auths"}
    for server, entry in (config.get("auths") or {}).items():
        auth = base64.b64decode(entry["auth"]).decode() if entry.get("auth") else ":"
        user, _, password = auth.partition(":")
        out[server] = (user, password) if user or password else None
    return out


def push_config(rendered: Rendered, secret_name: str) -> str:
    return secret_data(rendered.get("Secret", secret_name), "config.json")


def test_build_pods_docker_config(both, case):
    rendered, their = both
    ours_config = registries(
        push_config(rendered, env_values(rendered.deployment)["PUSH_SECRET_NAME"])
    )
    their_config = registries(
        push_config(their, env_values(one(their, "Deployment"))["PUSH_SECRET_NAME"])
    )
    if case == "03-lint-values":
        # On purpose: the 2i2c chart writes buildPodsRegistryCredentials only
        # when config.BinderHub.use_registry is set, although BinderHub pushes
        # when it is not (use_registry defaults to true); this chart always
        # writes them.
        assert their_config == {"dummy": "dummy-value"}
        assert ours_config == {
            "dummy": "dummy-value",
            "quay.io": ("dummy-username", "dummy-password"),
        }
    else:
        assert ours_config == their_config


def test_a_registry_without_credentials(helm, naming, values_dir):
    """The 2i2c CI values: a local registry with empty username and password."""
    rendered = ours(helm, "02-ci-local-registry", naming, values_dir)
    their = theirs("02-ci-local-registry")
    name = env_values(rendered.deployment)["PUSH_SECRET_NAME"]
    config = json.loads(push_config(rendered, name))
    # An entry without "auth": docker sends no credentials, and BinderHub's
    # DockerRegistry.url defaults to this server.
    assert config == {"auths": {"http://10.1.0.4:5000": {}}}
    # The 2i2c chart writes base64(":") there, which the docker CLI refuses.
    their_name = env_values(one(their, "Deployment"))["PUSH_SECRET_NAME"]
    assert json.loads(push_config(their, their_name))["auths"]["http://10.1.0.4:5000"] == {
        "auth": "Og=="
    }


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker CLI")
def test_the_docker_cli_reads_our_config_but_not_theirs(helm, values_dir, tmp_path):
    """The docker CLI (as in build pods) loads our config.json without
    complaint; it rejects the 2i2c chart's for a registry without
    credentials, and then ignores the whole file."""

    def docker_warnings(config_json: str) -> str:
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        (folder / "config.json").write_text(config_json)
        env = {"PATH": os.environ["PATH"], "DOCKER_CONFIG": str(folder)}
        proc = subprocess.run(
            ["docker", "context", "ls", "--quiet"],
            capture_output=True, text=True, timeout=30, env=env, check=True,
        )  # fmt: skip
        return proc.stderr

    rendered = ours(helm, "02-ci-local-registry", "2i2c", values_dir)
    their = theirs("02-ci-local-registry")
    assert docker_warnings(push_config(rendered, "build-pods-docker-config")) == ""
    assert "Invalid auth configuration file" in docker_warnings(
        push_config(their, "build-pods-docker-config")
    )


# ---------------------------------------------------------------------------
# The BinderHub pod
# ---------------------------------------------------------------------------


def test_binderhub_pod(both, case):
    rendered, their = both
    values = values_of(case)
    mine, theirs_ = rendered.deployment, one(their, "Deployment")
    # the image the values name, or ours (a BinderHub image from upstream)
    assert container(mine)["image"] == (
        f"{values['image']['repository']}:{values['image']['tag']}"
        if "image" in values
        else OUR_IMAGE
    )
    assert mine["spec"]["replicas"] == theirs_["spec"]["replicas"]
    # probes ask the same path
    assert (
        container(mine)["startupProbe"]["httpGet"]["path"]
        == (container(theirs_)["startupProbe"]["httpGet"]["path"])
    )
    assert (
        container(mine)["ports"][0]["containerPort"]
        == container(theirs_)["ports"][0]["containerPort"]
    )
    # the labels of the 2i2c pod, the hub access label included
    their_labels = theirs_["spec"]["template"]["metadata"]["labels"]
    assert their_labels.items() <= mine["spec"]["template"]["metadata"]["labels"].items()
    assert pod_spec(mine).get("tolerations") == pod_spec(theirs_).get("tolerations")
    # the environment the 2i2c extraConfig snippets read
    mine_env, their_env = env_values(mine), env_values(theirs_)
    for name in ("HELM_RELEASE_NAME", "NAMESPACE", "BUILD_NAMESPACE"):
        assert mine_env[name] == their_env[name]
    assert set(their_env) <= set(mine_env)


def test_google_service_account_key(helm, naming, values_dir):
    """The lint values of the 2i2c chart set extraCredentials."""
    rendered, their = ours(helm, "03-lint-values", naming, values_dir), theirs("03-lint-values")
    key = values_of("03-lint-values")["extraCredentials"]["googleServiceAccountKey"]
    path = env_values(rendered.deployment)["GOOGLE_APPLICATION_CREDENTIALS"]
    # a different path on purpose (the chart mounts its config elsewhere),
    # the same content
    assert path == "/etc/binderhub/config/gcp-sa-key.json"
    secret = rendered.find("Secret", "binderhub")[0]
    assert json.loads(secret["stringData"]["gcp-sa-key.json"]) == json.loads(key)
    their_secret = next(s for s in their.all("Secret") if "gcp-sa-key.json" in s["stringData"])
    assert json.loads(their_secret["stringData"]["gcp-sa-key.json"]) == json.loads(key)


# The ENTRYPOINT and CMD of the two BinderHub images, from their Dockerfiles:
# jupyterhub/binderhub helm-chart/images/binderhub/Dockerfile and
# 2i2c-org/binderhub-service images/binderhub-service/Dockerfile.
IMAGES = {
    "quay.io/jupyterhub/k8s-binderhub": (
        ["tini", "--", "python", "-m", "binderhub"],
        ["--config", "/etc/binderhub/config/binderhub_config.py"],
    ),
    "quay.io/2i2c/binderhub-service": (
        ["tini", "--"],
        [
            "python",
            "-m",
            "binderhub",
            "--config",
            "/etc/binderhub/mounted-secret/binderhub_config.py",
        ],
    ),
}


def process(entrypoint: list[str], cmd: list[str], spec: dict[str, Any]) -> list[str]:
    """The argv a container runs: `command` replaces the image's ENTRYPOINT
    (and drops its CMD), `args` replaces CMD."""
    if "command" in spec:
        return spec["command"] + spec.get("args", [])
    return entrypoint + spec.get("args", cmd)


@pytest.mark.parametrize("image", list(IMAGES))
def test_the_container_command_works_with_both_images(helm, render, image):
    rendered = render(helm, "defaults")
    argv = process(*IMAGES[image], rendered.container)
    assert argv[:5] == ["tini", "--", "python", "-m", "binderhub"]
    assert argv[5] == "--config"
    # the config file is where the chart mounts it
    mounts = {m["name"]: m["mountPath"] for m in rendered.container["volumeMounts"]}
    assert argv[6] == f"{mounts['config']}/binderhub_config.py"
    assert argv[7:] == []
    # with args alone, the 2i2c image would run `tini -- --config ...`
    args_only = {"args": rendered.container["args"]}
    assert process(*IMAGES["quay.io/2i2c/binderhub-service"], args_only)[2] == "--config"


# ---------------------------------------------------------------------------
# The container engine
# ---------------------------------------------------------------------------


def host_path(workload: dict[str, Any], path: str) -> str | None:
    """The node path behind a path of the (single) container."""
    volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
    for mount in container(workload)["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/")
        if (path == prefix or path.startswith(prefix + "/")) and "subPath" not in mount:
            source = volumes[mount["name"]].get("hostPath")
            return source["path"] + path[len(prefix) :] if source else None
    return None


def arg_value(args: list[str], flag: str, default: str) -> str:
    for arg in args:
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return default


def mounted_files(rendered: Rendered, workload: dict[str, Any]) -> dict[str, Any]:
    """mountPath -> content of the files mounted from the engine's Secret."""
    volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
    out = {}
    for mount in container(workload)["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        if not secret or "subPath" not in mount:
            continue
        text = secret_data(rendered.get("Secret", secret["secretName"]), mount["subPath"])
        out[mount["mountPath"]] = yaml.safe_load(text)  # JSON is YAML
    return out


def test_container_engine(both, case):
    rendered, their = both
    values = values_of(case)
    mine, theirs_ = rendered.daemonset(), one(their, "DaemonSet")
    image = values.get("dockerApi", {}).get("image")
    assert container(mine)["image"] == (
        f"{image['repository']}:{image['tag']}" if image else OUR_DIND
    )
    mine_args, their_args = container(mine)["args"], container(theirs_)["args"]
    assert mine_args[0] == their_args[0] == "dockerd"
    # the same socket, on the same node path
    socket = arg_value(their_args, "--host", "").removeprefix("unix://")
    assert arg_value(mine_args, "--host", "") == f"unix://{socket}"
    assert host_path(mine, socket) == host_path(theirs_, socket) is not None
    # the same image and layer storage on the node (dockerd's data root)
    mine_root = arg_value(mine_args, "--data-root", "/var/lib/docker")
    their_root = arg_value(their_args, "--data-root", "/var/lib/docker")
    assert host_path(mine, mine_root) == host_path(theirs_, their_root) is not None
    # dockerApi.extraArgs last, in order
    extra = values.get("dockerApi", {}).get("extraArgs", [])
    assert mine_args[len(mine_args) - len(extra) :] == their_args[len(their_args) - len(extra) :]
    assert mounted_files(rendered, mine) == mounted_files(their, theirs_)
    # On purpose: a read-only root filesystem (the engine writes to emptyDirs)
    assert container(mine)["securityContext"] == {
        **container(theirs_)["securityContext"],
        "readOnlyRootFilesystem": True,
    }
    # and the image cleaner beside the engine, which the 2i2c chart lacks
    assert [c["name"] for c in pod_spec(mine)["containers"]] == ["docker-api", "image-cleaner"]
    # tolerations: those of the values, and the user nodes' (on purpose)
    assert pod_spec(mine)["tolerations"] == USER_NODE_TOLERATIONS + (
        pod_spec(theirs_).get("tolerations") or []
    )


def test_pod_annotations_reach_the_engine(helm, render):
    extra = {
        "podAnnotations": {"example.org/a": "pod", "example.org/both": "pod"},
        "dockerApi": {"podAnnotations": {"example.org/both": "engine"}},
    }
    rendered = render(helm, extra=extra)
    engine = rendered.daemonset()["spec"]["template"]["metadata"]["annotations"]
    assert engine["example.org/a"] == "pod"
    assert engine["example.org/both"] == "engine"
    binderhub = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert binderhub["example.org/both"] == "pod"


@pytest.mark.parametrize("listed", [USER_NODE_TOLERATIONS, USER_NODE_TOLERATIONS[1:]])
def test_user_node_tolerations_are_not_repeated(helm, render, listed):
    own = {"key": "pool", "operator": "Exists", "effect": "NoSchedule"}
    rendered = render(helm, extra={"dockerApi": {"tolerations": [*listed, own]}})
    tolerations = rendered.daemonset()["spec"]["template"]["spec"]["tolerations"]
    assert len(tolerations) == 3
    assert all(t in tolerations for t in [*USER_NODE_TOLERATIONS, own])


# ---------------------------------------------------------------------------
# The Service and the Ingress
# ---------------------------------------------------------------------------


def test_service(both, naming):
    rendered, their = both
    mine, theirs_ = rendered.get("Service"), one(their, "Service")
    assert mine["spec"]["type"] == theirs_["spec"]["type"]
    assert mine["spec"]["selector"] == theirs_["spec"]["selector"]
    (port,), (their_port,) = mine["spec"]["ports"], theirs_["spec"]["ports"]
    for key in ("name", "port", "targetPort", "nodePort"):
        assert port.get(key) == their_port.get(key), key
    if naming == "2i2c":
        assert mine["metadata"]["name"] == theirs_["metadata"]["name"] == "binderhub"
    else:
        assert mine["metadata"]["name"] == RELEASE


def without_backends(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**rule, "http": {"paths": [
            {k: v for k, v in path.items() if k != "backend"} for path in rule["http"]["paths"]
        ]}}
        for rule in rules
    ]  # fmt: skip


def test_ingress(both, case):
    rendered, their = both
    if not their.all("Ingress"):
        assert not rendered.all("Ingress")
        return
    mine, theirs_ = rendered.get("Ingress"), one(their, "Ingress")
    service = rendered.get("Service")["metadata"]["name"]
    for rule in mine["spec"]["rules"]:
        (path,) = rule["http"]["paths"]
        assert path["backend"]["service"] == {"name": service, "port": {"name": "http"}}
    assert without_backends(mine["spec"]["rules"]) == without_backends(theirs_["spec"]["rules"])
    for key in ("ingressClassName", "tls"):
        assert mine["spec"].get(key) == theirs_["spec"].get(key), key


# ---------------------------------------------------------------------------
# Object names, kinds and selectors
# ---------------------------------------------------------------------------

# Objects this chart adds to those of the 2i2c chart: NetworkPolicies of the
# BinderHub pod and of the `helm test` pod (with networkPolicy.enabled), the
# `helm test` Job (a hook, not part of the installed release), the Secret of
# the build token and cookie secrets every replica shares.
EXTRA_2I2C_OBJECTS = {
    ("NetworkPolicy", "binderhub"),
    ("NetworkPolicy", "binderhub-test-versions"),
    ("Job", "binderhub-test-versions"),
    ("Secret", "binderhub-secrets"),
}


def objects(rendered: Rendered) -> set[tuple[str, str]]:
    return {(d["kind"], d["metadata"]["name"]) for d in rendered.docs}


def selector(doc: dict[str, Any]) -> Any:
    spec = doc.get("spec", {})
    if doc["kind"] in ("Deployment", "DaemonSet"):
        return spec["selector"]
    if doc["kind"] == "NetworkPolicy":
        return spec["podSelector"]
    if doc["kind"] == "Service":
        return spec["selector"]
    return None


def test_2i2c_naming_keeps_names_kinds_and_selectors(helm, case, values_dir):
    rendered, their = ours(helm, case, "2i2c", values_dir), theirs(case)
    extra = objects(rendered) - objects(their)
    assert objects(their) <= objects(rendered)
    assert extra <= EXTRA_2I2C_OBJECTS
    assert ("Job", "binderhub-test-versions") in extra
    assert ("Secret", "binderhub-secrets") in extra
    for doc in their.docs:
        mine = rendered.get(doc["kind"], doc["metadata"]["name"])
        assert selector(mine) == selector(doc), doc["metadata"]["name"]
    # what refers to other objects refers to the same names
    binding, their_binding = rendered.get("RoleBinding"), one(their, "RoleBinding")
    assert binding["roleRef"] == their_binding["roleRef"]
    assert [(s["kind"], s["name"]) for s in binding["subjects"]] == [
        (s["kind"], s["name"]) for s in their_binding["subjects"]
    ]
    deployment, their_deployment = rendered.deployment, one(their, "Deployment")
    assert (
        pod_spec(deployment)["serviceAccountName"]
        == pod_spec(their_deployment)["serviceAccountName"]
    )


def test_release_naming_prefixes_every_name(helm, case, values_dir):
    rendered = ours(helm, case, "release", values_dir)
    # the release name contains the chart name, so it is the prefix itself
    for kind, name in objects(rendered):
        assert name == RELEASE or name.startswith(RELEASE + "-"), (kind, name)
    # and none of them is a 2i2c name: both releases fit in one namespace
    assert not objects(rendered) & objects(theirs(case))


@pytest.mark.parametrize(
    ("overrides", "service", "ingress", "engine"),
    [
        ({}, "binderhub", "binderhub", "docker-api"),
        ({"fullnameOverride": "prod"}, "prod-binderhub", "prod", "prod-docker-api"),
        # null: the release based prefix, as the 2i2c chart computes it
        ({"fullnameOverride": None}, "binderhub-service-binderhub", "binderhub-service",
         "binderhub-service-docker-api"),
        ({"fullnameOverride": None, "nameOverride": "bh"}, "binderhub-service-bh-binderhub",
         "binderhub-service-bh", "binderhub-service-bh-docker-api"),
    ],
)  # fmt: skip
def test_2i2c_naming_follows_the_overrides(helm, values_dir, overrides, service, ingress, engine):
    values = {"naming": "2i2c", "ingress": {"enabled": True}, **overrides}
    rendered = Rendered(helm.template(values_files(values_dir, None, values), RELEASE, NAMESPACE))
    assert rendered.get("Service")["metadata"]["name"] == service
    assert rendered.get("Ingress")["metadata"]["name"] == ingress
    assert rendered.daemonset()["metadata"]["name"] == engine
    labels = rendered.get("Service")["spec"]["selector"]
    assert labels["app.kubernetes.io/name"] == overrides.get("nameOverride", "binderhub-service")
