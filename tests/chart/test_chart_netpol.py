"""NetworkPolicies, scoped to the release."""

from __future__ import annotations

import ipaddress

import pytest

# 169.254.169.252 (port 988): where GKE's metadata server listens, and where the
# iptables dataplane has sent a pod's 169.254.169.254:80 by the time policy applies.
PRIVATE = {
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.169.254/32",
    "169.254.169.252/32",
}
GKE_METADATA = [("169.254.169.254", 80), ("169.254.169.252", 988)]

# Port 53 of the cluster DNS pods only, not of every (private) address.
DNS_PORTS = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
DNS_RULE = {
    "ports": DNS_PORTS,
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
}


def policies(rendered) -> dict[str, dict]:
    return {
        p["metadata"]["labels"]["app.kubernetes.io/component"]: p
        for p in rendered.all("NetworkPolicy")
    }


def assert_build_egress(policy):
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["ingress"] == []
    egress = policy["spec"]["egress"]
    assert egress[0] == DNS_RULE
    v4, v6 = egress[1]["to"]
    assert v4["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert set(v4["ipBlock"]["except"]) == PRIVATE
    assert v6["ipBlock"]["cidr"] == "::/0"
    assert set(v6["ipBlock"]["except"]) == {"fc00::/7", "fe80::/10", "::ffff:0:0/96"}


def egress_allows(policy: dict, address: str, port: int) -> bool:
    """Whether a NetworkPolicy lets its pods connect to address:port (by ipBlock rules;
    a policy without Egress restricts no egress)."""
    spec = policy["spec"]
    if "Egress" not in spec["policyTypes"]:
        return True
    ip = ipaddress.ip_address(address)
    for rule in spec.get("egress") or []:
        ports = rule.get("ports")
        if ports and not any(p.get("port") == port for p in ports):
            continue
        for peer in rule.get("to") or [{"ipBlock": {"cidr": "0.0.0.0/0"}}]:
            block = peer.get("ipBlock")
            if block is None or ip not in ipaddress.ip_network(block["cidr"]):
                continue
            if not any(ip in ipaddress.ip_network(c) for c in block.get("except", [])):
                return True
    return False


@pytest.mark.parametrize("scenario", ["defaults", "gke-workload-identity"])
def test_only_binderhub_reaches_the_metadata_server(helm, render, scenario):
    """BinderHub gets its access tokens from GKE's metadata server; the pods that run
    untrusted build steps may not ask it for any."""
    found = policies(render(helm, scenario))
    for address, port in GKE_METADATA:
        assert egress_allows(found["binderhub"], address, port)
        assert not egress_allows(found["build-pods"], address, port)
        assert not egress_allows(found["docker-api"], address, port)
    # and the public internet stays open to builds
    assert egress_allows(found["build-pods"], "140.82.112.3", 443)


@pytest.mark.parametrize(
    "scenario", ["defaults", "seed", "builder-podman", "gke-workload-identity"]
)
def test_policies_by_default(helm, render, scenario):
    found = policies(render(helm, scenario))
    assert set(found) == {"binderhub", "build-pods", "docker-api", "test"}

    binderhub = found["binderhub"]["spec"]
    assert binderhub["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "binderhub-service",
        "app.kubernetes.io/instance": "binderhub",
        "app.kubernetes.io/component": "binderhub",
    }
    assert binderhub["policyTypes"] == ["Ingress"]
    assert binderhub["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]

    docker_api = found["docker-api"]["spec"]
    assert docker_api["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "binderhub"
    assert docker_api["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "docker-api"
    assert_build_egress(found["docker-api"])

    # BinderHub labels build pods with this label only
    builds = found["build-pods"]
    assert builds["spec"]["podSelector"]["matchLabels"] == {"component": "binderhub-build"}
    assert_build_egress(builds)


def test_test_pod_reaches_binderhub_only(helm, render):
    rendered = render(helm, "defaults")
    policy = policies(rendered)["test"]
    # the pods of the `helm test` Job, whose template carries these labels
    pod_labels = rendered.test_pod["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert not rendered.all("Pod")
    assert "helm.sh/hook" not in policy["metadata"].get("annotations", {})
    assert policy["spec"]["ingress"] == []
    dns, binderhub = policy["spec"]["egress"]
    assert dns == DNS_RULE
    assert binderhub["to"] == [
        {"podSelector": policies(rendered)["binderhub"]["spec"]["podSelector"]}
    ]
    assert binderhub["ports"] == [{"port": "http", "protocol": "TCP"}]


def test_policies_select_the_pods(helm, render):
    rendered = render(helm, "defaults")
    found = policies(rendered)
    bh_labels = rendered.deployment["spec"]["template"]["metadata"]["labels"]
    assert found["binderhub"]["spec"]["podSelector"]["matchLabels"].items() <= bh_labels.items()
    ds_labels = rendered.daemonset()["spec"]["template"]["metadata"]["labels"]
    assert found["docker-api"]["spec"]["podSelector"]["matchLabels"].items() <= ds_labels.items()


def test_other_release_is_not_selected(helm, render):
    a = policies(render(helm, "defaults", release="alpha"))
    b = policies(render(helm, "defaults", release="beta"))
    for component in ("binderhub", "docker-api"):
        assert a[component]["spec"]["podSelector"] != b[component]["spec"]["podSelector"], component


def test_network_policies_off(helm, render):
    assert not render(helm, "netpol-off").all("NetworkPolicy")


def test_host_engine_has_no_engine_policy(helm, render):
    assert set(policies(render(helm, "builder-host"))) == {"binderhub", "build-pods", "test"}


def test_extra_egress(helm, render):
    found = policies(render(helm, "every-option"))
    for component in ("build-pods", "docker-api"):
        egress = found[component]["spec"]["egress"]
        assert egress[-1]["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]


def test_dns_peers_for_node_local_dns(helm, render):
    """NodeLocal DNSCache answers on a node-local address and on the kube-dns
    Service's cluster IP, which no pod selector matches."""
    peers = [
        {"ipBlock": {"cidr": "169.254.20.10/32"}},
        {"ipBlock": {"cidr": "10.96.0.10/32"}},
    ]
    rendered = render(helm, extra={"networkPolicy": {"dns": {"to": peers}}})
    found = policies(rendered)
    for component in ("build-pods", "docker-api", "test"):
        assert found[component]["spec"]["egress"][0] == {"ports": DNS_PORTS, "to": peers}


def test_dns_anywhere_when_asked(helm, render):
    found = policies(render(helm, extra={"networkPolicy": {"dns": {"to": []}}}))
    for component in ("build-pods", "docker-api", "test"):
        assert found[component]["spec"]["egress"][0] == {"ports": DNS_PORTS}
