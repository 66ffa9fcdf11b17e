"""Kubernetes objects bhsvc writes itself: namespaces and Secrets."""

from __future__ import annotations

from dataclasses import dataclass, field

from bhsvc.errors import OperationError
from bhsvc.kube.client import managed_labels, secret_change
from bhsvc.lifecycle import Cluster, Observation, PlanStep, State
from bhsvc.naming import MANAGED_BY, MANAGED_BY_LABEL, SecretRef
from bhsvc.ui import StepResult

DOCKER_CONFIG_TYPE = "kubernetes.io/dockerconfigjson"


@dataclass
class Namespaces:
    """The namespaces of BinderHub and of the hub, created when missing."""

    names: tuple[str, ...]
    name: str = "namespace"

    def describe(self) -> PlanStep:
        return PlanStep(self.name, "namespace", f"ensure namespace {', '.join(self.names)}")

    def observe(self, cluster: Cluster) -> Observation:
        phases = {ns: cluster.kube.namespace_phase(ns) for ns in self.names}
        missing = [ns for ns, phase in phases.items() if phase is None]
        detail = ", ".join(
            f"{ns} {'missing' if p is None else 'exists'}" for ns, p in phases.items()
        )
        leaving = [ns for ns, phase in phases.items() if phase == "Terminating"]
        blocker = (
            OperationError(
                f"namespace {leaving[0]} is being deleted: wait until it is gone, then re-run"
            )
            if leaving
            else None
        )
        return Observation(State.MISSING if missing else State.CONVERGED, detail, blocker)

    def apply(self, cluster: Cluster, step: StepResult) -> None:
        done = {ns: cluster.kube.ensure_namespace(ns) for ns in self.names}
        step.status = "created" if "created" in done.values() else "present"
        step.detail = ", ".join(f"{ns} {state}" for ns, state in done.items())


@dataclass
class Secret:
    """A Secret whose content bhsvc decides (registry credentials, pull Secret).

    `data` is None in a dry run whose credentials cannot be read yet: then it is
    only said whether the Secret exists.
    """

    name: str
    ref: SecretRef
    purpose: str
    data: dict[str, bytes] | None
    labels: dict[str, str] = field(default_factory=dict)
    type: str = DOCKER_CONFIG_TYPE
    changed: bool = field(default=False, init=False)

    def describe(self) -> PlanStep:
        return PlanStep(
            self.name,
            "secret",
            f"ensure Secret {self.ref.namespace}/{self.ref.name} ({self.purpose})",
        )

    def observe(self, cluster: Cluster) -> Observation:
        current = cluster.kube.read_secret(self.ref.namespace, self.ref.name)
        if self.data is None:
            state = State.MISSING if current is None else State.UNKNOWN
            exists = "exists" if current is not None else "will be created"
            return Observation(state, f"{exists}; its content is known once the credentials are")
        change = secret_change(current, self.data, self.type, managed_labels(self.labels))
        if change == "create":
            return Observation(State.MISSING)
        if change == "unchanged":
            return Observation(State.CONVERGED)
        return Observation(State.DRIFTED, "will be updated: its content, type or labels differ")

    def apply(self, cluster: Cluster, step: StepResult) -> None:
        assert self.data is not None, "a real run reads the credentials first"
        step.status = cluster.kube.ensure_secret(
            self.ref.namespace, self.ref.name, self.data, self.type, self.labels
        )
        self.changed = step.status != "unchanged"
        step.detail = f"{self.ref.namespace}/{self.ref.name}"


@dataclass
class NoRegistrySecrets:
    """With Workload Identity bhsvc writes no registry Secret. Says so, and names the
    Secrets of a deploy with keys that are no longer used (removing them, once builds
    work, is left to the user or to uninstall's pruning)."""

    left: tuple[SecretRef, ...]  # the Secrets a deploy with keys would have written
    who: str  # who pushes and pulls instead
    name: str = "registry credentials"

    def describe(self) -> PlanStep:
        return PlanStep(self.name, "secret", f"no registry Secret: {self.who}")

    def _found(self, cluster: Cluster) -> list[str]:
        found = []
        for ref in self.left:
            secret = cluster.kube.read_secret(ref.namespace, ref.name)
            labels = ((secret or {}).get("metadata") or {}).get("labels") or {}
            if labels.get(MANAGED_BY_LABEL) == MANAGED_BY:
                found.append(f"{ref.namespace}/{ref.name}")
        return found

    def _left_note(self, found: list[str]) -> str:
        return (
            f"Secret {', '.join(found)} from registry.gar.auth key is no longer used: "
            "delete it once builds work"
        )

    def observe(self, cluster: Cluster) -> Observation:
        found = self._found(cluster)
        return Observation(State.CONVERGED, self._left_note(found) if found else "")

    def apply(self, cluster: Cluster, step: StepResult) -> None:
        found = self._found(cluster)
        step.status = "none"
        step.detail = self._left_note(found) if found else "Workload Identity"


@dataclass
class TokenCopy:
    """The hub's API token for BinderHub's service, copied into BinderHub's namespace
    (a pod can only read Secrets of its own namespace). z2jh makes the token when
    the hub release runs, so this comes after it."""

    source: SecretRef
    target: SecretRef
    service_name: str
    labels: dict[str, str] = field(default_factory=dict)
    name: str = "hub API token for BinderHub"
    changed: bool = field(default=False, init=False)

    def describe(self) -> PlanStep:
        return PlanStep(
            self.name,
            "secret",
            f"copy key {self.source.key} of Secret {self.source.namespace}/{self.source.name} "
            f"to {self.target.namespace}/{self.target.name}",
        )

    def observe(self, cluster: Cluster) -> Observation:
        kube = cluster.kube
        token = kube.read_secret_key(self.source.namespace, self.source.name, self.source.key)
        copied = kube.read_secret_key(self.target.namespace, self.target.name, self.target.key)
        if token is None:
            state = State.MISSING if copied is None else State.UNKNOWN
            return Observation(state, "the hub release makes the token first")
        if copied is None:
            return Observation(State.MISSING)
        if copied != token:
            return Observation(State.DRIFTED, "will be updated: the hub's token changed")
        return Observation(State.CONVERGED)

    def apply(self, cluster: Cluster, step: StepResult) -> None:
        source, target = self.source, self.target
        token = cluster.kube.read_secret_key(source.namespace, source.name, source.key)
        if token is None:
            raise OperationError(
                f"Secret {source.namespace}/{source.name} has no key {source.key}: the hub "
                f"chart did not generate the token of service {self.service_name}"
            )
        step.status = cluster.kube.ensure_secret(
            target.namespace, target.name, {target.key: token}, "Opaque", self.labels
        )
        self.changed = step.status != "unchanged"
        step.detail = f"{target.namespace}/{target.name}"
