"""Every endpoint that needs a session, tried with none, with a bad one, and with another user's; every endpoint
for administrators, tried by a user. Both lists come from the app's own routes (tests/support/routes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from polysocial.api.app import create_app
from polysocial.bootstrap import App
from polysocial.config import Settings
from polysocial.domain.accounts import UserRole
from tests.support.accounts import PASSWORD, SignedUser, sign_up
from tests.support.apps import fresh_app
from tests.support.routes import PUBLIC, concrete, everything, for_administrators, in_the_schema, needing_a_session

SESSION_ROUTES = needing_a_session()
ADMIN_ROUTES = for_administrators()


def test_every_operation_is_either_public_or_needs_a_session() -> None:
    """Derived from the app's routes: a new route is in the 401 matrix below unless it is made public here."""
    assert everything() == in_the_schema()  # the walk sees exactly what the app serves
    assert set(everything()) == set(SESSION_ROUTES) | PUBLIC
    assert not set(SESSION_ROUTES) & PUBLIC
    assert set(ADMIN_ROUTES) <= set(SESSION_ROUTES)
    assert len(SESSION_ROUTES) >= 57  # the API's size when this test was written: a sanity check on the walk
    assert ("POST", "/products") in ADMIN_ROUTES  # and on the admin detection


@pytest.fixture(scope="module")
async def anyone(embedded_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, SignedUser]]:
    """One app for the whole matrix: refusing a request without a valid session is decided before any code that
    depends on the profile runs, so the matrix runs once, not once per profile."""
    async with fresh_app(embedded_settings) as app:
        transport = httpx.ASGITransport(app=create_app(app_state=app), client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, await sign_up(client)


@pytest.mark.parametrize(("method", "path"), SESSION_ROUTES)
@pytest.mark.parametrize("credentials", ["none", "garbage", "wrong-scheme"])
async def test_no_valid_session_gets_401(
    anyone: tuple[httpx.AsyncClient, SignedUser], method: str, path: str, credentials: str
) -> None:
    client, user = anyone
    headers = {
        "none": {},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "wrong-scheme": {"Authorization": f"Basic {user.token}"},  # a real token, in the wrong scheme
    }[credentials]
    response = await client.request(method, concrete(path, user_id=user.user_id), headers=headers)
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
    async with app.stores.relational.transaction() as tx:
        await tx.accounts.set_role(boss.user_id, UserRole.ADMIN)
    login = await client.post("/auth/login", json={"email": boss.email, "password": PASSWORD})
    boss_auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
    product = (
        await client.post("/products", json={"name": "w", "price": "5.00", "stock": 9}, headers=boss_auth)
    ).json()
    owner, intruder = await sign_up(client), await sign_up(client)
    for user in (owner, intruder):
        await client.post("/wallet/deposits", json={"amount": "50.00"}, headers=user.auth)
    order = await client.post(
        "/orders", json={"items": [{"product_id": product["product_id"], "quantity": 1}]}, headers=owner.auth
    )
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
    assert (await client.get("/wallet", headers=intruder.auth)).json() == {
        "user_id": intruder.user_id,
        "balance": "50.00",
    }
    mine = (await client.get("/wallet/ledger", headers=intruder.auth)).json()["items"]
    assert [e["kind"] for e in mine] == ["deposit"]
    # Carts and seats are the caller's own too.
    await client.post("/cart/items", json={"product_id": product, "quantity": 2}, headers=owner.auth)
    assert (await client.get("/cart", headers=intruder.auth)).json()["items"] == []
    assert (await client.post("/cart/checkout", headers=intruder.auth)).status_code == 409  # their cart is empty


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_administrators_only_routes_refuse_a_user(
    client: httpx.AsyncClient, app: App, method: str, path: str
) -> None:
    owner, _intruder, product, order = await _shop(client, app)
    target = concrete(path, product_id=product, order_id=order)
    response = await client.request(method, target, headers=owner.auth)
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
    async with app.stores.relational.transaction() as tx:
        await tx.accounts.set_role(admin.user_id, UserRole.ADMIN)
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
