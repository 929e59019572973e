"""Reconcile finds each kind of drift, says so on a dry run without changing anything, and repairs it: follow
edges, post counters, a live home timeline, a live cart (the users' graph nodes: tests/reliability/test_relay.py). On
every profile; the other tests share these stores, so only this test's own posts, users and carts are looked at."""

from __future__ import annotations

import httpx

from polysocial.bootstrap import App
from polysocial.services.reconcile import (
    Drift,
    reconcile_carts,
    reconcile_counters,
    reconcile_follows,
    reconcile_timelines,
)
from polysocial.stores.documents.protocol import POSTS
from polysocial.stores.keyvalue.protocol import TimelineKind
from tests.support.accounts import SignedUser, sign_up, sign_up_admin


async def check(app: App, reader: SignedUser, *, repair: bool) -> tuple[Drift, Drift, Drift, Drift]:
    stores = app.stores
    return (
        await reconcile_follows(stores.relational, stores.graph, repair=repair),
        await reconcile_counters(stores.documents, repair=repair),
        await reconcile_timelines(
            stores.relational,
            app.services.feeds,
            stores.timelines,
            repair=repair,
            sample=0,
            owners=[reader.user_id],
        ),
        await reconcile_carts(stores.relational, stores.keyvalue, repair=repair),
    )


async def test_reconcile_finds_each_drift_on_a_dry_run_and_repairs_it(client: httpx.AsyncClient, app: App) -> None:
    reader, author = await sign_up(client), await sign_up(client)
    boss = await sign_up_admin(client, app)
    for follower in (reader, boss):
        followed = await client.post(f"/users/{author.user_id}/follow", headers=follower.auth)
        assert followed.status_code in (200, 201, 204), followed.text
    post_id = (await client.post("/posts", json={"text": "hello"}, headers=author.auth)).json()["id"]
    assert (await client.put(f"/posts/{post_id}/like", headers=reader.auth)).status_code == 200
    comment = await client.post(f"/posts/{post_id}/comments", json={"text": "hi"}, headers=reader.auth)
    assert comment.status_code == 201, comment.text
    created = await client.post("/products", json={"name": "Widget", "price": "2.00", "stock": 9}, headers=boss.auth)
    product_id = created.json()["product_id"]
    added = await client.post("/cart/items", json={"product_id": product_id, "quantity": 2}, headers=reader.auth)
    assert added.status_code == 200, added.text
    await app.relay.drain()
    assert (await client.get("/feed", headers=reader.auth)).json()["items"][0]["id"] == post_id  # timeline live

    follows, counters, timelines, carts = await check(app, reader, repair=False)
    assert str(reader.user_id) not in follows.found
    assert post_id not in counters.found
    assert str(reader.user_id) not in timelines.found
    assert str(reader.user_id) not in carts.found

    # Drift, made behind the system's back.
    await app.stores.documents.update(POSTS, post_id, {"stats": {"likes": 7, "comments": 0, "shares": 0}})
    if app.stores.timelines is not None:
        await app.stores.timelines.timeline_remove(TimelineKind.HOME, [reader.user_id], [post_id])
    await app.stores.keyvalue.cart_set_line(reader.user_id, product_id, 5)
    await app.stores.graph.unfollow_many([(boss.user_id, author.user_id)])  # an edge lost
    await app.stores.graph.follow_many([(author.user_id, boss.user_id)])  # an edge never recorded

    follows, counters, timelines, carts = await check(app, reader, repair=False)  # a dry run finds, changes nothing
    assert {str(boss.user_id), str(author.user_id)} <= set(follows.found)
    assert not await app.stores.graph.follows(boss.user_id, author.user_id)
    assert post_id in counters.found
    assert str(reader.user_id) in carts.found
    if app.stores.timelines is not None:
        assert str(reader.user_id) in timelines.found
    else:
        assert "no timelines" in timelines.note
    assert follows.repaired == counters.repaired == timelines.repaired == carts.repaired == 0
    assert (await app.stores.documents.get(POSTS, post_id) or {})["stats"]["likes"] == 7
    assert await app.stores.keyvalue.cart_get(reader.user_id) == {product_id: 5}

    follows, counters, timelines, carts = await check(app, reader, repair=True)
    assert await app.stores.graph.follows(boss.user_id, author.user_id)
    assert not await app.stores.graph.follows(author.user_id, boss.user_id)
    assert post_id in counters.found
    assert counters.repaired >= 1
    stats = (await app.stores.documents.get(POSTS, post_id) or {})["stats"]
    assert (stats["likes"], stats["comments"]) == (1, 1)
    assert await app.stores.keyvalue.cart_get(reader.user_id) == {product_id: 2}
    feed = (await client.get("/feed", headers=reader.auth)).json()["items"]
    assert [item["id"] for item in feed] == [post_id]  # the dropped timeline was rebuilt on read, with the post

    follows, counters, timelines, carts = await check(app, reader, repair=False)
    assert not {str(boss.user_id), str(author.user_id)} & set(follows.found)
    assert post_id not in counters.found
    assert str(reader.user_id) not in timelines.found
    assert str(reader.user_id) not in carts.found
