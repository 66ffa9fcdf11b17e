"""gkeWorkloadIdentity: keyless pushes to Artifact Registry. The rendered objects, the
values the chart refuses with it, and the registry class run as BinderHub runs it
(the stand-in of binderhub.registry, the fake GKE metadata server, a fake registry)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chartlib import CHART, Rendered, load_config_file

from fakes import binderhub_registry
from fakes.gke_metadata import FakeMetadataServer
from fakes.registry_v2 import FakeRegistry

SCENARIO = "gke-workload-identity"
PUSHER = "binderhub-pusher@proj.iam.gserviceaccount.com"
ANNOTATION = "iam.gke.io/gcp-service-account"
REGISTRY_FILE = CHART / "files" / "gke_workload_identity.py"
IMAGE = "proj/repo/binder-gh-org-repo-55ab5c"


def push_secret_name(rendered: Rendered) -> str:
    return str(rendered.config("KubernetesBuildExecutor")["push_secret"])


def test_keyless_objects(helm, render):
    rendered = render(helm, SCENARIO)

    account = rendered.get("ServiceAccount")
    assert account["metadata"]["annotations"] == {ANNOTATION: PUSHER}
    assert rendered.pod_spec["serviceAccountName"] == account["metadata"]["name"]
    # No push Secret, no docker config in BinderHub's pod.
    secrets = {s["metadata"]["name"] for s in rendered.all("Secret")}
    assert push_secret_name(rendered) not in secrets
    assert all("config.json" not in (s.get("data") or {}) for s in rendered.all("Secret"))
    assert "DOCKER_CONFIG" not in rendered.env()
    assert "docker-config" not in {v["name"] for v in rendered.pod_spec["volumes"]}
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/push-secret" not in annotations
    # BinderHub runs repo2docker with --push only while push_secret is set: it stays
    # set, naming no Secret; builds get credentials from the registry class instead.
    assert push_secret_name(rendered)
    assert rendered.config("DockerRegistry") == {"url": "https://europe-west10-docker.pkg.dev"}
    assert rendered.chart_config()["gkeWorkloadIdentity"] == {"enabled": True}
    files = rendered.find("Secret", "binderhub")[0]["stringData"]
    assert files["gke_workload_identity.py"] == REGISTRY_FILE.read_text()


@pytest.mark.parametrize("scenario", ["seed", "existing-secret", "defaults"])
def test_with_keys_nothing_changes(helm, render, scenario):
    rendered = render(helm, scenario)

    assert ANNOTATION not in (rendered.get("ServiceAccount")["metadata"].get("annotations") or {})
    files = rendered.find("Secret", "binderhub")[0]["stringData"]
    assert "gke_workload_identity.py" not in files
    assert "gkeWorkloadIdentity" not in rendered.chart_config()
    assert "DockerRegistry" not in rendered.chart_config()["config"]
    assert rendered.env()["DOCKER_CONFIG"]["value"] == "/etc/binderhub/docker"


def test_an_annotation_of_the_users_is_kept(helm, render):
    rendered = render(
        helm, SCENARIO, extra={"serviceAccount": {"annotations": {"example.org/team": "data"}}}
    )
    annotations = rendered.get("ServiceAccount")["metadata"]["annotations"]
    assert annotations == {ANNOTATION: PUSHER, "example.org/team": "data"}


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"gkeWorkloadIdentity": {"googleServiceAccount": ""}}, "googleServiceAccount is empty"),
        ({"gkeWorkloadIdentity": {"registryHost": ""}}, "registryHost is empty"),
        (
            {"buildPodsRegistryCredentials": {"server": "s", "username": "u", "password": "p"}},
            "buildPodsRegistryCredentials.server are both set",
        ),
        (
            {"buildPodsRegistryCredentials": {"existingSecret": "push"}},
            "buildPodsRegistryCredentials.existingSecret are both set",
        ),
        ({"buildPodsDockerConfig": {"auths": {}}}, "buildPodsDockerConfig are both set"),
        (
            {"extraCredentials": {"googleServiceAccountKey": "{}"}},
            "extraCredentials.googleServiceAccountKey are both set",
        ),
        ({"serviceAccount": {"create": False, "name": "x"}}, "needs serviceAccount.create"),
        (
            {"serviceAccount": {"annotations": {ANNOTATION: "other@p.iam.gserviceaccount.com"}}},
            "set it in gkeWorkloadIdentity only",
        ),
        (
            {"gkeWorkloadIdentity": {"googleServiceAccount": "not-an-email"}},
            "/gkeWorkloadIdentity/googleServiceAccount",
        ),
    ],
    ids=[
        "no-account",
        "no-host",
        "inline-credentials",
        "existing-secret",
        "docker-config",
        "key",
        "no-serviceaccount",
        "conflicting-annotation",
        "bad-email",
    ],
)
def test_refused_with_workload_identity(template_error, extra, words):
    assert words in template_error(extra, SCENARIO)


# ---- the registry class, run as BinderHub runs it ------------------------------------------


@pytest.fixture
def binderhub_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """`import binderhub.registry` finds the stand-in of BinderHub's registry classes."""
    package = types.ModuleType("binderhub")
    package.registry = binderhub_registry  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "binderhub", package)
    monkeypatch.setitem(sys.modules, "binderhub.registry", binderhub_registry)


@pytest.fixture
def metadata() -> Iterator[FakeMetadataServer]:
    with FakeMetadataServer(email=PUSHER) as server:
        yield server


@pytest.fixture
def registry(metadata: FakeMetadataServer) -> Iterator[FakeRegistry]:
    """Artifact Registry takes the pusher's access token as a Bearer token."""
    with FakeRegistry(auth="token") as fake:
        metadata.issue = lambda: fake.issue_token({IMAGE})
        fake.push(IMAGE, "built")
        yield fake


def registry_class_config(
    tmp_path: Path, render: Any, helm4: Any, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> Any:
    for name in ("GCE_METADATA_HOST", "GCE_METADATA_ROOT"):
        monkeypatch.delenv(name, raising=False)
    return load_config_file(tmp_path, render(helm4, SCENARIO), monkeypatch, env)


def make_registry(config: Any, **traits: Any) -> Any:
    """The registry as BinderHub makes it: `registry_class(parent=app)`, configured by `c`."""
    for name, value in traits.items():
        setattr(config.DockerRegistry, name, value)
    return config.BinderHub.registry_class(config=config)


def test_the_config_file_selects_the_registry_class(
    tmp_path, render, helm4, monkeypatch, binderhub_module, metadata
):
    c = registry_class_config(
        tmp_path, render, helm4, monkeypatch, {"GCE_METADATA_HOST": metadata.host}
    )

    cls = c.BinderHub.registry_class
    assert issubclass(cls, binderhub_registry.GoogleArtifactRegistry)
    registry = make_registry(c)
    assert registry.url == "https://europe-west10-docker.pkg.dev"
    assert registry.token_url == (
        f"http://{metadata.host}/computeMetadata/v1/instance/service-accounts/default/token"
    )
    # Without GCE_METADATA_HOST: the metadata server's name, as google-auth uses it.
    monkeypatch.delenv("GCE_METADATA_HOST")
    assert make_registry(c).token_url.startswith("http://metadata.google.internal/")


def test_a_registry_class_of_the_users_wins(tmp_path, render, helm4, monkeypatch, binderhub_module):
    rendered = render(
        helm4, SCENARIO, extra={"config": {"BinderHub": {"registry_class": "mine.Registry"}}}
    )
    c = load_config_file(tmp_path, rendered, monkeypatch)
    assert c.BinderHub.registry_class == "mine.Registry"


def test_images_are_looked_up_and_builds_get_a_push_token(
    tmp_path, render, helm4, monkeypatch, binderhub_module, metadata, registry
):
    c = registry_class_config(
        tmp_path, render, helm4, monkeypatch, {"GCE_METADATA_HOST": metadata.host}
    )
    hub_registry = make_registry(c, url=registry.url)

    built = asyncio.run(
        binderhub_registry.prepare_build(hub_registry, f"{registry.host}/{IMAGE}:built")
    )
    new = asyncio.run(
        binderhub_registry.prepare_build(hub_registry, f"{registry.host}/{IMAGE}:new")
    )

    assert built == {"found": True, "env": {}}
    assert new["found"] is False
    credentials = binderhub_registry.repo2docker_credentials(new["env"])
    assert credentials == {
        "registry": registry.host,
        "username": "oauth2accesstoken",
        "password": metadata.issued[-1],
    }
    # The registry accepted the metadata server's token as a Bearer token.
    assert any(
        r.headers.get("Authorization") == f"Bearer {metadata.issued[-1]}" for r in registry.requests
    )
    assert all(r["Metadata-Flavor"] == "Google" for r in metadata.requests)
    # For Artifact Registry, the credentials are for its host.
    for_gar = asyncio.run(
        make_registry(c, url="https://europe-west10-docker.pkg.dev").get_credentials(IMAGE, "x")
    )
    assert for_gar["registry"] == "europe-west10-docker.pkg.dev"


def test_a_token_with_little_time_left_is_warned_about(
    tmp_path, render, helm4, monkeypatch, binderhub_module, metadata, caplog
):
    c = registry_class_config(
        tmp_path, render, helm4, monkeypatch, {"GCE_METADATA_HOST": metadata.host}
    )
    metadata.expire_in(600)  # cached: ten minutes left

    with caplog.at_level(logging.INFO):
        credentials = asyncio.run(make_registry(c).get_credentials(IMAGE, "abc"))

    assert credentials["password"] == metadata.issued[-1]
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "expires in 5" in warning.getMessage() or "expires in 6" in warning.getMessage()
    assert "a build that takes longer cannot push" in warning.getMessage()
    assert metadata.issued[-1] not in caplog.text  # the token itself is never logged


def test_no_credentials_without_a_token(
    tmp_path, render, helm4, monkeypatch, binderhub_module, metadata
):
    """A metadata server that fails fails the build's preparation: a build never starts
    without push credentials (it would mount a push Secret that does not exist)."""
    from tornado.httpclient import HTTPClientError

    c = registry_class_config(
        tmp_path, render, helm4, monkeypatch, {"GCE_METADATA_HOST": metadata.host}
    )
    metadata.fail_next = 1

    with pytest.raises(HTTPClientError) as failed:
        asyncio.run(make_registry(c).get_credentials(IMAGE, "abc"))

    assert failed.value.code == 500


def test_the_metadata_server_refuses_requests_without_its_header(metadata):
    """The fake answers as GKE's does, which is why every request above carried it."""
    from urllib.error import HTTPError
    from urllib.request import Request, urlopen

    url = f"http://{metadata.host}/computeMetadata/v1/instance/service-accounts/default/token"
    with pytest.raises(HTTPError) as refused:
        urlopen(Request(url), timeout=5)
    assert refused.value.code == 403
    with urlopen(Request(url, headers={"Metadata-Flavor": "Google"}), timeout=5) as answer:
        body = json.loads(answer.read())
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["token_type"] == "Bearer" and 3500 < body["expires_in"] <= 3599
