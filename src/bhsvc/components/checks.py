"""Smoke checks: BinderHub answers `GET <base_url>versions`, directly or through the hub."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bhsvc.binderhub import Target, Versions, get_versions
from bhsvc.errors import OperationError
from bhsvc.kube.client import Kube
from bhsvc.kube.diagnosis import diagnose
from bhsvc.kube.portforward import port_forward
from bhsvc.lifecycle import Cluster, Observation, PlanStep, Removal, State
from bhsvc.ui import StepResult

# Longest wait for an answer after helm reports success.
SMOKE_TIMEOUT = 180.0


def get_versions_through(
    kube: Kube,
    namespace: str,
    selector: str,
    port: int,
    base_url: str,
    timeout: float,
    pause: float = 1.0,
) -> Versions:
    """Port-forward to the newest ready pod and GET <base_url>versions, retrying until
    `timeout` (the pod may need a moment after helm's wait)."""
    deadline = time.monotonic() + timeout
    problem = "no attempt"
    while True:
        remaining = deadline - time.monotonic()
        errors: list[str] = []
        try:
            pod = kube.find_pod(namespace, selector)
            with port_forward(kube, namespace, pod, port, errors=errors) as local:
                target = Target(f"http://127.0.0.1:{local}{base_url}")
                return get_versions(target, max(1.0, min(10.0, remaining)))
        except OperationError as err:
            problem = f"{err}; {errors[-1]}" if errors else str(err)
        if time.monotonic() + pause >= deadline:
            raise OperationError(
                f"no answer to GET {base_url}versions within {timeout:.0f}s: {problem}"
            )
        time.sleep(pause)


@dataclass
class VersionsCheck:
    """GET <base_url>versions through a port-forward to a pod (BinderHub's own, or the
    hub's proxy, which routes the request to BinderHub)."""

    name: str
    description: str
    namespace: str
    selector: str
    port: int
    base_url: str
    timeout: float
    versions: Versions | None = field(default=None, init=False)

    def describe(self) -> PlanStep:
        return PlanStep(self.name, "check", self.description)

    def observe(self, cluster: Cluster) -> Observation:
        return Observation(State.UNKNOWN, "checked after the releases")

    def apply(self, cluster: Cluster, step: StepResult) -> None:
        kube = cluster.kube
        try:
            self.versions = get_versions_through(
                kube, self.namespace, self.selector, self.port, self.base_url, self.timeout
            )
        except OperationError as err:
            lines = diagnose(kube, self.namespace, self.selector)
            raise OperationError(str(err), diagnosis=lines) from None
        step.detail = f"BinderHub {self.versions.binderhub}"

    def removal(self, cluster: Cluster, earlier: Sequence[Removal]) -> Removal:
        return Removal(self.name, "check")  # a check makes nothing

    def remove(self, cluster: Cluster, step: StepResult) -> None:
        raise AssertionError("a check has nothing to remove")
