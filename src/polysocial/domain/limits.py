"""Rate limiting with GCRA (the generic cell rate algorithm): one stored timestamp per key, updated atomically.

``limit`` requests per ``period_s``, allowed in a burst; each request then frees up again ``period_s / limit``
seconds later. The stores run the same arithmetic as one atomic step (a Lua script in Redis, a function in
PostgreSQL); this module is the reference they are tested against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int
    period_s: float

    def __post_init__(self) -> None:
        if self.limit < 1 or self.period_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and period_s > 0")

    @property
    def interval_ms(self) -> float:
        return self.period_s * 1000 / self.limit


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after_s: float  # 0 when allowed
    remaining: int


@dataclass(frozen=True, slots=True)
class RateStatus:
    """Where a client stands against one limit, as the RateLimit-* response headers say it (IETF httpapi
    ratelimit-headers): the quota, what is left of it, and the seconds until it is whole again."""

    limit: int
    remaining: int
    reset_s: int

    @classmethod
    def of(cls, rule: RateLimit, decision: RateDecision) -> RateStatus:
        """From a GCRA decision: each used unit comes back after one interval, so the quota is whole again after
        (limit - remaining) intervals at most; a refusal adds the wait for the first."""
        interval_s = rule.interval_ms / 1000
        if decision.allowed:
            reset = interval_s * (rule.limit - decision.remaining)
        else:
            reset = decision.retry_after_s + interval_s * (rule.limit - 1)
        return cls(rule.limit, decision.remaining, max(0, math.ceil(reset)))

    @staticmethod
    def tightest(statuses: list[RateStatus]) -> RateStatus:
        """The one the client will meet first: the fewest left, then the longest to reset."""
        return min(statuses, key=lambda s: (s.remaining, -s.reset_s))

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }


def gcra(tat_ms: float | None, now_ms: float, rule: RateLimit, cost: int) -> tuple[RateDecision, float]:
    """(decision, the new stored TAT). ``cost`` 0 only asks whether one more request would pass."""
    interval = rule.interval_ms
    base = max(tat_ms if tat_ms is not None else now_ms, now_ms)
    new_tat = base + interval * max(cost, 1)
    allow_at = new_tat - interval * rule.limit
    if now_ms < allow_at:
        return RateDecision(False, (allow_at - now_ms) / 1000, 0), base
    remaining = int((now_ms - allow_at) // interval)
    if cost == 0:
        return RateDecision(True, 0.0, remaining + 1), base
    return RateDecision(True, 0.0, remaining), new_tat
