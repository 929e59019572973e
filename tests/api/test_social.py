"""Follows and graph queries through the API, on every profile."""

from __future__ import annotations

import httpx

from polysocial.bootstrap import App
from tests.support.accounts import SignedUser, sign_up

PROBLEM = "application/problem+json"


async def people(client: httpx.AsyncClient, n: int) -> list[SignedUser]:
    return [await sign_up(client, name=f"Person {i}") for i in range(n)]


async def test_follow_is_idempotent_and_unfollow_undoes_it(client: httpx.AsyncClient, app: App) -> None:
    ada, bob = await people(client, 2)
    for _ in range(2):
        response = await client.post(f"/users/{bob.user_id}/follow", headers=ada.auth)
        assert response.status_code == 200
        assert response.json() == {"user_id": bob.user_id, "following": True}
    counts = await client.get(f"/users/{bob.user_id}/follow-counts", headers=ada.auth)
    assert counts.json() == {"user_id": bob.user_id, "followers": 1, "following": 0}
    relation = await client.get(f"/users/{ada.user_id}/relationship", headers=bob.auth)
    assert relation.json() == {"user_id": ada.user_id, "i_follow": False, "follows_me": True}

    await app.relay.drain()  # the Followed events, applied again from the outbox: still one edge
    assert (await app.stores.graph.follow_counts(bob.user_id)) == (1, 0)

    assert (await client.delete(f"/users/{bob.user_id}/follow", headers=ada.auth)).json()["following"] is False
    await app.relay.drain()
    assert (await app.stores.graph.follow_counts(bob.user_id)) == (0, 0)


async def test_following_yourself_or_nobody_is_refused(client: httpx.AsyncClient) -> None:
    (ada,) = await people(client, 1)
    me = await client.post(f"/users/{ada.user_id}/follow", headers=ada.auth)
    assert me.status_code == 422
    assert me.headers["content-type"] == PROBLEM
    assert me.json()["detail"] == "you cannot follow yourself"
    ghost = await client.post("/users/987654321/follow", headers=ada.auth)
    assert ghost.status_code == 404
    assert "987654321" in ghost.json()["detail"]


async def test_followers_and_following_are_paged_with_a_cursor(client: httpx.AsyncClient) -> None:
    star, *fans = await people(client, 6)
    for fan in fans:
        await client.post(f"/users/{star.user_id}/follow", headers=fan.auth)
    first = (await client.get(f"/users/{star.user_id}/followers?limit=3", headers=star.auth)).json()
    assert [u["user_id"] for u in first["items"]] == sorted(f.user_id for f in fans)[:3]
    assert first["items"][0]["name"].startswith("Person")
    rest = await client.get(f"/users/{star.user_id}/followers?limit=3&after={first['next_after']}", headers=star.auth)
    assert [u["user_id"] for u in rest.json()["items"]] == sorted(f.user_id for f in fans)[3:]
    assert rest.json()["next_after"] is None
    following = await client.get(f"/users/{fans[0].user_id}/following", headers=star.auth)
    assert [u["user_id"] for u in following.json()["items"]] == [star.user_id]
    too_big = await client.get(f"/users/{star.user_id}/followers?limit=101", headers=star.auth)
    assert too_big.status_code == 422
    assert too_big.headers["content-type"] == PROBLEM


async def test_mutuals_suggestions_nearby_and_separation(client: httpx.AsyncClient) -> None:
    a, b, c, d, e = await people(client, 5)

    async def follow(x: SignedUser, y: SignedUser) -> None:
        assert (await client.post(f"/users/{y.user_id}/follow", headers=x.auth)).status_code == 200

    # a -> b, a -> c, b -> d, c -> d, c -> e, d -> a
    for x, y in [(a, b), (a, c), (b, d), (c, d), (c, e), (d, a)]:
        await follow(x, y)
    mutuals = (await client.get(f"/users/{c.user_id}/mutuals", headers=b.auth)).json()
    assert [u["user_id"] for u in mutuals["items"]] == [d.user_id]
    suggested = (await client.get("/users/me/suggestions", headers=a.auth)).json()
    assert [(s["user_id"], s["strength"]) for s in suggested] == [(d.user_id, 2), (e.user_id, 1)]
    nearby = (await client.get("/users/me/nearby?hops=2", headers=a.auth)).json()
    assert [(n["user_id"], n["distance"]) for n in nearby] == sorted(
        [(b.user_id, 1), (c.user_id, 1), (d.user_id, 2), (e.user_id, 2)], key=lambda t: (t[1], t[0])
    )
    assert (await client.get(f"/users/{a.user_id}/separation", headers=e.auth)).json()["degrees"] is None
    assert (await client.get(f"/users/{a.user_id}/separation", headers=b.auth)).json()["degrees"] == 2
    assert (await client.get("/users/me/nearby?hops=4", headers=a.auth)).status_code == 422


async def test_one_users_follow_is_never_anothers(client: httpx.AsyncClient) -> None:
    a, b, c = await people(client, 3)
    await client.post(f"/users/{c.user_id}/follow", headers=a.auth)
    as_b = await client.get(f"/users/{c.user_id}/relationship", headers=b.auth)
    assert as_b.json()["i_follow"] is False
    # b cannot undo a's follow: DELETE acts on the caller's own follow only
    await client.delete(f"/users/{c.user_id}/follow", headers=b.auth)
    as_a = await client.get(f"/users/{c.user_id}/relationship", headers=a.auth)
    assert as_a.json()["i_follow"] is True
