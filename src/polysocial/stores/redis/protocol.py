"""The redis role: home timelines, sessions, rate limits, caches, leaderboards and live carts. Redis in `embedded`
and `seed` (in `embedded`, the same server as the FalkorDB graph), PostgreSQL tables in `postgres-only`.

Consistency here is deliberately weaker (DESIGN.md section 4): sessions and caches may be lost with the server;
everything that must survive lives in PostgreSQL.
"""

from __future__ import annotations

from typing import Protocol

from polysocial.domain.accounts import Session
from polysocial.domain.limits import RateDecision, RateLimit
from polysocial.stores.base import Store


class KeyValueStore(Store, Protocol):
    # -- sessions: opaque tokens, stored by the hash of the token, with idle and absolute timeouts ------------------
    async def session_put(self, token_hash: str, session: Session, *, idle_s: int, absolute_s: int) -> None: ...

    async def session_get(self, token_hash: str, *, idle_s: int, absolute_s: int) -> Session | None:
        """The live session, its idle timer restarted; None when unknown, idle too long, or past its absolute end."""

    async def session_delete(self, token_hash: str) -> None: ...

    # -- rate limiting: GCRA, one atomic step per call (never INCR then EXPIRE) ------------------------------------
    async def rate_limit(self, key: str, rule: RateLimit, *, cost: int = 1) -> RateDecision:
        """Count ``cost`` requests against ``key`` if they fit; ``cost=0`` only asks whether one more would."""

    # -- cache-aside with generations: a value computed before an invalidation is never stored after it ------------
    async def cache_get(self, key: str) -> bytes | None: ...

    async def cache_generation(self, key: str) -> int: ...

    async def cache_set(self, key: str, value: bytes, *, ttl_s: int, generation: int) -> bool:
        """Store ``value`` unless ``key`` was invalidated since ``generation`` was read; True when stored."""

    async def cache_invalidate(self, key: str) -> None: ...

    # -- short locks (one recompute per key at a time) ------------------------------------------------------------
    async def lock_acquire(self, key: str, *, ttl_s: float) -> str | None:
        """A token when the lock is ours (it expires after ``ttl_s``), None when another holder has it."""

    async def lock_release(self, key: str, token: str) -> None:
        """Release the lock if ``token`` still holds it."""
