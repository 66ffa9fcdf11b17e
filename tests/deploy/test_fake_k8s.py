"""The fake Kubernetes API's own rules (what helm relies on when it patches and waits)."""

from __future__ import annotations

import pytest

from fakes import k8s_patch, k8s_proto
from fakes.k8s_api import FakeKubernetes, field_selector_matches, selector_matches


def test_label_and_field_selectors() -> None:
    labels = {"app": "bh", "tier": "web"}
    assert selector_matches("app=bh,tier in (web, api)", labels)
    assert selector_matches("app==bh,!gone,tier", labels)
    assert not selector_matches("app!=bh", labels)
    assert not selector_matches("tier notin (web)", labels)
    event = {"involvedObject": {"kind": "Pod", "name": "p"}, "type": "Warning"}
    assert field_selector_matches("involvedObject.kind=Pod,involvedObject.name=p", event)
    assert not field_selector_matches("type!=Warning", event)


def test_strategic_merge_patch_merges_containers_by_name() -> None:
    live = {
        "spec": {
            "containers": [
                {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                {"name": "b", "image": "b:1"},
            ],
            "finalizers": ["one"],
        }
    }
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [
                {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
                {"name": "b", "$patch": "delete"},
            ],
            "finalizers": ["two"],
        }
    }
    result = k8s_patch.strategic_merge_patch(live, patch)
    assert result["spec"]["containers"] == [
        {
            "name": "a",
            "image": "a:2",
            "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
        }
    ]
    assert result["spec"]["finalizers"] == ["one", "two"]
    # Service ports merge on port, container ports on containerPort.
    service = {"spec": {"ports": [{"port": 80, "name": "http"}]}}
    merged = k8s_patch.strategic_merge_patch(
        service, {"spec": {"ports": [{"port": 80, "targetPort": 8}]}}
    )
    assert merged["spec"]["ports"] == [{"port": 80, "name": "http", "targetPort": 8}]


def test_merge_json_and_apply_patches() -> None:
    assert k8s_patch.merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {
        "a": {"c": 2, "d": 3}
    }
    ops = [{"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/b", "value": "x"}]
    assert k8s_patch.json_patch({"a": [1, 2], "b": "y"}, ops) == {"a": [1, 2, 3], "b": "x"}
    with pytest.raises(k8s_patch.PatchError):
        k8s_patch.json_patch({}, [{"op": "remove", "path": "/missing"}])
    # Server-side apply: what the manager dropped goes, what others set stays.
    live = {"data": {"mine": "1", "old": "2", "theirs": "3"}}
    result = k8s_patch.apply_patch(
        live, {"data": {"mine": "9"}}, {"data": {"mine": "1", "old": "2"}}
    )
    assert result == {"data": {"mine": "9", "theirs": "3"}}


def test_protobuf_secret_bodies_decode() -> None:
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    def entry(key: bytes, value: bytes) -> bytes:
        return field(1, key) + field(2, value)

    meta = field(1, b"s") + field(3, b"ns") + field(11, entry(b"owner", b"helm"))
    secret = (
        field(1, meta) + field(2, entry(b"release", b"\x00\x01")) + field(3, b"helm.sh/release.v1")
    )
    body = k8s_proto.MAGIC + field(1, field(1, b"v1") + field(2, b"Secret")) + field(2, secret)
    assert k8s_proto.decode(body) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "ns", "labels": {"owner": "helm"}},
        "data": {"release": "AAE="},
        "type": "helm.sh/release.v1",
    }


def test_a_deployment_gets_a_replicaset_and_ready_pods() -> None:
    with FakeKubernetes() as fake:
        fake.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
        labels = {"app": "x"}
        fake.create(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "x", "namespace": "ns"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                        {"name": "c", "image": "x:1"}]}},
                },
            }
        )  # fmt: skip
        [deployment] = fake.objects("Deployment", "ns")
        status = deployment["status"]
        assert status["observedGeneration"] == deployment["metadata"]["generation"] == 1
        assert status["readyReplicas"] == status["updatedReplicas"] == 2
        assert {c["type"]: c["reason"] for c in status["conditions"]} == {
            "Available": "MinimumReplicasAvailable",
            "Progressing": "NewReplicaSetAvailable",
        }
        [replicaset] = fake.objects("ReplicaSet", "ns")
        assert replicaset["metadata"]["ownerReferences"][0]["uid"] == deployment["metadata"]["uid"]
        pods = fake.objects("Pod", "ns")
        assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)
