"""Every endpoint that needs a session, tried with none, with a bad one, and with another user's."""

from __future__ import annotations

import httpx
import pytest

from polysocial.bootstrap import App
from polysocial.domain.accounts import UserRole
from tests.support.accounts import PASSWORD, SignedUser, sign_up

PROTECTED = [
    ("GET", "/users/me", None),
    ("GET", "/users/{owner}", None),
    ("PATCH", "/users/{owner}/profile", {"bio": "changed"}),
    ("POST", "/auth/logout", None),
    ("GET", "/admin/relay", None),
    ("POST", "/users/{owner}/follow", None),
    ("DELETE", "/users/{owner}/follow", None),
    ("GET", "/users/{owner}/followers", None),
    ("GET", "/users/{owner}/following", None),
    ("GET", "/users/{owner}/follow-counts", None),
    ("GET", "/users/{owner}/relationship", None),
    ("GET", "/users/{owner}/mutuals", None),
    ("GET", "/users/{owner}/separation", None),
    ("GET", "/users/me/suggestions", None),
    ("GET", "/users/me/nearby", None),
    ("POST", "/posts", {"text": "hello"}),
    ("GET", "/posts/{post}", None),
    ("PATCH", "/posts/{post}", {"text": "changed"}),
    ("DELETE", "/posts/{post}", None),
    ("GET", "/users/{owner}/posts", None),
    ("POST", "/posts/{post}/comments", {"text": "hi"}),
    ("GET", "/posts/{post}/comments", None),
    ("PUT", "/posts/{post}/like", None),
    ("DELETE", "/posts/{post}/like", None),
    ("POST", "/articles", {"slug": "a-b", "title": "t", "content": "c"}),
    ("GET", "/articles/{slug}", None),
    ("PATCH", "/articles/{slug}", {"title": "t2"}),
    ("GET", "/feed", None),
    ("GET", "/wallet", None),
    ("GET", "/wallet/ledger", None),
    ("POST", "/wallet/deposits", {"amount": "1.00"}),
    ("POST", "/transfers", {"to_user_id": 1, "amount": "1.00"}),
    ("POST", "/products", {"name": "n", "price": "1.00", "stock": 1}),
    ("GET", "/products", None),
    ("GET", "/products/1", None),
    ("POST", "/products/1/restock", {"quantity": 1}),
    ("POST", "/orders", {"items": [{"product_id": 1, "quantity": 1}]}),
    ("GET", "/orders", None),
    ("GET", "/orders/1", None),
    ("POST", "/orders/1/cancel", None),
    ("POST", "/orders/1/ship", None),
    ("GET", "/cart", None),
    ("POST", "/cart/items", {"product_id": 1, "quantity": 1}),
    ("POST", "/cart/checkout", None),
    ("GET", "/admin/reports/customers", None),
    ("POST", "/ticketed-events", {"name": "e", "starts_at": "2027-01-01T00:00:00Z", "seats": 1}),
    ("GET", "/ticketed-events/1", None),
    ("GET", "/ticketed-events/1/seats", None),
    ("POST", "/ticketed-events/1/seats/1/booking", None),
    ("GET", "/trending", None),
    ("GET", "/posts/{post}/stats", None),
    ("GET", "/admin/metrics/api", None),
    ("GET", "/leaderboards/arcade", None),
    ("GET", "/leaderboards/arcade/me", None),
    ("POST", "/leaderboards/arcade/scores", {"score": 1}),
    ("POST", "/admin/measurements", [{"measurement": "m", "fields": {"x": 1}}]),
    ("GET", "/admin/measurements/m/mean?field=x", None),
]

ADMIN_ONLY = [
    ("GET", "/admin/metrics/api", None),
    ("POST", "/admin/measurements", [{"measurement": "m", "fields": {"x": 1}}]),
    ("GET", "/admin/measurements/m/mean?field=x", None),
    ("POST", "/products", {"name": "n", "price": "1.00", "stock": 1}),
    ("POST", "/products/{product}/restock", {"quantity": 1}),
    ("POST", "/orders/{order}/ship", None),
    ("GET", "/admin/reports/customers", None),
    ("POST", "/ticketed-events", {"name": "e", "starts_at": "2027-01-01T00:00:00Z", "seats": 1}),
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize("credentials", ["none", "garbage", "wrong-scheme"])
async def test_no_valid_session_gets_401(
    client: httpx.AsyncClient, method: str, path: str, body: object, credentials: str
) -> None:
    owner = await sign_up(client)
    headers = {
        "none": {},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "wrong-scheme": {"Authorization": f"Basic {owner.token}"},
    }[credentials]
    post = (await client.post("/posts", json={"text": "mine"}, headers=owner.auth)).json()["id"]
    slug = f"article-{owner.user_id}"
    await client.post("/articles", json={"slug": slug, "title": "t", "content": "c"}, headers=owner.auth)
    target = path.format(owner=owner.user_id, post=post, slug=slug)
    response = await client.request(method, target, json=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_another_user_cannot_change_my_profile(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    intruder = await sign_up(client)
    response = await client.patch(f"/users/{owner.user_id}/profile", json={"bio": "pwned"}, headers=intruder.auth)
    assert response.status_code == 403
    assert (await client.get(f"/users/{owner.user_id}", headers=owner.auth)).json()["bio"] == ""
    # nor a user that does not exist: no way to probe which ids exist
    ghost = await client.patch("/users/999999/profile", json={"bio": "x"}, headers=intruder.auth)
    assert ghost.status_code == 403


async def test_another_user_sees_only_the_public_profile(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    other = await sign_up(client)
    public = await client.get(f"/users/{owner.user_id}", headers=other.auth)
    assert public.status_code == 200
    assert set(public.json()) == {"user_id", "name", "bio", "avatar_url", "created_at", "order_count"}
    mine = await client.get("/users/me", headers=other.auth)
    assert mine.json()["user_id"] == other.user_id  # /users/me is always the caller


async def test_another_user_cannot_edit_or_delete_my_post_or_article(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    intruder = await sign_up(client)
    post = (await client.post("/posts", json={"text": "mine"}, headers=owner.auth)).json()["id"]
    await client.post("/articles", json={"slug": "owned", "title": "t", "content": "c"}, headers=owner.auth)
    assert (await client.patch(f"/posts/{post}", json={"text": "pwned"}, headers=intruder.auth)).status_code == 403
    assert (await client.delete(f"/posts/{post}", headers=intruder.auth)).status_code == 403
    assert (await client.patch("/articles/owned", json={"title": "pwned"}, headers=intruder.auth)).status_code == 403
    assert (await client.get(f"/posts/{post}", headers=owner.auth)).json()["text"] == "mine"
    # a like or a comment is the caller's own: the intruder's like counts once, as theirs
    assert (await client.put(f"/posts/{post}/like", headers=intruder.auth)).json()["likes"] == 1
    assert (await client.get(f"/posts/{post}", headers=owner.auth)).json()["liked_by_me"] is False


async def test_a_feed_is_always_the_callers_own(client: httpx.AsyncClient, app: App) -> None:
    owner = await sign_up(client)
    other = await sign_up(client)
    post = (await client.post("/posts", json={"text": "mine"}, headers=owner.auth)).json()["id"]
    await client.put(f"/posts/{post}/like", headers=owner.auth)
    await app.relay.drain()
    mine = (await client.get("/feed", headers=owner.auth)).json()["items"]
    assert [(i["id"], i["user_has_liked"]) for i in mine] == [(post, True)]
    # There is no way to name another user's feed: the other user sees their own (empty: they follow nobody).
    assert (await client.get("/feed", headers=other.auth)).json()["items"] == []
    assert (await client.get(f"/feed?user_id={owner.user_id}", headers=other.auth)).json()["items"] == []
    await client.post(f"/users/{owner.user_id}/follow", headers=other.auth)
    await app.relay.drain()
    theirs = (await client.get("/feed", headers=other.auth)).json()["items"]
    assert [(i["id"], i["user_has_liked"]) for i in theirs] == [(post, False)]  # the reader's like, not the owner's


async def _shop(client: httpx.AsyncClient, app: App) -> tuple[SignedUser, SignedUser, int, int]:
    """An administrator with a product, and an owner who bought it; (owner, intruder, product, order)."""
    boss = await sign_up(client)
    async with app.relational.transaction() as tx:
        await tx.set_role(boss.user_id, UserRole.ADMIN)
    login = await client.post("/auth/login", json={"email": boss.email, "password": PASSWORD})
    boss_auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
    product = (
        await client.post("/products", json={"name": "w", "price": "5.00", "stock": 9}, headers=boss_auth)
    ).json()
    owner, intruder = await sign_up(client), await sign_up(client)
    for user in (owner, intruder):
        await client.post("/wallet/deposits", json={"amount": "50.00"}, headers=user.auth)
    order = await client.post("/orders", json={"items": [{"product_id": product["product_id"], "quantity": 1}]},
                              headers=owner.auth)  # fmt: skip
    return owner, intruder, product["product_id"], order.json()["order_id"]


async def test_another_user_cannot_see_or_move_my_money_or_orders(client: httpx.AsyncClient, app: App) -> None:
    owner, intruder, product, order = await _shop(client, app)
    # Someone else's order does not exist for the intruder (no probing of ids), and cannot be cancelled.
    assert (await client.get(f"/orders/{order}", headers=intruder.auth)).status_code == 404
    assert (await client.post(f"/orders/{order}/cancel", headers=intruder.auth)).status_code == 404
    assert (await client.get(f"/orders/{order}", headers=owner.auth)).json()["status"] == "paid"
    assert (await client.get("/orders", headers=intruder.auth)).json()["items"] == []
    # A transfer always leaves the caller's own wallet: naming another payer is refused.
    forged = {"from_user_id": owner.user_id, "to_user_id": intruder.user_id, "amount": "10.00"}
    assert (await client.post("/transfers", json=forged, headers=intruder.auth)).status_code == 422
    assert (await client.get("/wallet", headers=owner.auth)).json()["balance"] == "45.00"
    assert (await client.get("/wallet", headers=intruder.auth)).json() == {"user_id": intruder.user_id,
                                                                            "balance": "50.00"}  # fmt: skip
    mine = (await client.get("/wallet/ledger", headers=intruder.auth)).json()["items"]
    assert [e["kind"] for e in mine] == ["deposit"]
    # Carts and seats are the caller's own too.
    await client.post("/cart/items", json={"product_id": product, "quantity": 2}, headers=owner.auth)
    assert (await client.get("/cart", headers=intruder.auth)).json()["items"] == []
    assert (await client.post("/cart/checkout", headers=intruder.auth)).status_code == 409  # their cart is empty


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ONLY)
async def test_the_shop_and_events_are_administered_by_administrators(
    client: httpx.AsyncClient, app: App, method: str, path: str, body: object
) -> None:
    owner, _intruder, product, order = await _shop(client, app)
    response = await client.request(method, path.format(product=product, order=order), json=body, headers=owner.auth)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_logout_ends_only_the_callers_session(client: httpx.AsyncClient) -> None:
    first = await sign_up(client)
    second = await sign_up(client)
    assert (await client.post("/auth/logout", headers=second.auth)).status_code == 204
    assert (await client.get("/users/me", headers=first.auth)).status_code == 200


async def test_the_relay_view_is_for_administrators(client: httpx.AsyncClient, app: App) -> None:
    user = await sign_up(client)
    assert (await client.get("/admin/relay", headers=user.auth)).status_code == 403
    admin = await sign_up(client)
    async with app.relational.transaction() as tx:
        await tx.set_role(admin.user_id, UserRole.ADMIN)
    stale = await client.get("/admin/relay", headers=admin.auth)
    assert stale.status_code == 403  # the role is read at login: sign in again to get it
    fresh = await client.post("/auth/login", json={"email": admin.email, "password": PASSWORD})
    view = await client.get("/admin/relay", headers={"Authorization": f"Bearer {fresh.json()['access_token']}"})
    assert view.status_code == 200
    assert set(view.json()) == {"outbox_pending", "outbox_lag_s", "dead_letters", "document_events_pending"}


async def test_the_api_cannot_make_an_admin(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/auth/register", json={**__import__("tests.support.accounts", fromlist=["x"]).registration(), "role": "admin"}
    )
    assert created.status_code == 422
