"""Kubernetes objects bhsvc writes itself: namespaces and Secrets.

Each is removed only when its labels say bhsvc made it (a Secret: for this
BinderHub release too), and only the object that was read then (its uid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bhsvc.errors import OperationError
from bhsvc.kube.client import managed_labels, secret_change
from bhsvc.kube.leftovers import describe as describe_leftovers
from bhsvc.kube.leftovers import leftovers
from bhsvc.lifecycle import Cluster, ObjectRef, Observation, PlanStep, Removal, State
from bhsvc.naming import SecretRef
from bhsvc.ui import StepResult

DOCKER_CONFIG_TYPE = "kubernetes.io/dockerconfigjson"


def made_by_bhsvc(obj: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether an object (the API's JSON form) carries bhsvc's label and `labels`."""
    have = (obj.get("metadata") or {}).get("labels") or {}
    return all(have.get(k) == v for k, v in managed_labels(labels).items())


def _uid(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid", ""))


@dataclass
class OwnedSecret:
    """Removing a Secret bhsvc made: what Secret and TokenCopy share."""

    uid: str = ""

    def plan(self, cluster: Cluster, name: str, ref: SecretRef, labels: dict[str, str]) -> Removal:
        where = f"Secret {ref.namespace}/{ref.name}"
        current = cluster.kube.read_secret(ref.namespace, ref.name)
        self.uid = ""
        if current is None:
            return Removal(name, "secret", detail=f"{where} does not exist")
        if not made_by_bhsvc(current, labels):
            return Removal(name, "secret", detail=f"{where} was not made by bhsvc: left alone")
        self.uid = _uid(current)
        return Removal(
            name, "secret", (where,), takes=(ObjectRef("Secret", ref.namespace, ref.name),)
        )

    def remove(self, cluster: Cluster, step: StepResult, ref: SecretRef) -> None:
        cluster.kube.delete_secret(ref.namespace, ref.name, self.uid)
        step.status = "deleted"
        step.detail = f"{ref.namespace}/{ref.name}"


@dataclass
class Namespaces:
    """The namespaces of BinderHub and of the hub, created when missing."""

    names: tuple[str, ...]
    name: str = "namespace"
    labels: dict[str, str] = field(default_factory=dict)  # besides bhsvc's own, when made
    _removable: dict[str, str] = field(default_factory=dict, init=False, repr=False)

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
        done = {ns: cluster.kube.ensure_namespace(ns, self.labels) for ns in self.names}
        step.status = "created" if "created" in done.values() else "present"
        step.detail = ", ".join(f"{ns} {state}" for ns, state in done.items())

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        """The namespaces bhsvc created that nothing else will be left in."""
        going = [ref for removal in earlier for ref in removal.takes]
        self._removable = {}
        kept = []
        for ns in self.names:
            why = self._kept(cluster, ns, going)
            if why:
                kept.append(f"namespace {ns} {why}")
        objects = tuple(f"namespace {ns}" for ns in self._removable)
        detail = "; ".join(kept)
        if objects:
            detail = "created by bhsvc, empty once the steps before are done" + (
                f"; {detail}" if detail else ""
            )
        return Removal(self.name, "namespace", objects, detail)

    def _kept(self, cluster: Cluster, ns: str, going: Sequence[ObjectRef]) -> str:
        """Why namespace `ns` stays ("" when it goes; then remembered with its uid)."""
        found = cluster.kube.read_namespace(ns)
        if found is None:
            return "does not exist"
        if (found.get("status") or {}).get("phase") == "Terminating":
            return "is being deleted already"
        if not made_by_bhsvc(found, {}):
            return "was not created by bhsvc: left alone"
        try:
            left = leftovers(ns, cluster.kube.namespace_contents(ns), going)
        except OperationError as err:
            return f"is kept: bhsvc cannot tell whether it is empty ({err})"
        if left:
            return f"is kept: it holds {describe_leftovers(left)}"
        self._removable[ns] = _uid(found)
        return ""

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        """Delete each, after checking again that it is empty (the steps before it are
        done now); one that is not is kept."""
        done, deleted = [], False
        for ns, uid in self._removable.items():
            left = leftovers(ns, cluster.kube.namespace_contents(ns))
            if left:
                done.append(f"{ns} kept: it holds {describe_leftovers(left)}")
                continue
            cluster.kube.delete_namespace(ns, uid)
            done.append(f"{ns} deleted")
            deleted = True
        step.status = "deleted" if deleted else "kept"
        step.detail = ", ".join(done)


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
    annotations: dict[str, str] = field(default_factory=dict)
    changed: bool = field(default=False, init=False)
    _owned: OwnedSecret = field(default_factory=OwnedSecret, init=False, repr=False)

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
        labels = managed_labels(self.labels)
        change = secret_change(current, self.data, self.type, labels, self.annotations)
        if change == "create":
            return Observation(State.MISSING)
        if change == "unchanged":
            return Observation(State.CONVERGED)
        return Observation(State.DRIFTED, "will be updated: its content, type or labels differ")

    def apply(self, cluster: Cluster, step: StepResult) -> None:
        assert self.data is not None, "a real run reads the credentials first"
        step.status = cluster.kube.ensure_secret(
            self.ref.namespace, self.ref.name, self.data, self.type, self.labels, self.annotations
        )
        self.changed = step.status != "unchanged"
        step.detail = f"{self.ref.namespace}/{self.ref.name}"

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        return self._owned.plan(cluster, self.name, self.ref, self.labels)

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        self._owned.remove(cluster, step, self.ref)


@dataclass
class NoRegistrySecrets:
    """With Workload Identity bhsvc writes no registry Secret. Says so, and names the
    Secrets of a deploy with keys that are no longer used: deleting them is left to
    the user once builds work, or to uninstall."""

    left: tuple[SecretRef, ...]  # the Secrets a deploy with keys would have written
    who: str  # who pushes and pulls instead
    labels: dict[str, str] = field(default_factory=dict)
    name: str = "registry credentials"
    _owned: list[tuple[SecretRef, OwnedSecret]] = field(default_factory=list, init=False)

    def describe(self) -> PlanStep:
        return PlanStep(self.name, "secret", f"no registry Secret: {self.who}")

    def _found(self, cluster: Cluster) -> list[str]:
        found = []
        for ref in self.left:
            secret = cluster.kube.read_secret(ref.namespace, ref.name)
            if secret is not None and made_by_bhsvc(secret, self.labels):
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

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        self._owned = []
        objects: list[str] = []
        takes: list[ObjectRef] = []
        for ref in self.left:
            owned = OwnedSecret()
            found = owned.plan(cluster, self.name, ref, self.labels)
            if found.objects:
                self._owned.append((ref, owned))
                objects += found.objects
                takes += found.takes
        if not objects:
            return Removal(self.name, "secret", detail="no registry Secret left from keys")
        return Removal(self.name, "secret", tuple(objects), takes=tuple(takes))

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        for ref, owned in self._owned:
            owned.remove(cluster, step, ref)
        step.detail = ", ".join(f"{ref.namespace}/{ref.name}" for ref, _ in self._owned)


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
    _owned: OwnedSecret = field(default_factory=OwnedSecret, init=False, repr=False)

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

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        """The copy only: the hub's own Secret is z2jh's."""
        return self._owned.plan(cluster, self.name, self.target, self.labels)

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        self._owned.remove(cluster, step, self.target)
