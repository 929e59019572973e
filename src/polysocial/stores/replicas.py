"""Read replicas of the PostgreSQL primary, with read-your-writes.

Reads that may be a little stale (public profiles, a user's posts, follower lists, reports) ask ``Replicas.reading``
for a connection: a streaming replica's, unless

- the user making the request wrote lately (``wrote``: the primary's WAL position after their write, remembered
  for ``read_your_writes_s``) and the replica has not replayed that far yet (``pg_last_wal_replay_lsn()``, one
  query on the replica): their reads then go to the primary, so they always see their own new post or follow;
- the replica cannot be reached (it is skipped for a few seconds, and its breaker opens like any store's): the
  primary answers, with no error.

The user is the request's (``CURRENT_USER``, set by the API once the session is known). A position is noted in this
process and in the key-value role (``position_put``, with the same lifetime), so that a user's next request, on
whichever process a proxy sends it to, finds it (one more key-value read per stale-ok read of a user who is not known
here); with the key-value role down, such a user reads the primary.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import psycopg

from polysocial.config import StoreURL
from polysocial.domain.errors import StoreUnavailable
from polysocial.logging import get_logger
from polysocial.stores.base import describe
from polysocial.stores.breaker import BreakerPolicy, BreakerState
from polysocial.stores.keyvalue.protocol import KeyValueStore
from polysocial.stores.postgres_pool import GuardedPool, PostgresPools

log = get_logger(__name__)

CURRENT_USER: ContextVar[int | None] = ContextVar("polysocial_current_user", default=None)
RETRY_AFTER_S = 5.0  # a replica that could not be reached is not tried again before this
REMEMBERED_USERS = 100_000  # the most recent writers whose position is kept (oldest forgotten first)
PRIMARY_ONLY = "primary"  # the user's position is unknown (the shared store is down): read the primary


@dataclass(frozen=True, slots=True)
class ReplicaLag:
    url: str  # masked
    seconds: float | None  # since the last replayed transaction's commit; None: unreachable


class Replicas:
    def __init__(
        self,
        primary: StoreURL,
        locations: list[StoreURL],
        pools: PostgresPools,
        policy: BreakerPolicy,
        *,
        read_your_writes_s: float,
    ) -> None:
        self.primary = primary
        self.locations = locations
        self._pools = pools
        self._policy = policy
        self._opened: dict[str, GuardedPool] = {}
        self._failed_at: dict[str, float] = {}
        self._turn = itertools.count()
        self.read_your_writes_s = read_your_writes_s
        self._written: OrderedDict[int, tuple[str, float]] = OrderedDict()
        self.reads = {"replica": 0, "primary": 0}
        # Where every process notes its users' positions (the key-value role, set by the factory): a user's next
        # request may reach another process behind the proxy.
        self.shared: KeyValueStore | None = None  # where stale-ok reads went (the metrics and the tests read it)

    # -- read-your-writes -------------------------------------------------------------------------------------------

    async def wrote(self, user_id: int) -> None:
        """Remember where the primary's WAL is now: ``user_id``'s reads need a replica that replayed that far."""
        primary = await self._pools.guarded(self.primary, self._policy)
        async with primary.connection() as conn:
            row = await (await conn.execute("SELECT pg_current_wal_lsn()::text")).fetchone()
        if row is None:
            return
        position = str(row[0])
        self._written[user_id] = (position, time.monotonic() + self.read_your_writes_s)
        self._written.move_to_end(user_id)
        while len(self._written) > REMEMBERED_USERS:
            self._written.popitem(last=False)
        if self.shared is not None:  # for the other processes this user's next requests may reach
            try:
                await self.shared.position_put(user_id, position, ttl_s=self.read_your_writes_s)
            except StoreUnavailable as exc:
                log.warning("read-your-writes position kept in this process only", error=str(exc))

    async def _position(self, user_id: int | None) -> str | None:
        """The user's last write's position: this process's note, else the shared one (another process took the
        write). With the shared store down, the primary answers this user (a replica might not have their write)."""
        if user_id is None:
            return None
        if user_id in self._written:
            lsn, until = self._written[user_id]
            if time.monotonic() <= until:
                return lsn
            del self._written[user_id]
        if self.shared is None:
            return None
        try:
            return await self.shared.position_get(user_id)
        except StoreUnavailable:
            return PRIMARY_ONLY

    # -- choosing a server ------------------------------------------------------------------------------------------

    async def _pool(self, location: StoreURL) -> GuardedPool | None:
        url = location.url
        if url in self._opened:
            pool = self._opened[url]
            return None if pool.breaker.state is BreakerState.OPEN else pool
        if time.monotonic() - self._failed_at.get(url, -RETRY_AFTER_S) < RETRY_AFTER_S:
            return None
        try:
            self._opened[url] = await self._pools.guarded(location, self._policy)
        except (OSError, psycopg.Error, StoreUnavailable) as exc:
            self._failed_at[url] = time.monotonic()
            log.warning(
                "read replica unreachable: reads go to the primary", replica=location.masked, error=describe(exc)
            )
            return None
        return self._opened[url]

    @asynccontextmanager
    async def reading(self, primary: GuardedPool) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection for a read that may be a little stale: a replica's when one is reachable and has replayed
        the current user's last write; else the primary's."""
        position = await self._position(CURRENT_USER.get())
        start = next(self._turn)
        async with contextlib.AsyncExitStack() as stack:
            conn: psycopg.AsyncConnection[Any] | None = None
            for i in range(len(self.locations) if position != PRIMARY_ONLY else 0):
                location = self.locations[(start + i) % len(self.locations)]
                pool = await self._pool(location)
                if pool is None:
                    continue
                inner = contextlib.AsyncExitStack()
                try:
                    candidate = await inner.enter_async_context(pool.connection())
                    # one query proves the pooled connection alive (a dead replica is skipped, not an error)
                    # and says whether the replica has replayed this user's last write
                    cur = await candidate.execute(
                        "SELECT %s::pg_lsn IS NULL OR pg_last_wal_replay_lsn() >= %s::pg_lsn", (position, position)
                    )
                    row = await cur.fetchone()
                except (StoreUnavailable, psycopg.Error) as exc:
                    with contextlib.suppress(StoreUnavailable, psycopg.Error):  # the pool and breaker see it
                        await inner.__aexit__(type(exc), exc, exc.__traceback__)
                    log.info("read replica failed: reads go to the primary", replica=location.masked, error=str(exc))
                    continue
                if not (row and row[0]):
                    await inner.aclose()
                    break  # behind this user's write: the primary (another replica is no likelier)
                stack.push_async_exit(inner)
                conn = candidate
                break
            if conn is None:
                conn = await stack.enter_async_context(primary.connection())
                self.reads["primary"] += 1
            else:
                self.reads["replica"] += 1
            yield conn

    async def lags(self) -> list[ReplicaLag]:
        """Each replica's replay lag: how old its last replayed commit is (0 when it has caught up with an idle
        primary)."""
        found = []
        for location in self.locations:
            pool = await self._pool(location)
            seconds: float | None = None
            if pool is not None:
                with contextlib.suppress(StoreUnavailable):
                    async with pool.connection() as conn:
                        cur = await conn.execute(
                            "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
                            "ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END"
                        )
                        row = await cur.fetchone()
                        seconds = float(row[0]) if row and row[0] is not None else 0.0
            found.append(ReplicaLag(location.masked, seconds))
        return found
