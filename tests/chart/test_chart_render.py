"""Every scenario lints, renders and validates, under helm 4 and helm 3."""

from __future__ import annotations

import re

import pytest
import yaml
from chartlib import CHART, NAMESPACE, HelmError, duplicate_keys, find_helm

# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion), and a recent one.
KUBE_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
OLDEST = re.fullmatch(r">=(\d+\.\d+\.\d+)-0", KUBE_VERSION).group(1)  # type: ignore[union-attr]
KUBERNETES_VERSIONS = [OLDEST, "1.35.0"]


def test_lint_strict(helm, lint, scenario):
    # lint() raises on a non-zero exit; helm also says so in its summary.
    assert "0 chart(s) failed" in lint(helm, scenario)


def test_renders_objects(helm, render, scenario):
    rendered = render(helm, scenario)
    kinds = {d["kind"] for d in rendered.docs}
    assert {"Deployment", "Service", "Secret", "Job"} <= kinds


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_validate_strict(helm, render, k8s_validate, scenario, version):
    docs = render(helm, scenario).docs
    assert docs
    for doc in docs:
        k8s_validate(doc, version)  # raises ValidationError naming the field


# Objects of no namespace (the image cleaner's right to cordon nodes).
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding"}


def test_every_object_has_the_release_namespace(helm, render, scenario):
    for doc in render(helm, scenario).docs:
        expected = None if doc["kind"] in CLUSTER_SCOPED else NAMESPACE
        assert doc["metadata"].get("namespace") == expected, doc["metadata"]["name"]


def test_every_object_has_the_common_labels(helm, render, scenario):
    for doc in render(helm, scenario).docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "binderhub"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/name"] in ("binderhub-service", "binderhub-svc")


def test_helm3_and_helm4_render_the_same(helm4, render, scenario):
    helm3 = find_helm(3)
    if isinstance(helm3, str):
        pytest.skip(helm3)
    assert render(helm3, scenario).docs == render(helm4, scenario).docs


def test_no_floating_image_tags(helm, render, scenario):
    for doc in render(helm, scenario).docs:
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec", spec) if doc["kind"] != "Pod" else spec
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            image = container["image"]
            name, _, tag = image.rpartition(":")
            assert name and tag and tag != "latest", image


def test_kube_version_floor(helm):
    """Kubernetes 1.27, which the 2i2c chart supports, is the oldest accepted;
    every scenario validates against its API (test_kubernetes_validate_strict)."""
    assert OLDEST == "1.27.0"
    assert helm.run("template", "b", str(CHART), "--namespace", NAMESPACE, "--kube-version", OLDEST)
    with pytest.raises(HelmError) as info:
        helm.run("template", "b", str(CHART), "--namespace", NAMESPACE, "--kube-version", "1.26.15")
    assert "kubeVersion" in info.value.stderr


def test_no_key_is_written_twice(helm, render, scenario):
    assert duplicate_keys(render(helm, scenario).text) == []
