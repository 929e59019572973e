"""`accounts export` and `accounts delete` through the administrator endpoints, on every profile: the export holds
what each store has, and after the erasure no store holds anything personal (read from the stores themselves)."""

from __future__ import annotations

import httpx

from polysocial.bootstrap import App
from polysocial.domain.accounts import erased_email
from tests.support.accounts import sign_up
from tests.support.erasure import assert_no_trace, erased, populate


async def test_the_export_holds_what_every_store_has_about_the_account(client: httpx.AsyncClient, app: App) -> None:
    victim = await populate(client, app)
    uid = victim.me.user_id
    response = await client.get(f"/admin/accounts/{uid}/export", headers=victim.admin.auth)
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["format"] == "polysocial-account-export/1"
    relational = export["relational"]
    assert relational["users"][0]["email"] == victim.me.email
    assert "password_hash" not in relational["users"][0]
    assert relational["user_profiles"][0]["name"] == victim.name
    assert relational["user_profiles"][0]["bio"] == victim.bio
    assert len(relational["ledger_entries"]) == victim.ledger_entries
    assert len(relational["orders"]) == 1
    assert len(relational["payments"]) == 1
    assert [r["quantity"] for r in relational["cart_items"]] == [2]
    assert {(r["follower"], r["followee"]) for r in relational["follow_record"]} == {
        (uid, victim.ada.user_id),
        (victim.ada.user_id, uid),
        (victim.bob.user_id, uid),
    }
    documents = export["documents"]
    assert sorted(d["id"] for d in documents["posts"]) == sorted(victim.posts)
    assert [d["id"] for d in documents["articles"]] == victim.articles
    assert sorted(c["text"] for c in documents["comments"]) == sorted(t for t in victim.texts if "comment" in t)
    assert documents["liked_posts"] == [victim.ada_post]
    assert export["graph"] == {
        "node": True,
        "following": [victim.ada.user_id],
        "followers": sorted([victim.ada.user_id, victim.bob.user_id]),
    }
    keyvalue = export["keyvalue"]
    assert list(keyvalue["live_cart"].values()) == [2]
    assert list(keyvalue["leaderboards"].values()) == [42.0]
    if app.stores.timelines is not None:
        assert keyvalue["timelines_live"]["home"] is True
    assert victim.me.token not in response.text  # no session token, ever


async def test_an_erased_account_leaves_no_trace_but_the_anonymised_ledger(client: httpx.AsyncClient, app: App) -> None:
    victim = await populate(client, app)
    uid = victim.me.user_id
    started = await client.delete(f"/admin/accounts/{uid}", headers=victim.admin.auth)
    assert started.status_code == 202, started.text
    assert started.json() == {
        "user_id": uid,
        "follows_ended": 3,
        "again": False,
        "progress": f"/admin/accounts/{uid}/erasure",
    }
    assert (await client.get("/users/me", headers=victim.me.auth)).status_code == 401  # sessions end at once
    await erased(app, uid)
    progress = await client.get(f"/admin/accounts/{uid}/erasure", headers=victim.admin.auth)
    assert progress.json() == {"user_id": uid, "complete": True, "remaining": []}
    await assert_no_trace(app, client, victim)

    export = (await client.get(f"/admin/accounts/{uid}/export", headers=victim.admin.auth)).json()
    assert export["relational"]["users"][0]["email"] == erased_email(uid)
    assert len(export["relational"]["ledger_entries"]) == victim.ledger_entries  # what the law keeps
    assert export["relational"]["user_profiles"] == []
    assert export["graph"] == {"node": False, "following": [], "followers": []}

    again = await client.delete(f"/admin/accounts/{uid}", headers=victim.admin.auth)  # idempotent: a new sweep
    assert again.status_code == 202
    assert again.json()["again"] is True
    assert again.json()["follows_ended"] == 0
    await erased(app, uid)
    await assert_no_trace(app, client, victim)


async def test_an_erasure_waits_for_the_events_written_before_it(client: httpx.AsyncClient, app: App) -> None:
    """A follow, a comment and a cart change still on their way when the erasure starts are delivered first: none
    of them brings back what the erasure removed."""
    victim = await populate(client, app)
    late = await sign_up(client, name="Late")
    await client.post(f"/users/{late.user_id}/follow", headers=victim.me.auth)
    await client.post(f"/posts/{victim.ada_post}/comments", json={"text": victim.texts[-1]}, headers=victim.me.auth)
    await client.post("/posts", json={"text": victim.texts[0]}, headers=victim.me.auth)  # fan-out pending
    await app.services.erasure.delete(victim.me.user_id)  # no relay ran since: all of it is pending
    await erased(app, victim.me.user_id)
    await assert_no_trace(app, client, victim)
    assert victim.me.user_id not in await app.stores.graph.followers(late.user_id, after=0, limit=10)


async def test_only_administrators_export_or_erase_and_unknown_ids_are_404(client: httpx.AsyncClient, app: App) -> None:
    victim = await populate(client, app)
    uid = victim.me.user_id
    for method, path in (
        ("GET", f"/admin/accounts/{uid}/export"),
        ("DELETE", f"/admin/accounts/{uid}"),
        ("GET", f"/admin/accounts/{uid}/erasure"),
    ):
        assert (await client.request(method, path, headers=victim.ada.auth)).status_code == 403
        assert (await client.request(method, path, headers=victim.me.auth)).status_code == 403  # not even one's own
        unknown = await client.request(method, path.replace(str(uid), "987654321"), headers=victim.admin.auth)
        assert unknown.status_code == 404, unknown.text
        assert unknown.headers["content-type"] == "application/problem+json"
    assert (await client.get("/users/me", headers=victim.me.auth)).status_code == 200  # nothing was erased
