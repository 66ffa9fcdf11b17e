"""Retrying Google Cloud calls: backoff with jitter inside one total deadline.

The client libraries' own retries are switched off (`retry=None`) so every
attempt is counted here, once, and the whole provisioning run has one
predictable upper bound on its duration.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    deadline: float = 120.0  # seconds for the whole run, across all calls and attempts
    initial: float = 0.5
    maximum: float = 8.0
    multiplier: float = 2.0
    call_timeout: float = 30.0  # per attempt, shortened to what is left of the deadline


def backoff_delays(policy: RetryPolicy, rng: random.Random | None = None) -> Callable[[], float]:
    """A generator of sleeps: exponential, capped, with jitter so parallel calls spread out."""
    rng = rng or random.Random()
    state = {"next": policy.initial}

    def delay() -> float:
        base = state["next"]
        state["next"] = min(base * policy.multiplier, policy.maximum)
        return base * rng.uniform(0.5, 1.0)

    return delay


class DeadlineExpired(Exception):
    """The run's deadline passed while a call kept failing with transient errors."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempts")
        self.attempts = attempts
        self.last = last


@dataclass
class Deadline:
    """One shared clock for a provisioning run (read-only after creation, so thread-safe)."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    start: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.start = self.clock()

    def remaining(self) -> float:
        return self.start + self.seconds - self.clock()


def call_with_retry(
    fn: Callable[[float], T],
    *,
    policy: RetryPolicy,
    deadline: Deadline,
    transient: Callable[[BaseException], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn(timeout)` until it succeeds, a non-transient error, or the deadline.

    `fn` gets the per-attempt timeout to pass on to the client library.
    """
    next_delay = backoff_delays(policy)
    attempts = 0
    while True:
        attempts += 1
        timeout = max(0.5, min(policy.call_timeout, deadline.remaining()))
        try:
            return fn(timeout)
        except Exception as err:
            if not transient(err):
                raise
            pause = next_delay()
            if deadline.remaining() < pause:
                raise DeadlineExpired(attempts, err) from err
            sleep(pause)
