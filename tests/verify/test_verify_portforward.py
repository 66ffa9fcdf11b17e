"""`bhsvc verify` in its default mode: a port-forward to the release's BinderHub pod.

The real kubernetes client talks to the fake Kubernetes API, whose port-forward
websocket relays to the fake BinderHub.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from verify_fixtures import PASSWORD, USER

from bhsvc.registry.images import ImageName, parse_image
from clirun import CliRun
from fakes.binderhub import FakeBinderHub
from fakes.k8s_api import FakeKubernetes
from fakes.registry_v2 import FakeRegistry

Run = Callable[..., CliRun]
Hub = Callable[..., FakeBinderHub]
BINDERHUB_LABELS = {
    "app.kubernetes.io/name": "binderhub-service",
    "app.kubernetes.io/instance": "binderhub",
    "app.kubernetes.io/component": "binderhub",
}
BUILD_LOG = [
    '{"message": "Step 7/12 : RUN pip install -r requirements.txt\\n", "phase": "building"}',
    '{"message": "ERROR: No matching distribution found for numpy==0.0.1\\n", "phase": "building"}',
]
_names = itertools.count()


@pytest.fixture(scope="module")
def cluster() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as kube:
        yield kube


def deployment(namespace: str, name: str, labels: dict[str, str], image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }


def pushed(images: FakeRegistry, hub: FakeBinderHub) -> tuple[ImageName, str]:
    """The image `hub` builds, pushed to `images`: its name and digest."""
    image = parse_image(hub.image_for("gh/binder-examples/requirements/HEAD"))
    assert image is not None
    return image, images.push(image.path, image.tag)


@pytest.fixture
def images(registry: Callable[..., FakeRegistry], monkeypatch: pytest.MonkeyPatch) -> FakeRegistry:
    """The registry bhsvc.yaml names, logged in to through BHSVC_REGISTRY_PASSWORD."""
    monkeypatch.setenv("BHSVC_REGISTRY_PASSWORD", PASSWORD)
    return registry()


@pytest.fixture
def setup(
    cluster: FakeKubernetes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images: FakeRegistry
) -> Callable[..., Path]:
    """A namespace with a BinderHub pod forwarding to `hub`; returns the bhsvc.yaml path."""

    def make(hub: FakeBinderHub | None, hub_section: str = "", binderhub_pod: bool = True) -> Path:
        namespace = f"verify-{next(_names)}"
        monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig(tmp_path / "kubeconfig")))
        cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        if binderhub_pod:
            image = "quay.io/jupyterhub/k8s-binderhub:1.0.0-0.dev.git.3983.h383374de"
            cluster.create(deployment(namespace, "binderhub", BINDERHUB_LABELS, image))
        cluster.port_targets.clear()
        if hub is not None:
            cluster.port_targets[8585] = ("127.0.0.1", hub.port)
        config = tmp_path / "bhsvc.yaml"
        config.write_text(
            f"version: 1\nkube:\n  namespace: {namespace}\n"
            f"registry:\n  provider: generic\n  server: {images.host}\n  username: {USER}\n"
            f"  image_prefix: {images.host}/org/binder-\n" + hub_section
        )
        return config

    return make


def test_success_through_the_port_forward(
    run_cli: Run, binderhub: Hub, setup: Callable[..., Path], images: FakeRegistry
) -> None:
    hub = binderhub(image_prefix=f"{images.host}/org/binder-")
    image, digest = pushed(images, hub)
    config = setup(hub)
    result = run_cli("verify", "--config", str(config), "-o", "json")
    assert result.code == 0, result.out
    doc = json.loads(result.out)
    assert doc["ok"] and doc["mode"] == "port-forward"
    assert doc["image"] == hub.image_for("gh/binder-examples/requirements/HEAD")
    assert doc["target"].startswith("http://127.0.0.1:") and doc["target"].endswith("/")
    assert doc["registry"] == {
        "provider": "generic",
        "status": "found",
        "detail": f"{image.name}@{digest}",
    }
    assert [r.path for r in hub.requests] == [
        "/versions",
        "/build/gh/binder-examples/requirements/HEAD",
    ]


def test_base_url_and_hub_auth(
    run_cli: Run, binderhub: Hub, setup: Callable[..., Path], images: FakeRegistry
) -> None:
    hub = binderhub(
        base_url="/services/binder/",
        token="hub-issued-token",
        image_prefix=f"{images.host}/org/binder-",
    )
    pushed(images, hub)
    config = setup(hub, "hub:\n  enabled: true\n  service_name: binder\n  auth: true\n")
    refused = run_cli("verify", "--config", str(config))
    assert refused.code == 1
    assert refused.err.splitlines()[-1] == (
        "error: BinderHub refused the build (403 Forbidden): no token was sent: pass --token or "
        "set BHSVC_TOKEN to a JupyterHub API token with access:services!service=binder"
    )
    assert "build pods:" not in refused.out  # an auth problem: no build to diagnose
    allowed = run_cli("verify", "--config", str(config), "--token", "hub-issued-token")
    assert allowed.code == 0, allowed.err
    assert hub.requests[-1].path == "/services/binder/build/gh/binder-examples/requirements/HEAD"


def test_build_failure_shows_the_build_pods(
    run_cli: Run, binderhub: Hub, setup: Callable[..., Path], cluster: FakeKubernetes
) -> None:
    hub = binderhub("failure")
    config = setup(hub)
    namespace = config.read_text().split("namespace: ")[1].split()[0]
    build_labels = {
        "component": "binderhub-build",
        "name": "build-binder-2dexamples-2drequirements",
    }
    cluster.set_pod_behavior("CrashLoopBackOff", selector="component=binderhub-build")
    cluster.pod_logs.append(("component=binderhub-build", BUILD_LOG))
    cluster.create(
        deployment(namespace, "build-x", build_labels, "quay.io/jupyterhub/repo2docker:2024.07.0")
    )
    result = run_cli("verify", "--config", str(config), "-o", "json")
    assert result.code == 1
    doc = json.loads(result.out)
    assert doc["error"].startswith("the build failed: The command")
    diagnostics = "\n".join(doc["diagnostics"])
    assert "CrashLoopBackOff" in diagnostics
    assert "No matching distribution found for numpy==0.0.1" in diagnostics
    text = run_cli("verify", "--config", str(config))
    assert "  build pods:\n" in text.out


def test_no_binderhub_pod(run_cli: Run, setup: Callable[..., Path]) -> None:
    config = setup(None, binderhub_pod=False)
    result = run_cli("verify", "--config", str(config))
    assert result.code == 1
    assert result.err.splitlines()[-1].startswith(
        "error: no ready pod matches app.kubernetes.io/instance=binderhub,"
        "app.kubernetes.io/component=binderhub in namespace verify-"
    )


def test_nothing_listening_in_the_pod(run_cli: Run, setup: Callable[..., Path]) -> None:
    config = setup(None)  # the pod runs, but nothing answers on port 8585
    result = run_cli("verify", "--config", str(config), "-o", "json")
    assert result.code == 1
    error = json.loads(result.out)["error"]
    assert "failed to connect to localhost:8585" in error
    assert "\n" not in error
