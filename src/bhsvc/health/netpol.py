"""Whether NetworkPolicies let a pod accept a connection, as Kubernetes decides. Pure.

A pod selected by a policy with Ingress in its types accepts only what one of
those policies' rules admits (rules add up; a policy with no rule admits
nothing). A rule admits a source when one of its `from` peers matches (none:
every source) on one of its `ports` (none: every port). Peers that name IP
blocks cannot be judged from labels: they count as admitting, so a doubt never
becomes a finding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """One side of a connection: a pod's labels, its namespace and that namespace's labels."""

    namespace: str
    labels: Mapping[str, str]
    namespace_labels: Mapping[str, str]


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) matches `labels`; an empty
    selector matches everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = set(expression.get("values") or [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _types(policy: Mapping[str, Any]) -> list[str]:
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _port_admitted(ports: Sequence[Mapping[str, Any]] | None, number: int, name: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        if (entry.get("protocol") or "TCP") != "TCP":
            continue
        port = entry.get("port")
        if port is None or port in (name, number):
            return True
        end = entry.get("endPort")
        if isinstance(port, int) and isinstance(end, int) and port <= number <= end:
            return True
    return False


def _peer_admitted(peer: Mapping[str, Any], policy_namespace: str, source: Endpoint) -> bool:
    if "ipBlock" in peer:
        return True  # addresses cannot be judged from labels
    pods, namespaces = peer.get("podSelector"), peer.get("namespaceSelector")
    if namespaces is None and source.namespace != policy_namespace:
        return False  # a bare podSelector means pods of the policy's own namespace
    if namespaces is not None and not selects(namespaces, source.namespace_labels):
        return False
    return pods is None or selects(pods, source.labels)


def isolating(policies: Sequence[Mapping[str, Any]], target: Endpoint) -> list[Mapping[str, Any]]:
    """The policies that select the target pod for ingress."""
    return [
        p
        for p in policies
        if (p.get("metadata") or {}).get("namespace", target.namespace) == target.namespace
        and selects((p.get("spec") or {}).get("podSelector"), target.labels)
        and "Ingress" in _types(p)
    ]


def admits(
    policies: Sequence[Mapping[str, Any]],
    target: Endpoint,
    port: int,
    port_name: str,
    source: Endpoint,
) -> bool:
    """Whether the target pod accepts a TCP connection from the source pod on the port
    (its number and its name in the pod)."""
    chosen = isolating(policies, target)
    if not chosen:
        return True
    for policy in chosen:
        for rule in (policy.get("spec") or {}).get("ingress") or []:
            if not _port_admitted(rule.get("ports"), port, port_name):
                continue
            peers = rule.get("from") or []
            if not peers or any(_peer_admitted(p, target.namespace, source) for p in peers):
                return True
    return False


def policy_names(policies: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str((p.get("metadata") or {}).get("name", "")) for p in policies]
