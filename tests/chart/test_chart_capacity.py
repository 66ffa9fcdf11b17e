"""Build capacity: the daemon's limits, the build pods' requests, and
BinderHub's concurrency kept consistent; sticky builds.

Builds run in the build daemon's container, whose memory limit is shared by
every build on its node. buildPods.memory is what one build may use: the build
pods request it (so the scheduler puts no more builds on a node than its
memory holds), and (limit - daemon request) // buildPods.memory is how many
builds one daemon holds, which bounds BinderHub's concurrent_build_limit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from chartlib import CHART, NAMESPACE, RELEASE, Helm

from fakes.k8s_api import FakeKubernetes

GiB = 2**30


def kbe(rendered) -> dict:
    return rendered.config("KubernetesBuildExecutor")


def test_defaults_fit_real_builds(helm, render):
    rendered = render(helm, "defaults")
    (engine,) = [
        c for c in rendered.daemonset()["spec"]["template"]["spec"]["containers"]
        if c["name"] == "docker-api"
    ]  # fmt: skip
    assert engine["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "8", "memory": "17Gi"},
    }
    # each build pod reserves 2 GiB on its node for the build it starts
    assert kbe(rendered)["resources"] == {"requests": {"memory": "2Gi"}}
    # (17 GiB - 1 GiB) // 2 GiB: no more builds at once than one daemon holds
    assert rendered.config("BinderHub")["concurrent_build_limit"] == 8


@pytest.mark.parametrize(("replicas", "per_replica"), [(2, 4), (3, 2), (9, 1), (0, 8)])
def test_the_replicas_share_the_builds(helm, render, replicas, per_replica):
    """concurrent_build_limit applies to each BinderHub process."""
    rendered = render(helm, extra={"replicas": replicas})
    assert rendered.config("BinderHub")["concurrent_build_limit"] == per_replica


@pytest.mark.parametrize(
    ("resources", "memory", "capacity"),
    [
        ({"limits": {"memory": "16G"}, "requests": {"memory": None}}, "2Gi", 7),
        ({"limits": {"memory": "64Gi"}}, "4Gi", 15),
        ({"limits": {"memory": 34359738368}, "requests": {"memory": "512Mi"}}, "1.5Gi", 21),
        ({"limits": {"memory": "3Gi"}}, 1073741824, 2),
        # any form Kubernetes reads: exponents (a number to helm), fractions of a unit
        ({"limits": {"memory": "2e10"}, "requests": {"memory": "1e9"}}, "2G", 9),
        ({"limits": {"memory": "16.5Gi"}, "requests": {"memory": "0.5Gi"}}, "2048Mi", 8),
    ],
)
def test_capacity_from_quantities(helm, render, resources, memory, capacity):
    extra = {"dockerApi": {"resources": resources}, "buildPods": {"memory": memory}}
    rendered = render(helm, extra=extra)
    assert rendered.config("BinderHub")["concurrent_build_limit"] == capacity
    # the build pods' request as Kubernetes reads it (a number of bytes in full)
    assert kbe(rendered)["resources"]["requests"]["memory"] == str(memory)


def test_a_limit_that_holds_no_build_is_refused(template_error):
    err = template_error(
        {"dockerApi": {"resources": {"limits": {"memory": "2Gi"}}}, "buildPods": {"memory": "2Gi"}}
    )
    assert "dockerApi.resources.limits.memory (2Gi) leaves no room" in err
    assert "buildPods.memory (2Gi)" in err


def test_a_limit_that_is_no_quantity_is_refused(template_error):
    err = template_error({"dockerApi": {"resources": {"limits": {"memory": "lots"}}}})
    assert "at '/dockerApi/resources/limits/memory'" in err


@pytest.mark.parametrize("memory", ["2 GiB", "-1Gi", 0, "0Gi", "0.0", "+0e3", -1])
def test_build_memory_must_be_a_quantity(template_error, memory):
    err = template_error({"buildPods": {"memory": memory}})
    assert "/buildPods/memory" in err


def test_no_daemon_limit_no_derived_concurrency(helm, render):
    rendered = render(helm, extra={"dockerApi": {"resources": {"limits": {"memory": None}}}})
    assert "concurrent_build_limit" not in rendered.config("BinderHub")
    assert kbe(rendered)["resources"] == {"requests": {"memory": "2Gi"}}


def test_the_nodes_docker_has_no_daemon_limit_to_share(helm, render):
    rendered = render(helm, "builder-host")
    assert "concurrent_build_limit" not in rendered.config("BinderHub")


def test_config_wins(helm, render):
    resources = {"requests": {"memory": "1Gi", "cpu": "100m"}}
    rendered = render(
        helm,
        extra={
            "config": {
                "BinderHub": {"concurrent_build_limit": 20},
                "KubernetesBuildExecutor": {"resources": resources},
            }
        },
    )
    assert rendered.config("BinderHub")["concurrent_build_limit"] == 20
    assert kbe(rendered)["resources"] == resources


@pytest.mark.parametrize(
    ("cls", "trait"),
    [
        ("BinderHub", "build_memory_request"),
        ("BinderHub", "build_memory_limit"),
        ("BuildExecutor", "memory_limit"),
        ("KubernetesBuildExecutor", "memory_request"),
    ],
)
def test_deprecated_memory_traits_leave_the_build_pod_resources_to_binderhub(
    helm, render, cls, trait
):
    """BinderHub derives the build pods' resources from these only when
    KubernetesBuildExecutor.resources is unset."""
    rendered = render(helm, extra={"config": {cls: {trait: "3G"}}})
    assert "resources" not in kbe(rendered)
    assert rendered.config(cls)[trait] == "3G"


# ---------------------------------------------------------------------------
# Sticky builds
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["defaults", "builder-podman"])
def test_sticky_builds_by_default(helm, render, scenario):
    rendered = render(helm, scenario)
    assert kbe(rendered)["sticky_builds"] is True
    # BinderHub picks among the nodes of these pods (label selector
    # "component=image-builder,app=binder" in its namespace)
    labels = rendered.daemonset()["spec"]["template"]["metadata"]["labels"]
    assert labels["component"] == "image-builder" and labels["app"] == "binder"
    assert rendered.daemonset()["metadata"]["namespace"] == NAMESPACE


def test_sticky_builds_can_be_turned_off(helm, render):
    rendered = render(helm, extra={"buildPods": {"stickyBuilds": False}})
    assert kbe(rendered)["sticky_builds"] is False


@pytest.mark.parametrize("cls", ["KubernetesBuildExecutor", "BinderHub"])
def test_sticky_builds_set_in_config_win(helm, render, cls):
    rendered = render(helm, extra={"config": {cls: {"sticky_builds": False}}})
    assert "sticky_builds" not in kbe(rendered) or cls == "KubernetesBuildExecutor"
    assert rendered.config(cls)["sticky_builds"] is False


def test_no_sticky_builds_without_daemon_pods(helm, render):
    """With the nodes' Docker no pod has the labels: BinderHub would index an
    empty list of nodes and fail every build."""
    rendered = render(helm, "builder-host")
    assert "sticky_builds" not in kbe(rendered)


def test_sticky_builds_with_the_nodes_docker_are_refused(template_error):
    err = template_error(
        {"config": {"KubernetesBuildExecutor": {"sticky_builds": True}}}, "builder-host"
    )
    assert "config sets sticky_builds but dockerApi.type is host" in err


# ---------------------------------------------------------------------------
# NOTES.txt, from `helm install --dry-run` against a fake cluster (helm 3
# asks the cluster even then)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    with FakeKubernetes() as kube:
        yield kube


def notes(helm: Helm, cluster: FakeKubernetes, tmp_path: Path, values: dict) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    env = {
        "KUBECONFIG": str(cluster.kubeconfig(tmp_path / "kubeconfig")),
        "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
        "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
        "HELM_DATA_HOME": str(tmp_path / "helm-data"),
    }
    out = helm.run("install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client",
                   "--values", str(path), env=env)  # fmt: skip
    return " ".join(out[out.index("NOTES:") :].split())


def test_notes_state_the_capacity(helm, cluster, tmp_path):
    text = notes(helm, cluster, tmp_path, {})
    assert "each node's daemon holds 8 builds of 2Gi (buildPods.memory) in 17Gi" in text
    assert "BinderHub runs at most 8 at once" in text
    assert "more than the" not in text


def test_notes_warn_when_binderhub_may_overrun_a_daemon(helm, cluster, tmp_path):
    values = {"replicas": 2, "config": {"BinderHub": {"concurrent_build_limit": 6}}}
    text = notes(helm, cluster, tmp_path, values)
    assert "WARNING: BinderHub may run 12 builds at once (6 per replica), more than the 8" in text


def test_notes_warn_about_deprecated_memory_traits(helm, cluster, tmp_path):
    values = {"config": {"BinderHub": {"build_memory_limit": "3G"}}}
    text = notes(helm, cluster, tmp_path, values)
    assert (
        "WARNING: config sets BinderHub.build_memory_limit, which no longer limits builds" in text
    )
