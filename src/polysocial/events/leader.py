"""A leader lease in PostgreSQL: of all the processes that share a database (the workers of `polysocial serve
--workers N`, on one machine or many), one runs a job (the outbox relay) and the others stand by to take over.

The lease is a session-level advisory lock (``pg_try_advisory_lock``) held on a connection of its own. PostgreSQL
releases it the moment that connection ends: a leader that exits, crashes or is SIGKILLed frees it at once, and a
stand-by that asks every ``retry_s`` takes over within that. A leader whose connection breaks while it runs (the
database restarted, a network cut) learns it at the next check (every ``check_s``) and stops its job before it tries
to lead again; the relay it ran is safe to interrupt anywhere (claims are leased, handlers idempotent), and safe to
overlap for the moment a database takes to notice a dead peer (claims never hand one event to two relays).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass

import psycopg

from polysocial.logging import get_logger
from polysocial.stores.base import describe

log = get_logger(__name__)

RELAY_LEASE = "outbox-relay"

Job = Callable[[asyncio.Event], Coroutine[None, None, None]]


def lock_key(name: str) -> int:
    """The advisory lock's 64-bit key for ``name``: stable across processes, versions and machines."""
    return int.from_bytes(hashlib.blake2b(f"polysocial:{name}".encode(), digest_size=8).digest(), "big", signed=True)


@dataclass(frozen=True, slots=True)
class LeaseConfig:
    retry_s: float = 1.0  # a stand-by asks for the lease this often: the take-over time after a leader dies
    check_s: float = 2.0  # the leader checks its lease connection this often
    connect_timeout_s: float = 2.0
    check_timeout_s: float = 2.0


class Leadership:
    """Run ``job(stop)`` only while this process holds the lease ``name`` in the database at ``url``."""

    def __init__(self, url: str, name: str, config: LeaseConfig | None = None) -> None:
        self._url = url
        self.name = name
        self.key = lock_key(name)
        self.config = config or LeaseConfig()

    async def run_forever(self, job: Job, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._compete(job, stop)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("leader lease: database unreachable; trying again", lease=self.name, error=describe(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.config.retry_s)

    async def _compete(self, job: Job, stop: asyncio.Event) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self._url,
            autocommit=True,
            connect_timeout=max(1, round(self.config.connect_timeout_s)),
            # pg_stat_activity then says which process leads (the lease's holder is this connection's backend).
            application_name=f"polysocial {self.name} lease, pid {os.getpid()}",
        )
        async with conn:
            while not stop.is_set():
                row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", [self.key])).fetchone()
                if row is not None and row[0]:
                    await self._lead(conn, job, stop)
                    return  # the lease ended (stop, or the connection broke): compete again from a new connection
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.retry_s)

    async def _lead(self, conn: psycopg.AsyncConnection[tuple[object, ...]], job: Job, stop: asyncio.Event) -> None:
        log.info("leader lease taken: running the job here", lease=self.name)
        job_stop = asyncio.Event()
        task = asyncio.create_task(job(job_stop), name=f"{self.name} (leader)")
        try:
            while not stop.is_set() and not task.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.check_s)
                if not stop.is_set():
                    # The lock lives as long as this connection: a failed check means it may be someone else's now.
                    await asyncio.wait_for(conn.execute("SELECT 1"), timeout=self.config.check_timeout_s)
        finally:
            job_stop.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=10)
            failure = task.exception() if task.done() and not task.cancelled() else None
            if failure is not None:
                log.warning("the leader's job failed", lease=self.name, error=describe(failure))
            with contextlib.suppress(psycopg.Error, OSError, TimeoutError):
                await asyncio.wait_for(conn.execute("SELECT pg_advisory_unlock(%s)", [self.key]), timeout=1)
            log.info("leader lease given up", lease=self.name)
