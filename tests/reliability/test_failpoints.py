"""Crash tests: for every named failpoint, a child process dies there (os._exit, as a SIGKILL or a power cut would
leave things), a fresh process takes over, and every event takes effect exactly once: no user without a graph
node, no duplicate node, nothing left in the outbox, nothing dead-lettered. On every profile."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from polysocial import failpoints
from polysocial.bootstrap import App, bootstrap
from polysocial.config import Role, Settings
from polysocial.events.relay import Relay
from polysocial.stores.postgres_common import PostgresBackedStore
from tests.reliability.crash_child import DOC_COLLECTION, LEASE_S, USERS, document_relay

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = {
    failpoints.SIGNUP_AFTER_BUSINESS_WRITE: "signup",
    failpoints.SIGNUP_AFTER_OUTBOX_WRITE: "signup",
    failpoints.SIGNUP_AFTER_COMMIT: "signup",
    failpoints.RELAY_AFTER_CLAIM: "relay",
    failpoints.RELAY_AFTER_HANDLER: "relay",
    failpoints.RELAY_AFTER_MARK_PROCESSED: "relay",
    failpoints.RELAY_AFTER_MARK_DONE: "relay",
    failpoints.RELAY_AFTER_COMMIT: "relay",
    failpoints.DOCUMENT_AFTER_HANDLER: "documents",
    failpoints.DOCUMENT_AFTER_ACK: "documents",
}


def test_every_named_failpoint_has_a_crash_test() -> None:
    # these have their own: tests/reliability/test_idempotency_crash.py, tests/reliability/test_erasure_crash.py
    own = {failpoints.IDEMPOTENCY_AFTER_CLAIM, failpoints.ERASURE_MIDWAY}
    assert set(SCENARIOS) | own == set(failpoints.ALL)


@pytest.fixture
async def clean(profile_settings: Settings) -> Settings:
    app = await bootstrap(profile_settings)
    try:
        await app.stores.wipe()
    finally:
        await app.aclose()
    return profile_settings


async def drain_through_leases(app: App, relay: Relay, timeout_s: float = 30) -> None:
    """Deliver until nothing is pending, waiting out the lease a crashed relay left on its documents."""
    deadline = time.monotonic() + timeout_s
    while True:
        await relay.drain()
        if await app.stores.documents.pending_count([DOC_COLLECTION]) == 0:
            return
        assert time.monotonic() < deadline, "document events still pending"
        await asyncio.sleep(LEASE_S / 4)


def child_env(settings: Settings, failpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOCIAL_")}
    env["POLYSOCIAL_PROFILE"] = settings.profile.value
    for role in Role:
        env[f"POLYSOCIAL_{role.value.upper()}_URL"] = settings.store_url(role).url
    env["POLYSOCIAL_FAILPOINTS"] = failpoint
    return env


async def count_rows(app: App, table: str) -> int:
    relational = app.stores.relational
    assert isinstance(relational, PostgresBackedStore)
    async with relational.pool.connection() as conn:
        row = await (await conn.execute(f"SELECT count(*) FROM {table}")).fetchone()  # noqa: S608 - fixed names
    return int(row[0]) if row else 0


@pytest.mark.parametrize("failpoint", sorted(SCENARIOS))
async def test_a_crash_at_the_failpoint_loses_nothing_and_repeats_nothing(clean: Settings, failpoint: str) -> None:
    scenario = SCENARIOS[failpoint]
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.reliability.crash_child",
        scenario,
        cwd=REPO,
        env=child_env(clean, failpoint),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr_bytes = await asyncio.wait_for(child.communicate(), timeout=120)
    stderr = stderr_bytes.decode(errors="replace")
    assert child.returncode == failpoints.EXIT_CODE, f"the failpoint was not reached:\n{stderr[-3000:]}"
    assert f"failpoint {failpoint}: exiting" in stderr

    app = await bootstrap(clean)
    try:
        relay = document_relay(app)
        await drain_through_leases(app, relay)
        users = [uid async for batch in app.stores.relational.iter_user_ids() for uid in batch]
        if scenario == "documents":
            users = [1_000_000 + i for i in range(USERS)]
            assert await app.stores.documents.pending_count([DOC_COLLECTION]) == 0
        elif failpoint in (failpoints.SIGNUP_AFTER_BUSINESS_WRITE, failpoints.SIGNUP_AFTER_OUTBOX_WRITE):
            assert users == []  # the transaction died with the process: no user, no event
        else:
            assert len(users) >= 1
        assert await app.stores.graph.missing_users(users) == []  # no user without a node
        assert await app.stores.graph.duplicate_user_ids() == []  # and none with two
        assert await app.stores.graph.count_users() == len(users)
        assert await count_rows(app, "outbox") == 0
        assert await count_rows(app, "outbox_dead_letter") == 0
        assert await count_rows(app, "users") == await count_rows(app, "user_profiles")
    finally:
        await app.aclose()
