"""Every scenario lints, renders and validates, under helm 4 and helm 3."""

from __future__ import annotations

import pytest
from chartlib import NAMESPACE, find_helm

KUBERNETES_VERSIONS = ["1.30.0", "1.35.0"]


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
