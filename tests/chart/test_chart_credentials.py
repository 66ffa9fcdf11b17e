"""Registry credentials: the push Secret, its use by build pods and BinderHub."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import yaml
from chartlib import SCENARIOS_DIR, secret_data

PUSH_SECRET = "binderhub-binderhub-service-build-pods-docker-config"


def docker_config_volume(rendered) -> dict:
    """The Secret volume mounted at $DOCKER_CONFIG in the BinderHub pod."""
    docker_config = rendered.env()["DOCKER_CONFIG"]["value"]
    mounts = {m["mountPath"]: m for m in rendered.container["volumeMounts"]}
    mount = mounts[docker_config]
    assert mount["readOnly"] is True
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    return volumes[mount["name"]]["secret"]


def test_seed_creates_the_push_secret(helm, render):
    seed = yaml.safe_load((SCENARIOS_DIR / "seed.yaml").read_text())
    creds = seed["buildPodsRegistryCredentials"]
    rendered = render(helm, "seed")
    secret = rendered.get("Secret", PUSH_SECRET)
    config = json.loads(secret_data(secret, "config.json"))
    auth = config["auths"]["https://europe-west10-docker.pkg.dev"]["auth"]
    user, _, password = base64.b64decode(auth).decode().partition(":")
    assert user == "_json_key"
    assert password == creds["password"]
    assert json.loads(password)["type"] == "service_account"


def test_seed_push_secret_wiring(helm, render):
    rendered = render(helm, "seed")
    assert rendered.config("KubernetesBuildExecutor")["push_secret"] == PUSH_SECRET
    # The BinderHub pod reads the same config.json to ask the registry
    # whether an image exists.
    assert docker_config_volume(rendered) == {
        "secretName": PUSH_SECRET,
        "defaultMode": 0o440,
        "items": [{"key": "config.json", "path": "config.json"}],
    }
    # 0440 is readable by BinderHub's non-root user through the pod's fsGroup,
    # which the kubelet gives the Secret's files.
    assert rendered.container["securityContext"]["runAsUser"] != 0
    assert rendered.pod_spec["securityContext"]["fsGroup"] == 10001
    assert rendered.env()["DOCKER_CONFIG"]["value"] == "/etc/binderhub/docker"
    assert rendered.env()["PUSH_SECRET_NAME"]["value"] == PUSH_SECRET
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/push-secret" in annotations


def test_existing_secret(helm, render):
    rendered = render(helm, "existing-secret")
    names = {s["metadata"]["name"] for s in rendered.all("Secret")}
    assert PUSH_SECRET not in names
    assert rendered.config("KubernetesBuildExecutor")["push_secret"] == (
        "binderhub-push-credentials"
    )
    assert docker_config_volume(rendered)["secretName"] == "binderhub-push-credentials"
    assert docker_config_volume(rendered)["items"] == [
        {"key": "config.json", "path": "config.json"}
    ]
    # The Secret is looked up on install and upgrade (a rotated key restarts BinderHub);
    # helm template has no cluster, so it hashes an empty Secret.
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/push-secret"] == hashlib.sha256(b"{}").hexdigest()


def test_docker_config_merges_into_the_push_secret(helm, render):
    rendered = render(helm, "every-option")
    secret = rendered.get("Secret", "my-binderhub-build-pods-docker-config")
    config = json.loads(secret_data(secret, "config.json"))
    assert config["credHelpers"] == {"us-docker.pkg.dev": "gcloud"}
    assert "https://europe-west10-docker.pkg.dev" in config["auths"]


def test_without_credentials_the_push_secret_is_empty(helm, render):
    rendered = render(helm, "defaults")
    secret = rendered.get("Secret", PUSH_SECRET)
    assert json.loads(secret_data(secret, "config.json")) == {"auths": {}}
    assert rendered.config("KubernetesBuildExecutor")["push_secret"] == PUSH_SECRET


def test_push_secret_set_in_config_wins(helm, render):
    rendered = render(
        helm,
        "seed",
        extra={"config": {"KubernetesBuildExecutor": {"push_secret": "mine"}}},
    )
    assert rendered.config("KubernetesBuildExecutor")["push_secret"] == "mine"


def test_existing_secret_conflicts_with_inline_credentials(template_error):
    err = template_error({"buildPodsRegistryCredentials": {"existingSecret": "x"}}, "seed")
    assert "buildPodsRegistryCredentials.existingSecret" in err
    assert "buildPodsRegistryCredentials.server" in err


@pytest.mark.parametrize(
    ("credentials", "empty"),
    [
        ({"server": "https://ghcr.io", "username": "me"}, "password"),
        ({"server": "https://ghcr.io", "password": "token"}, "username"),
        ({"username": "me", "password": "token"}, "server"),
    ],
)
def test_incomplete_credentials_fail(template_error, credentials, empty):
    err = template_error({"buildPodsRegistryCredentials": credentials})
    assert f"buildPodsRegistryCredentials.{empty} is empty" in err


def test_a_server_alone_is_a_registry_without_credentials(helm, render):
    rendered = render(
        helm, extra={"buildPodsRegistryCredentials": {"server": "http://10.1.0.4:5000"}}
    )
    config = json.loads(secret_data(rendered.get("Secret", PUSH_SECRET), "config.json"))
    # An entry without "auth": docker sends no credentials; BinderHub's
    # DockerRegistry.url defaults to the first entry's server.
    assert config == {"auths": {"http://10.1.0.4:5000": {}}}


def test_credentials_win_over_the_docker_config(helm, render):
    """For the same registry, as in the 2i2c chart."""
    server = "https://europe-west10-docker.pkg.dev"
    extra = {"buildPodsDockerConfig": {"auths": {server: {"auth": "b3RoZXI6b3RoZXI="}, "x.io": {}}}}
    rendered = render(helm, "seed", extra=extra)
    config = json.loads(secret_data(rendered.get("Secret", PUSH_SECRET), "config.json"))
    user = base64.b64decode(config["auths"][server]["auth"]).decode().partition(":")[0]
    assert user == "_json_key"
    assert config["auths"]["x.io"] == {}
