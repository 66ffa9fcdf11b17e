"""Calls to Google Cloud within one deadline for a whole provisioning run.

google.api_core's Retry does the retrying; what this adds is the run's single
deadline (every call and every pause comes out of it), each attempt's timeout
cut to what is left of it, and errors translated into messages a user can act
on. `GarProvisioner` and the key keeper share one `GcpCalls`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from bhsvc.errors import BhsvcError
from bhsvc.registry.gcp_errors import (
    Action,
    deadline_passed,
    is_refused_unprocessed,
    is_transient,
    still_failing,
    translate,
)

if TYPE_CHECKING:
    from bhsvc.registry.gcp_clients import GcpClients

T = TypeVar("T")
Handled = tuple[type[BaseException], ...]

CREATED = "created"
PRESENT = "already present"
CHANGED = "changed"
SKIPPED = "skipped"


@dataclass(frozen=True)
class RetryPolicy:
    """The timing of a run's calls (google.api_core's Retry does the retrying)."""

    deadline: float = 120.0  # seconds for the whole run, across all calls and attempts
    initial: float = 0.5  # the first pause's upper bound (with jitter), then times multiplier
    maximum: float = 8.0
    multiplier: float = 2.0
    call_timeout: float = 30.0  # per attempt, cut to what is left of the deadline


@dataclass
class Outcome:
    """What a step did, and the value the steps after it need."""

    status: str
    detail: str
    value: Any = None


@dataclass
class GcpCalls:
    """The clients, the run's deadline, and what the run has to say besides its steps."""

    clients: GcpClients
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    on_note: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self._ends = time.monotonic() + self.policy.deadline
        self.warnings: list[str] = []
        # Service accounts this run created: IAM may not know them everywhere yet.
        self.new_accounts: set[str] = set()

    def remaining(self) -> float:
        return self._ends - time.monotonic()

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def note(self, message: str) -> None:
        if self.on_note is not None:
            self.on_note(message)

    def until_deadline(
        self,
        action: Action,
        fn: Callable[[], T],
        retry_on: Callable[[Exception], bool],
        handled: Handled = (),
    ) -> T:
        """`fn()`, again while `retry_on` says an error is worth another try and the
        run's deadline allows; errors in `handled` reach the caller untranslated."""
        from google.api_core.exceptions import RetryError
        from google.api_core.retry import Retry

        remaining = self.remaining()
        if remaining <= 0:
            raise deadline_passed(action, self.policy.deadline)
        p = self.policy
        retry = Retry(
            predicate=retry_on,
            initial=p.initial,
            maximum=p.maximum,
            multiplier=p.multiplier,
            timeout=remaining,
        )
        start = time.monotonic()
        try:
            return retry(fn)()
        except handled:
            raise
        except RetryError as err:
            raise still_failing(action, time.monotonic() - start, err) from err.cause
        except BhsvcError:
            raise
        except Exception as err:
            raise translate(err, action) from err

    def call(
        self,
        action: Action,
        rpc: Callable[[float], T],
        handled: Handled = (),
        idempotent: bool = True,
    ) -> T:
        """One API call, `rpc(timeout)`, retried on transient errors; a call that must
        not happen twice only when the service turned it away unprocessed."""
        # The Retry wraps each attempt, so each one's timeout is cut to what is left.
        return self.until_deadline(
            action,
            lambda: rpc(max(0.5, min(self.policy.call_timeout, self.remaining()))),
            is_transient if idempotent else is_refused_unprocessed,
            handled,
        )

    def delete(self, action: Action, rpc: Callable[[float], T]) -> T | None:
        """A delete call (retried as any); None when the thing is gone already: the goal
        is reached (also when a lost answer hid that an earlier attempt deleted it)."""
        from google.api_core import exceptions as gexc

        try:
            return self.call(action, rpc, handled=(gexc.NotFound,))
        except gexc.NotFound:
            return None
