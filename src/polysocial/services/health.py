"""Health of every store role: engine, version, round-trip time. Used by `polysocial doctor` and `GET /health`."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from polysocial.config import Role
from polysocial.domain.errors import StoreUnavailable
from polysocial.stores.base import Store, describe, timed_ping

HEALTH_TIMEOUT_S = 5.0
PINGS = 3  # after one warm-up ping: the first query on a fresh connection (a JIT, a plan cache) is not the RTT


@dataclass(frozen=True, slots=True)
class RoleHealth:
    role: Role
    ok: bool
    engine: str
    version: str
    note: str
    masked_url: str
    rtt_ms: float | None
    error: str | None = None


def _reason(store: Store, exc: BaseException) -> str:
    return exc.reason if isinstance(exc, StoreUnavailable) else describe(exc, store.location.url)


async def check_store(store: Store, *, timeout_s: float = HEALTH_TIMEOUT_S, pings: int = 1) -> RoleHealth:
    """Ping ``store`` (the median of ``pings`` round trips after a warm-up when pings > 1) and ask its version."""
    location = store.location
    try:
        async with asyncio.timeout(timeout_s):
            if pings > 1:
                await store.ping()
            rtt = statistics.median([await timed_ping(store) for _ in range(pings)])
            info = await store.engine_info()
    except TimeoutError:
        return RoleHealth(store.role, False, "", "", "", location.masked, None, f"no answer within {timeout_s:g} s")
    except Exception as exc:  # a health check reports every failure; it never raises
        return RoleHealth(store.role, False, "", "", "", location.masked, None, _reason(store, exc))
    return RoleHealth(store.role, True, info.engine, info.version, info.note, location.masked, rtt)


async def check_stores(stores: Iterable[Store]) -> list[RoleHealth]:
    return list(await asyncio.gather(*(check_store(s) for s in stores)))


async def open_and_check(stores: Iterable[Store]) -> list[RoleHealth]:
    """Open each store and check it, reporting why a store could not be opened (for `polysocial doctor`)."""

    async def one(store: Store) -> RoleHealth:
        try:
            await store.open()
        except Exception as exc:  # reported, not raised: doctor shows every role
            return RoleHealth(store.role, False, "", "", "", store.location.masked, None, _reason(store, exc))
        return await check_store(store, pings=PINGS)

    return list(await asyncio.gather(*(one(s) for s in stores)))
