"""`polysocial feeds rebuild`: timelines dropped and rebuilt from the sources of truth, one user's or every live one."""

from __future__ import annotations

import httpx

from polysocial.api.app import create_app
from polysocial.bootstrap import App
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.stores.keyvalue.protocol import TimelineKind
from tests.cli.test_report import env_for
from tests.conftest import isolated_settings
from tests.support.accounts import sign_up, sign_up_admin
from tests.support.apps import fresh_app
from tests.support.cli import run_cli


async def home(app: App, user_id: int) -> list[str] | None:
    assert app.stores.timelines is not None
    found = await app.stores.timelines.timeline_read(TimelineKind.HOME, user_id, before=None, limit=100)
    return found[0] if found is not None else None


async def test_a_broken_timeline_is_rebuilt_by_the_command_and_by_the_admin_endpoint(
    embedded_engines: EmbeddedEngines,
) -> None:
    settings = isolated_settings(embedded_engines, "feeds")
    env = env_for(settings)
    async with fresh_app(settings, argon2_time_cost=1, argon2_memory_kib=64) as app:
        api = create_app(app_state=app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://test") as client:
            boss = await sign_up_admin(client, app)
            ada, bob, cy = [await sign_up(client, name=n) for n in ("Ada", "Bob", "Cy")]
            for reader in (ada, cy):
                await client.post(f"/users/{bob.user_id}/follow", headers=reader.auth)
            await app.relay.drain()
            for reader in (ada, cy):
                assert (await client.get("/feed", headers=reader.auth)).status_code == 200  # live timelines
            posts = [(await client.post("/posts", json={"text": t}, headers=bob.auth)).json()["id"] for t in "xyz"]
            await app.relay.drain()
            assert await home(app, ada.user_id) == posts[::-1]
            timelines = app.stores.timelines
            assert timelines is not None
            for reader in (ada, cy):  # drift: the timelines lost two posts
                await timelines.timeline_remove(TimelineKind.HOME, [reader.user_id], posts[:2])
            assert await home(app, ada.user_id) == posts[2:]

            one = run_cli("feeds", "rebuild", str(ada.user_id), env=env)
            assert one.returncode == 0, one.stderr
            assert f"user {ada.user_id}: home and user timelines rebuilt; the home timeline holds 3 posts" in one.stdout
            assert await home(app, ada.user_id) == posts[::-1]
            assert await home(app, cy.user_id) == posts[2:]  # only the one asked for

            every = run_cli("feeds", "rebuild", "--all", env=env)
            assert every.returncode == 0, every.stderr
            assert "live home timelines rebuilt" in every.stdout
            assert await home(app, cy.user_id) == posts[::-1]

            await timelines.timeline_remove(TimelineKind.HOME, [cy.user_id], posts)
            path = f"/admin/feeds/{cy.user_id}/rebuild"
            assert (await client.post(path, headers=cy.auth)).status_code == 403
            rebuilt = await client.post(path, headers=boss.auth)
            assert rebuilt.status_code == 200, rebuilt.text
            assert rebuilt.json() == {"user_id": cy.user_id, "rebuilt": True, "home_posts": 3}
            assert await home(app, cy.user_id) == posts[::-1]
            assert (await client.post("/admin/feeds/987654/rebuild", headers=boss.auth)).status_code == 404


def test_the_command_needs_a_user_or_all_and_names_an_unknown_user(embedded_engines: EmbeddedEngines) -> None:
    env = env_for(isolated_settings(embedded_engines, "feeds"))
    neither = run_cli("feeds", "rebuild", env=env)
    assert neither.returncode == 2
    assert "give a user id or --all" in neither.stderr
    both = run_cli("feeds", "rebuild", "1", "--all", env=env)
    assert both.returncode == 2
    unknown = run_cli("feeds", "rebuild", "987654", env=env)
    assert unknown.returncode != 0
    assert "user 987654 does not exist" in unknown.stderr
