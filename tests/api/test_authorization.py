"""Every endpoint that needs a session, tried with none, with a bad one, and with another user's."""

from __future__ import annotations

import httpx
import pytest

from polysocial.bootstrap import App
from polysocial.domain.accounts import UserRole
from tests.support.accounts import PASSWORD, sign_up

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
