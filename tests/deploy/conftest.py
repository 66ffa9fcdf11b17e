"""Fixtures of the deploy tests: a fake Kubernetes API, a fake BinderHub behind its
port-forward, a project directory with bhsvc.yaml and a pusher key, and the CLI run
in this process (the kubernetes client is imported once for all tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from deploylib import PULLER, Project, key_json

from clirun import RunCli
from fakes.binderhub import FakeBinderHub
from fakes.k8s_api import FakeKubernetes


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    (root / ".bhsvc").mkdir(parents=True)
    key = root / ".bhsvc" / "binderhub-pusher-key.json"
    key.write_text(key_json())
    key.chmod(0o600)
    # The read-only key the hub's users pull with (auth key with a hub).
    pull_key = root / ".bhsvc" / "binderhub-puller-key.json"
    pull_key.write_text(key_json(email=PULLER))
    pull_key.chmod(0o600)
    proj = Project(root, root / "bhsvc.yaml", key)
    proj.write_config()
    return proj


@pytest.fixture
def cluster() -> Iterator[FakeKubernetes]:
    with FakeKubernetes(strict_references=True) as fake:
        yield fake


@pytest.fixture
def binderhub(cluster: FakeKubernetes) -> Iterator[FakeBinderHub]:
    """BinderHub as the port-forward reaches it (remote port 8585 of any pod)."""
    with FakeBinderHub() as hub:
        cluster.port_targets[8585] = ("127.0.0.1", hub.port)
        yield hub


@pytest.fixture
def deploy_env(
    cluster: FakeKubernetes, tmp_path: Path, helm4_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment of a deploy: the fake's kubeconfig, helm 4, helm's and the
    kubernetes discovery caches in the test's directory."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "KUBECONFIG": str(cluster.kubeconfig(tmp_path / "kubeconfig")),
        "BHSVC_HELM": str(helm4_path),
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "helm-cache"),
        "HELM_CONFIG_HOME": str(home / "helm-config"),
        "HELM_DATA_HOME": str(home / "helm-data"),
        "COLUMNS": "200",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def run_cli(run_cli: RunCli, deploy_env: dict[str, str]) -> RunCli:
    """The shared in-process runner, with the fake cluster's environment set."""
    return run_cli
