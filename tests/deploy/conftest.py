"""Fixtures of the deploy tests: a fake Kubernetes API, a fake BinderHub behind its
port-forward, a project directory with bhsvc.yaml and a pusher key, and the CLI run
in this process (the kubernetes client is imported once for all tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from deploylib import Project, cluster_env, write_key_files

from clirun import RunCli
from fakes.binderhub import FakeBinderHub
from fakes.k8s_api import FakeKubernetes
from oci_registry import Registry


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "proj"
    key = write_key_files(root / ".bhsvc")
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
    env = cluster_env(cluster.kubeconfig(tmp_path / "kubeconfig"), helm4_path, tmp_path / "home")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def run_cli(run_cli: RunCli, deploy_env: dict[str, str]) -> RunCli:
    """The shared in-process runner, with the fake cluster's environment set."""
    return run_cli


@pytest.fixture
def trusted_registry(oci_registry_tls: Registry, monkeypatch: pytest.MonkeyPatch) -> Registry:
    """The HTTPS registry, its CA trusted by helm (Go reads SSL_CERT_FILE) as it would
    trust a company CA."""
    assert oci_registry_tls.ca_file is not None
    monkeypatch.setenv("SSL_CERT_FILE", str(oci_registry_tls.ca_file))
    return oci_registry_tls
