"""When to try a failed delivery again: a pure policy (no I/O, its randomness injected), unit-tested alone."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from polysocial.domain.errors import StoreUnavailable

# A deferred delivery (below) is tried again after at most this long.
DEFERRED_MAX_S = 2.0


class Deferred(Exception):
    """A handler that must wait until other events are delivered (an erasure waits for the events written before
    it). Tried again soon, for as long as it takes, and never dead-lettered: the events it waits for are on their
    way."""


# Past this many failures a store outage is retried at the capped delay: 2**16 x the base is beyond any cap.
MAX_EXPONENT = 16


# An instance of our own, not the random module's shared one: a library in another thread (a property-based test's
# generator, say) may rely on the shared state staying put while it draws.
_RANDOM = random.Random()  # noqa: S311 - jitter, not security


def _jitter() -> float:
    return _RANDOM.uniform(0.5, 1.5)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff, capped and jittered (x0.5 to x1.5), then the dead-letter table after ``max_attempts``.

    A store that is down is not the event's fault: such failures are retried at the capped backoff for as long as
    the store stays down, so that, say, timelines catch up once Redis is back instead of losing their fan-out to the
    dead letters."""

    max_attempts: int = 8
    base_s: float = 0.5
    max_s: float = 300.0
    jitter: Callable[[], float] = field(default=_jitter, compare=False)

    def backoff_s(self, failures: int) -> float:
        """The delay after ``failures`` failures so far (1 for the first)."""
        exponent = min(max(failures - 1, 0), MAX_EXPONENT)
        return min(self.max_s, self.base_s * 2.0**exponent) * self.jitter()

    def retry_in(self, failures: int, error: BaseException | None = None) -> float | None:
        """Seconds until the next try after ``failures`` failures, or None: give up (the dead-letter table)."""
        if isinstance(error, Deferred):
            return min(DEFERRED_MAX_S, self.backoff_s(failures))
        if isinstance(error, StoreUnavailable):
            return self.backoff_s(failures)
        if failures >= self.max_attempts:
            return None
        return self.backoff_s(failures)
