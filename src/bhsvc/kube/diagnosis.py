"""Why pods are not ready, read from the cluster: their states, events and logs.

The wording is decided by the pure functions of `bhsvc.diagnose`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from bhsvc import diagnose as diagnose_mod
from bhsvc.errors import OperationError
from bhsvc.kube.client import Kube, deleting


def diagnose(kube: Kube, namespace: str, label_selector: str, log_lines: int = 20) -> list[str]:
    """Why the matching pods are not ready: waiting reasons, scheduler messages,
    the last events and log lines. Empty when every matching pod is ready."""
    try:
        pods = [p for p in kube.list_pods(namespace, label_selector) if not deleting(p)]
    except OperationError as err:
        return [f"could not read the pods: {err}"]
    if not pods:
        lines = [f"no pod matches {label_selector} in namespace {namespace}"]
        try:
            events = kube.warning_events(namespace)
        except OperationError as err:
            return [*lines, f"could not read the events: {err}"]
        return lines + diagnose_mod.event_lines(events, limit=5)
    lines = []
    for pod in pods:
        if diagnose_mod.pod_ready(pod):
            continue
        name = pod["metadata"]["name"]
        lines += diagnose_mod.pod_problems(pod)
        try:
            lines += diagnose_mod.event_lines(
                kube.pod_events(namespace, name), limit=5, indent="  "
            )
        except OperationError as err:
            lines.append(f"  could not read the events: {err}")
        for container, previous in diagnose_mod.containers_with_logs(pod):
            try:
                log = kube.pod_log(namespace, name, container, log_lines, previous)
            except OperationError:
                continue  # no log yet (the container never started)
            lines += diagnose_mod.log_lines(container, log, previous)
    return lines


@dataclass
class DiagnosisSampler:
    """Samples `diagnose` in the background while helm waits, keeping the last
    non-empty result: after a failed wait helm rolls back, and the pods that
    explain the failure are gone by the time it returns."""

    kube: Kube
    namespace: str
    selector: str
    interval: float = 3.0
    last: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="diagnosis sampler", daemon=True)

    def __enter__(self) -> DiagnosisSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(35)

    def _run(self) -> None:
        wait = min(1.0, self.interval)  # a first look early: short --timeout runs too
        while not self._stop.wait(wait):
            wait = self.interval
            lines = diagnose(self.kube, self.namespace, self.selector)
            if lines and not lines[0].startswith("could not"):
                self.last = lines

    def result(self) -> list[str]:
        """What is wrong now, or else what was wrong during the wait."""
        now = diagnose(self.kube, self.namespace, self.selector)
        if now and not now[0].startswith(("no pod matches", "could not")):
            return now
        if self.last:
            return ["while helm waited:", *(f"  {line}" for line in self.last)]
        return now
