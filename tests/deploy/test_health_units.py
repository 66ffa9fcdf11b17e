"""The pure parts of status and doctor: which objects are orphans, what
NetworkPolicies admit, what logs and Secrets say, and that facts which could not
be read never lead to a finding."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import pytest

from bhsvc.config import parse_config
from bhsvc.health import netpol
from bhsvc.health.checks import replicas, run_checks
from bhsvc.health.facts import (
    Facts,
    HubFacts,
    ReleaseFacts,
    helm_time,
    parse_service_url,
    read_docker_config,
)
from bhsvc.health.gather import differing_keys
from bhsvc.health.hub_checks import hub_image
from bhsvc.health.logs import PUSH_DENIED, first_match, manifest_failures, pull_refusal
from bhsvc.health.summary import problems
from bhsvc.orphans import Orphan, Owner, find_orphans


def config(**hub: Any) -> Any:
    data: dict[str, Any] = {
        "kube": {"namespace": "binder"},
        "registry": {
            "provider": "gar",
            "gar": {"project": "my-project", "region": "europe-west10"},
        },
    }
    if hub:
        data["hub"] = {"enabled": True, **hub}
    return parse_config(data, "test")


# ---- orphans ---------------------------------------------------------------------------


def secret(namespace: str, name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name, "labels": labels}}


INSTALL = "0123456789abcdef"


def bhsvc_secret(namespace: str, name: str, release: str, install: str = INSTALL) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "bhsvc", "app.kubernetes.io/instance": release}
    return secret(namespace, name, **labels, **{"bhsvc.io/install": install})


def test_orphans_are_bhsvc_objects_of_another_release_or_namespace() -> None:
    owner = Owner.from_config(config(namespace="jupyterhub"), INSTALL)
    assert owner == Owner("binderhub", "binder", frozenset({"binder", "jupyterhub"}), INSTALL)
    secrets = [
        bhsvc_secret("binder", "binderhub-registry-credentials", "binderhub"),  # ours
        bhsvc_secret("jupyterhub", "binderhub-image-pull", "binderhub"),  # ours, hub side
        bhsvc_secret("binder", "old-registry-credentials", "old"),
        bhsvc_secret("elsewhere", "binderhub-registry-credentials", "binderhub"),
        secret("binder", "theirs", **{"app.kubernetes.io/instance": "other"}),  # not bhsvc's
        secret("binder", "unnamed", **{"app.kubernetes.io/managed-by": "bhsvc"}),  # no release
        # Another bhsvc install on the same cluster (another folder), and one made before
        # installs had an id: never this config's to remove.
        bhsvc_secret("other-ns", "binderhub-registry-credentials", "binderhub", "f" * 16),
        secret(
            "old-ns",
            "old-registry-credentials",
            **{"app.kubernetes.io/managed-by": "bhsvc", "app.kubernetes.io/instance": "x"},
        ),
    ]
    chart = "binderhub-service-0.1.0"
    releases = [
        {"name": "binderhub", "namespace": "binder", "chart": chart},  # ours
        {"name": "old", "namespace": "binder", "chart": chart},
        {"name": "binderhub", "namespace": "elsewhere", "chart": chart},
        {"name": "by-hand", "namespace": "binder", "chart": chart},  # not by bhsvc
        {"name": "jupyterhub", "namespace": "jupyterhub", "chart": "jupyterhub-4.3.1"},
        # A hub release named like BinderHub's next to bhsvc's pull Secret: not BinderHub.
        {"name": "binderhub", "namespace": "jupyterhub", "chart": "jupyterhub-4.3.1"},
    ]
    assert find_orphans(owner, secrets, releases) == [
        Orphan("release", "binder", "old", "old"),
        Orphan("release", "elsewhere", "binderhub", "binderhub"),
        Orphan("Secret", "binder", "old-registry-credentials", "old"),
        Orphan("Secret", "elsewhere", "binderhub-registry-credentials", "binderhub"),
    ]
    # BinderHub's chart under the config's release name in the hub's namespace is not
    # the config's: BinderHub's release lives in BinderHub's namespace.
    moved = {"name": "binderhub", "namespace": "jupyterhub", "chart": chart}
    assert find_orphans(owner, secrets[:2], [moved]) == [
        Orphan("release", "jupyterhub", "binderhub", "binderhub")
    ]
    assert find_orphans(Owner.from_config(config(), INSTALL), secrets[1:2], []) == [
        Orphan("Secret", "jupyterhub", "binderhub-image-pull", "binderhub")
    ]  # without a hub, the hub's namespace is not the config's
    # Never deployed from this folder: nothing on the cluster is known to be its own.
    assert find_orphans(Owner.from_config(config(), None), secrets, releases) == []


# ---- NetworkPolicies -------------------------------------------------------------------

BINDERHUB = netpol.Endpoint(
    "binder",
    {"app.kubernetes.io/component": "binderhub"},
    {"kubernetes.io/metadata.name": "binder"},
)
PROXY = netpol.Endpoint(
    "jupyterhub",
    {"component": "proxy", "release": "jupyterhub"},
    {"kubernetes.io/metadata.name": "jupyterhub"},
)


def policy(spec: dict[str, Any], name: str = "p") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "binder"}, "spec": spec}


DENY_ALL = policy({"podSelector": {}, "policyTypes": ["Ingress"]}, "deny")
CASES = [
    ([], True),
    ([DENY_ALL], False),
    # The chart's policy: the http port from anywhere.
    ([DENY_ALL, policy({"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]})], True),
    ([policy({"podSelector": {}, "ingress": [{"ports": [{"port": 8585}]}]})], True),
    ([policy({"podSelector": {}, "ingress": [{"ports": [{"port": 9000, "endPort": 9100}]}]})],
     False),
    ([policy({"podSelector": {}, "ingress": [{"ports": [{"port": 8000, "endPort": 9000}]}]})],
     True),
    ([policy({"podSelector": {}, "ingress": [{"ports": [{"port": "http", "protocol": "UDP"}]}]})],
     False),
    # A bare podSelector admits pods of the policy's own namespace only.
    ([policy({"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]})], False),
    ([policy({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "jupyterhub"}}}]}]})], True),
    ([policy({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {},
        "podSelector": {"matchLabels": {"component": "hub"}}}]}]})], False),
    ([policy({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {},
        "podSelector": {"matchExpressions": [
            {"key": "component", "operator": "In", "values": ["proxy", "hub"]}]}}]}]})], True),
    # Addresses cannot be judged: no false alarm.
    ([policy({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]})],
     True),
    # Policies that do not select BinderHub's pod, or only limit egress, do not isolate it.
    ([policy({"podSelector": {"matchLabels": {"app": "other"}}, "policyTypes": ["Ingress"]})],
     True),
    ([policy({"podSelector": {}, "policyTypes": ["Egress"]})], True),
    ([policy({"podSelector": {}, "egress": [{}]})], False),  # both types, no ingress rule
]  # fmt: skip


@pytest.mark.parametrize(("policies", "admitted"), CASES)
def test_network_policies_admit_as_kubernetes_decides(
    policies: list[dict[str, Any]], admitted: bool
) -> None:
    assert netpol.admits(policies, BINDERHUB, 8585, "http", PROXY) is admitted


# ---- what Secrets, logs and helm say ---------------------------------------------------------


def docker_secret(auths: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps({"auths": auths}).encode()
    return {"data": {"config.json": base64.b64encode(text).decode()}}


def test_a_docker_config_gives_hosts_and_key_ids_never_secrets() -> None:
    key = json.dumps({"type": "service_account", "private_key_id": "abc", "private_key": "K"})
    found = read_docker_config(
        docker_secret(
            {
                "https://europe-west10-docker.pkg.dev": {"username": "_json_key", "password": key},
                "https://index.docker.io/v1/": {"username": "u", "password": "not-json"},
            }
        ),
        "config.json",
    )
    assert found is not None
    assert found.hosts == ("europe-west10-docker.pkg.dev", "docker.io")
    assert found.key_ids == ("abc",)
    assert "K" not in repr(found) and "not-json" not in repr(found)
    assert read_docker_config(None, "config.json") is None
    broken = read_docker_config({"data": {"config.json": "bm90IGpzb24="}}, "config.json")
    assert broken is not None and broken.readable is False


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("http://binderhub-svc.binder:80", ("binderhub-svc", "binder", 80)),
        ("http://binderhub.binder.svc.cluster.local/", ("binderhub", "binder", 80)),
        ("http://binderhub:8585", ("binderhub", None, 8585)),
        ("https://binderhub.binder", ("binderhub", "binder", 443)),
        ("https://hub.example.org/services/binder/", None),
        ("http://10.0.0.12:80", None),
        ("http://[::1", None),
    ],
)  # fmt: skip
def test_service_urls(url: str, parsed: Any) -> None:
    assert parse_service_url(url) == parsed


def test_log_texts() -> None:
    lines = [
        "not json",
        json.dumps({"message": "Pushing\n", "phase": "building"}),
        json.dumps({"message": "unauthorized: authentication required\n", "phase": "building"}),
    ]
    assert first_match(lines, PUSH_DENIED) == "unauthorized: authentication required"
    escaped = r"denied: Permission \"artifactregistry.repositories.uploadArtifacts\" denied"
    assert first_match([escaped], PUSH_DENIED) is not None
    assert first_match(["denied: requested access to the resource is denied"], PUSH_DENIED)
    assert first_match(["Step 3/9 : RUN echo denied"], PUSH_DENIED) is None
    terminal = "\x1b[2Jdenied: requested access to the resource is denied"
    assert first_match([terminal], PUSH_DENIED) == (
        "\\x1b[2Jdenied: requested access to the resource is denied"
    )
    assert manifest_failures(
        ["[E ...] Failed to get image manifest for x:1", "HTTPClientError: HTTP 401: Unauthorized"]
    ) == (1, {"401"})
    assert pull_refusal(["Failed to pull image: ... 401 Unauthorized"]) == (
        "the registry answered 401 Unauthorized"
    )
    assert pull_refusal(["Failed to pull image x: pull access denied, repository does not "
                         "exist or may require authorization"]) == (
        "denied, repository does not exist or may require authorization"
    )  # fmt: skip
    assert pull_refusal(["Back-off pulling image x"]) is None


def test_helm_times_and_value_differences() -> None:
    assert helm_time("2026-01-02 03:04:05.123456789 +0000 UTC") == "2026-01-02T03:04:05Z"
    assert helm_time("2026-01-02 03:04:05 +0200 CEST") == "2026-01-02T03:04:05+02:00"
    assert helm_time("") is None
    assert differing_keys({"a": 1, "b": {"c": 1, "d": 2}}, {"a": 1, "b": {"c": 2}, "e": 1}) == [
        "b.c",
        "b.d",
        "e",
    ]


# ---- nothing read, nothing concluded -------------------------------------------------------


@pytest.mark.parametrize("hub", [False, True])
def test_facts_that_could_not_be_read_lead_to_no_finding(hub: bool) -> None:
    facts = Facts(
        config(namespace="jupyterhub") if hub else config(),
        "bhsvc.yaml",
        "ctx",
        "https://example.org",
        "v1.33.4",
        datetime.now(timezone.utc),
        unread=["list pods in namespace binder: forbidden: ..."],
    )
    assert run_checks(facts) == []
    assert [p.severity for p in problems(facts)] == ["warning"]


def with_releases(facts: Facts, binderhub: dict[str, Any], hub: dict[str, Any]) -> Facts:
    facts.binderhub_release = ReleaseFacts(
        "binderhub", "binderhub", "binder", "binderhub-service", True, values=binderhub
    )
    facts.hub_release = ReleaseFacts(
        "jupyterhub", "jupyterhub", "jupyterhub", "jupyterhub", True, values=hub
    )
    return facts


def pod(labels: dict[str, str], image: str = "x:1", env: list[Any] | None = None) -> Any:
    return {
        "metadata": {"name": "p", "labels": labels, "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"containers": [{"name": "c", "image": image, "env": env or []}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def test_replicas_with_hub_login_need_a_shared_cookie_secret() -> None:
    facts = with_releases(
        Facts(config(namespace="jupyterhub"), "b.yaml", "c", "s", "v", datetime.now(timezone.utc)),
        {"replicas": 2, "hubIntegration": {"enabled": True, "auth": True}},
        {},
    )
    facts.binderhub_pods = [pod({"app.kubernetes.io/component": "binderhub"})] * 2
    [found] = replicas(facts)
    assert found.finding.startswith("2 replicas with hub auth but no shared cookie secret")
    shared = [{"name": "BINDERHUB_SERVICE_COOKIE_SECRET", "valueFrom": {}}]
    facts.binderhub_pods = [pod({"app.kubernetes.io/component": "binderhub"}, env=shared)] * 2
    assert replicas(facts) == []


def test_a_hub_that_crashes_without_fancy_profiles() -> None:
    fancy = {"hub": {"extraConfig": {"bhsvc-fancy-profiles": "from jupyterhub_fancy_profiles"}}}
    facts = with_releases(
        Facts(config(namespace="jupyterhub"), "b.yaml", "c", "s", "v", datetime.now(timezone.utc)),
        {},
        fancy,
    )
    facts.hub = HubFacts("binder", pods=[pod({"component": "hub"}, "example.org/my-hub:1")])
    assert hub_image(facts) == []  # an image of its own: trusted until it fails
    facts.hub.hub_log = [
        '  File "/usr/local/etc/jupyterhub/jupyterhub_config.d/bhsvc-fancy-profiles.py"',
        "ModuleNotFoundError: No module named 'jupyterhub_fancy_profiles'",
    ]
    [found] = hub_image(facts)
    assert found.finding == (
        "the hub loads jupyterhub-fancy-profiles but its image lacks it (its log says No "
        "module named 'jupyterhub_fancy_profiles')"
    )
