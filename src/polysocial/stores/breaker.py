"""How long a store role waits for its engine (StoreOptions), and its circuit breaker: after a few failures in a
row the role is reported down at once, instead of every request waiting for its own timeout; after a pause, calls
are let through again to see if it is back.

Closed (calls pass) → ``failures`` transport failures in a row → open: calls are refused for ``open_s`` without
touching the engine → half-open: one call at a time goes through as a probe; its success closes the breaker, its
failure opens it for another ``open_s``. Only transport failures count (refused, reset, timed out): an engine that
answers, even with an error, is up. Pure logic on an injectable clock; one event loop uses it, so no lock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failures: int = 3  # transport failures in a row that open the breaker
    open_s: float = 1.0  # how long it refuses calls before a probe


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """How long a role waits for its engine, and when its breaker opens. The server takes them from its settings
    (connect_timeout_s, command_timeout_s, breaker_failures, breaker_open_s: about a second each); these
    defaults are for tools that build an adapter by hand."""

    connect_s: float = 5.0  # to connect, and to wait for a pooled connection
    command_s: float = 30.0  # for an answer
    breaker: BreakerPolicy = BreakerPolicy()


class CircuitOpen(Exception):
    """The breaker refuses the call; ``retry_after_s`` is when a probe will next be let through."""

    def __init__(self, retry_after_s: float, last_error: str) -> None:
        self.retry_after_s = retry_after_s
        self.last_error = last_error
        super().__init__(f"circuit open after repeated failures ({last_error}); next try in {retry_after_s:.1f} s")


class CircuitBreaker:
    def __init__(self, policy: BreakerPolicy | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._last_error = ""

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self.policy.open_s:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def retry_after_s(self) -> float:
        """Seconds until a call may be tried again (0 when it may be now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.policy.open_s - (self._clock() - self._opened_at))

    def before(self) -> bool:
        """Ask to make a call. Raises CircuitOpen when it must not; returns True when the call is the half-open
        probe (its outcome decides the state; ``cancel_probe`` if it ends with neither)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return False
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        raise CircuitOpen(max(self.retry_after_s(), 0.1), self._last_error)

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def failure(self, error: str) -> None:
        self._failures += 1
        self._last_error = error
        self._probing = False
        if self._opened_at is not None or self._failures >= self.policy.failures:
            self._opened_at = self._clock()

    def cancel_probe(self) -> None:
        """The probe ended without an answer either way (cancelled): let the next call probe instead."""
        self._probing = False


def retry_after_header(seconds: float) -> str:
    """An HTTP Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
