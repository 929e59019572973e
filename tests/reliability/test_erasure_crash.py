"""An account's erasure, with the relay killed midway (os._exit after the documents were erased, before the graph
and the key-value role): a fresh relay finishes it, and no store holds a trace. On every profile."""

from __future__ import annotations

import asyncio
import sys

import httpx
import pytest

from polysocial import failpoints
from polysocial.api.app import create_app
from polysocial.config import Settings
from polysocial.stores.documents.protocol import POSTS
from tests.reliability.test_failpoints import REPO, child_env
from tests.support.accounts import sign_up
from tests.support.apps import fresh_app
from tests.support.erasure import assert_no_trace, erased, populate

pytestmark = pytest.mark.slow


async def test_an_erasure_killed_midway_is_finished_by_the_next_relay_and_leaves_no_trace(
    profile_settings: Settings,
) -> None:
    async with fresh_app(profile_settings, argon2_time_cost=1, argon2_memory_kib=64) as app:
        api = create_app(app_state=app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://test") as client:
            victim = await populate(client, app)
            late = await sign_up(client, name="Late")  # events still on their way when the erasure starts
            await client.post(f"/users/{late.user_id}/follow", headers=victim.me.auth)
            await client.post(
                f"/posts/{victim.ada_post}/comments", json={"text": victim.texts[-1]}, headers=victim.me.auth
            )
            await app.services.erasure.delete(victim.me.user_id)

            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.reliability.crash_child",
                "relay-forever",
                cwd=REPO,
                env=child_env(profile_settings, failpoints.ERASURE_MIDWAY),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, stderr = await asyncio.wait_for(child.communicate(), timeout=120)
            assert child.returncode == failpoints.EXIT_CODE, stderr.decode(errors="replace")[-3000:]

            # midway indeed: the posts are tombstones, the graph still has the node, the erasure is not complete
            post = await app.stores.documents.get(POSTS, victim.posts[0])
            assert post is not None
            assert "text" not in post
            assert await app.stores.graph.missing_users([victim.me.user_id]) == []
            assert not (await app.services.erasure.progress(victim.me.user_id)).complete

            await erased(app, victim.me.user_id)  # this process's relay takes over
            await assert_no_trace(app, client, victim)
