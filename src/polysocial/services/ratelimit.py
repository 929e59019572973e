"""The reusable rate limiter: named rules over the key-value role's atomic GCRA.

``enforce`` counts a request and refuses it past the limit; ``check`` and ``count`` split that in two for the
login case, where only failures count (check first, count a failure after it happens).
"""

from __future__ import annotations

from polysocial.domain.errors import RateLimited
from polysocial.domain.limits import RateLimit, RateStatus
from polysocial.stores.keyvalue.protocol import KeyValueStore

LOGIN_FAILURES_PER_ACCOUNT = RateLimit(limit=5, period_s=60)
LOGIN_FAILURES_PER_IP = RateLimit(limit=25, period_s=300)


async def check(keyvalue: KeyValueStore, key: str, rule: RateLimit, *, what: str = "requests") -> RateStatus:
    """Where ``key`` stands; RateLimited (with its RateLimit-* headers) if one more request would be refused.
    Counts nothing."""
    decision = await keyvalue.rate_limit(key, rule, cost=0)
    status = RateStatus.of(rule, decision)
    if not decision.allowed:
        raise RateLimited(decision.retry_after_s, what, status.headers())
    return status


async def count(keyvalue: KeyValueStore, key: str, rule: RateLimit) -> RateStatus:
    return RateStatus.of(rule, await keyvalue.rate_limit(key, rule))


async def enforce(keyvalue: KeyValueStore, key: str, rule: RateLimit, *, what: str = "requests") -> RateStatus:
    decision = await keyvalue.rate_limit(key, rule)
    status = RateStatus.of(rule, decision)
    if not decision.allowed:
        raise RateLimited(decision.retry_after_s, what, status.headers())
    return status
