"""The redis role: home timelines, sessions, rate limits, caches, leaderboards and live carts. Redis in `embedded`
and `seed` (in `embedded`, the same server as the FalkorDB graph), PostgreSQL tables in `postgres-only`."""

from __future__ import annotations

from typing import Protocol

from polysocial.stores.base import Store


class KeyValueStore(Store, Protocol):
    """Later issues add timelines, sessions, the rate limiter, caches, leaderboards and carts here."""
