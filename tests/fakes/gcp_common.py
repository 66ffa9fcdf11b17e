"""What the Google Cloud fakes share: request records, injected faults, latency.

Each fake records every request it answers (method, resource, timing, outcome)
so tests can assert what a client did, and takes a plan of faults to answer
with instead of the normal response: N times 503, a 403 naming a permission,
and so on. Status codes follow google.rpc.Code and its HTTP mapping.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

# google.rpc.Code name -> (number, HTTP status), as Google APIs map them.
RPC_CODES: dict[str, tuple[int, int]] = {
    "OK": (0, 200),
    "CANCELLED": (1, 499),
    "UNKNOWN": (2, 500),
    "INVALID_ARGUMENT": (3, 400),
    "DEADLINE_EXCEEDED": (4, 504),
    "NOT_FOUND": (5, 404),
    "ALREADY_EXISTS": (6, 409),
    "PERMISSION_DENIED": (7, 403),
    "RESOURCE_EXHAUSTED": (8, 429),
    "FAILED_PRECONDITION": (9, 400),
    "ABORTED": (10, 409),
    "OUT_OF_RANGE": (11, 400),
    "UNIMPLEMENTED": (12, 501),
    "INTERNAL": (13, 500),
    "UNAVAILABLE": (14, 503),
    "DATA_LOSS": (15, 500),
    "UNAUTHENTICATED": (16, 401),
}


class RpcError(Exception):
    """An error answer, rendered by each fake in its own wire format."""

    def __init__(
        self,
        status: str,
        message: str,
        reason: str | None = None,
        domain: str | None = None,
        metadata: dict[str, str] | None = None,
        details: list[Message] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata = metadata or {}
        # google.rpc detail messages sent after the ErrorInfo, e.g. a PreconditionFailure.
        self.details = details or []

    @property
    def code(self) -> int:
        return RPC_CODES[self.status][0]

    @property
    def http_status(self) -> int:
        return RPC_CODES[self.status][1]


@dataclass
class Recorded:
    method: str  # the RPC name, e.g. "CreateRepository"
    resource: str
    start: float
    end: float = 0.0
    status: str = "OK"
    mutating: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.end - self.start


class FakeBase:
    """Request log, fault plan and latency for one fake service."""

    domain = "googleapis.com"
    mutating_methods: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[Recorded] = []
        self.latency = 0.0
        self._faults: dict[str, deque[RpcError]] = defaultdict(deque)
        # Errors answered after the call took effect (a reply lost on the way back).
        self._lost: dict[str, deque[RpcError]] = defaultdict(deque)
        # Calls held back, before ("call") or after ("answer") they take effect.
        self._held: dict[tuple[str, str], deque[threading.Event]] = defaultdict(deque)
        self._all_held: list[threading.Event] = []

    # ---- fault injection ---------------------------------------------------

    def fail(self, method: str, status: str, times: int = 1, message: str | None = None) -> None:
        """Answer the next `times` calls of `method` with `status` (e.g. "UNAVAILABLE")."""
        text = message or {
            "UNAVAILABLE": "The service is currently unavailable.",
            "RESOURCE_EXHAUSTED": "Quota exceeded.",
            "DEADLINE_EXCEEDED": "Deadline exceeded.",
        }.get(status, f"{status.lower().replace('_', ' ')}")
        with self.lock:
            for _ in range(times):
                self._faults[method].append(RpcError(status, text))

    def inject(self, method: str, error: RpcError, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with exactly `error`."""
        with self.lock:
            for _ in range(times):
                self._faults[method].append(error)

    def lose_answer(self, method: str, status: str = "DEADLINE_EXCEEDED") -> None:
        """Carry out the next call of `method`, then answer `status` as if the reply
        never arrived (the client cannot tell it took effect)."""
        with self.lock:
            self._lost[method].append(RpcError(status, "Deadline exceeded."))

    def take_lost_answer(self, method: str) -> RpcError | None:
        with self.lock:
            queue = self._lost.get(method)
            return queue.popleft() if queue else None

    def hold_answer(self, method: str) -> threading.Event:
        """Carry out the next call of `method`, then hold its answer back until the
        returned event is set (or the fake stops): a slow reply, which a client may
        give up on or be stopped while waiting for."""
        return self._hold(method, "answer")

    def hold_call(self, method: str) -> threading.Event:
        """Hold the next call of `method` before carrying it out, until the returned
        event is set: a request the service has not got to yet."""
        return self._hold(method, "call")

    def _hold(self, method: str, stage: str) -> threading.Event:
        release = threading.Event()
        with self.lock:
            self._held[(method, stage)].append(release)
            self._all_held.append(release)
        return release

    def wait_if_held(self, method: str, stage: str) -> None:
        """Called by the servers before a call ("call") and before its answer ("answer")."""
        with self.lock:
            queue = self._held.get((method, stage))
            release = queue.popleft() if queue else None
        if release is not None:
            release.wait(timeout=300)

    def release_all(self) -> None:
        """Let every held answer go (the fake is stopping)."""
        with self.lock:
            for release in self._all_held:
                release.set()

    def deny(self, method: str, permission: str, resource: str, times: int = 1) -> None:
        """Answer PERMISSION_DENIED as Google APIs do, with an ErrorInfo naming the permission."""
        error = RpcError(
            "PERMISSION_DENIED",
            f"Permission '{permission}' denied on resource '{resource}' (or it may not exist).",
            reason="IAM_PERMISSION_DENIED",
            domain=self.domain,
            metadata={"permission": permission, "resource": resource},
        )
        with self.lock:
            for _ in range(times):
                self._faults[method].append(error)

    def _take_fault(self, method: str) -> RpcError | None:
        with self.lock:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    # ---- request log ---------------------------------------------------------

    def begin(self, method: str, resource: str, headers: dict[str, str] | None = None) -> Recorded:
        record = Recorded(method, resource, time.monotonic(), headers=headers or {})
        record.mutating = method in self.mutating_methods
        with self.lock:
            self.requests.append(record)
        if self.latency:
            time.sleep(self.latency)
        fault = self._take_fault(method)
        if fault is not None:
            record.status = fault.status
            record.end = time.monotonic()
            raise fault
        return record

    @staticmethod
    def finish(record: Recorded, status: str = "OK") -> None:
        record.status = status
        record.end = time.monotonic()

    def calls(self, method: str | None = None) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if method is None or r.method == method]

    def mutating_calls(self) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.mutating and r.status == "OK"]

    def reset_log(self) -> None:
        with self.lock:
            self.requests.clear()


def summary(*fakes: FakeBase) -> dict[str, Any]:
    """Counts and timing over the requests of several fakes (for tests and benchmarks)."""
    records = [r for fake in fakes for r in fake.calls()]
    if not records:
        return {"requests": 0, "mutating": 0, "busy_seconds": 0.0, "wall_seconds": 0.0}
    busy = sum(r.seconds for r in records)
    wall = max(r.end for r in records) - min(r.start for r in records)
    return {
        "requests": len(records),
        "mutating": sum(1 for r in records if r.mutating and r.status == "OK"),
        "busy_seconds": busy,
        "wall_seconds": wall,
    }
