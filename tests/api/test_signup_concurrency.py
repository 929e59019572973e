"""200 sign-ups at once, 20 of them for emails already being taken: 180 accounts, 20 clear 409s, no orphan rows."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from polysocial.bootstrap import App
from polysocial.stores.postgres_common import PostgresBackedStore
from tests.support.accounts import registration


async def test_200_concurrent_sign_ups_with_20_duplicates(client: httpx.AsyncClient, app: App) -> None:
    run = uuid.uuid4().hex[:6]
    emails = [f"u{i}-{run}@example.com" for i in range(180)]
    # 20 requests repeat an email of the 180, in different case, racing the original
    bodies = [registration(e) for e in emails] + [registration(emails[i * 9].upper()) for i in range(20)]
    responses = await asyncio.gather(*(client.post("/auth/register", json=b) for b in bodies))

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 180
    assert statuses.count(409) == 20
    assert all(
        r.json()["detail"] == "an account with this email already exists" for r in responses if r.status_code == 409
    )

    relational = app.stores.relational
    assert isinstance(relational, PostgresBackedStore)
    async with relational.pool.connection() as conn:
        users = await (await conn.execute("SELECT count(*) FROM users")).fetchone()
        profiles = await (await conn.execute("SELECT count(*) FROM user_profiles")).fetchone()
        orphans = await (
            await conn.execute(
                "SELECT (SELECT count(*) FROM users u WHERE NOT EXISTS "
                "        (SELECT 1 FROM user_profiles p WHERE p.user_id = u.user_id)) + "
                "       (SELECT count(*) FROM user_profiles p WHERE NOT EXISTS "
                "        (SELECT 1 FROM users u WHERE u.user_id = p.user_id))"
            )
        ).fetchone()
        events = await (
            await conn.execute("SELECT count(*) FROM outbox WHERE event_type = 'UserRegistered'")
        ).fetchone()
    assert (users, profiles, orphans, events) == ((180,), (180,), (0,), (180,))

    await app.relay.drain(timeout_s=120)
    assert await app.stores.graph.count_users() == 180
    assert await app.stores.graph.duplicate_user_ids() == []
