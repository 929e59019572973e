"""Posts, comments, likes and articles through the API, on every profile."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from polysocial.bootstrap import App
from polysocial.domain.ids import is_id
from polysocial.stores.documents.protocol import POSTS
from tests.support.accounts import sign_up

PROBLEM = "application/problem+json"


async def test_a_post_keeps_fields_the_code_does_not_know(client: httpx.AsyncClient) -> None:
    ada = await sign_up(client)
    body = {
        "text": "Just deployed to production on Friday!",
        "media": [{"url": "https://cdn.example.com/deploy.png", "kind": "image"}],
        "mood": "brave",
        "poll": {"question": "again?", "options": ["yes", "no"]},
    }
    created = await client.post("/posts", json=body, headers=ada.auth)
    assert created.status_code == 201, created.text
    post = created.json()
    assert is_id(post["id"])
    assert created.headers["location"] == f"/posts/{post['id']}"
    assert post["stats"] == {"likes": 0, "comments": 0, "shares": 0}
    assert post["author_id"] == ada.user_id
    read = (await client.get(f"/posts/{post['id']}", headers=ada.auth)).json()
    assert read["mood"] == "brave"
    assert read["poll"] == {"question": "again?", "options": ["yes", "no"]}
    assert read["media"] == body["media"]
    assert "likers" not in read
    assert "_outbox" not in read


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"text": "x", "stats": {"likes": 1000}}, "set by the server"),
        ({"text": "x", "author_id": 1}, "set by the server"),
        ({"text": "x", "$where": 1}, "field name"),
        ({"text": "x", "nested": {"a.b": 1}}, "plain name"),
        ({"text": "x", "note": "a\u0000b"}, "NUL"),
        ({"text": "x", "views": 2**70}, "at most 9007199254740992 in size"),
        ({"text": "x", "views": [[[[[[[[[[1]]]]]]]]]]}, "nested too deep"),
        ({"text": "x", "meta": {"not a name": 1}}, "is not a plain name"),
        ({"text": "   "}, "blank"),
        ({"text": "x", "media": [{"url": "ftp://x", "kind": "image"}]}, "media"),
        ({"text": "x", "media": [{"url": "https://x.io/a", "kind": "hologram"}]}, "kind"),
    ],
)
async def test_bad_posts_get_a_clear_422(client: httpx.AsyncClient, body: dict[str, object], fragment: str) -> None:
    ada = await sign_up(client)
    response = await client.post("/posts", json=body, headers=ada.auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert fragment in response.json()["detail"]


async def test_only_the_author_edits_and_deletes_and_a_deleted_post_is_gone(client: httpx.AsyncClient) -> None:
    ada = await sign_up(client)
    bob = await sign_up(client)
    post = (await client.post("/posts", json={"text": "v1"}, headers=ada.auth)).json()
    assert (await client.patch(f"/posts/{post['id']}", json={"text": "x"}, headers=bob.auth)).status_code == 403
    assert (await client.delete(f"/posts/{post['id']}", headers=bob.auth)).status_code == 403
    edited = await client.patch(f"/posts/{post['id']}", json={"text": "v2", "edited_reason": "typo"}, headers=ada.auth)
    assert edited.status_code == 200
    assert (edited.json()["text"], edited.json()["edited_reason"]) == ("v2", "typo")
    assert (await client.delete(f"/posts/{post['id']}", headers=ada.auth)).status_code == 204
    assert (await client.get(f"/posts/{post['id']}", headers=ada.auth)).status_code == 404
    assert (await client.delete(f"/posts/{post['id']}", headers=ada.auth)).status_code == 404


async def test_a_users_posts_come_newest_first_with_a_cursor(client: httpx.AsyncClient) -> None:
    ada = await sign_up(client)
    ids = [(await client.post("/posts", json={"text": f"post {i}"}, headers=ada.auth)).json()["id"] for i in range(5)]
    await client.delete(f"/posts/{ids[2]}", headers=ada.auth)
    first = (await client.get(f"/users/{ada.user_id}/posts?limit=2", headers=ada.auth)).json()
    assert [p["id"] for p in first["items"]] == [ids[4], ids[3]]
    rest = (await client.get(f"/users/{ada.user_id}/posts?before={first['next_before']}", headers=ada.auth)).json()
    assert [p["id"] for p in rest["items"]] == [ids[1], ids[0]]
    assert rest["next_before"] is None


async def test_the_posts_of_a_user_with_none_are_empty_and_of_no_user_404(client: httpx.AsyncClient) -> None:
    ada, bob = await sign_up(client), await sign_up(client)
    quiet = await client.get(f"/users/{bob.user_id}/posts", headers=ada.auth)
    assert quiet.status_code == 200
    assert quiet.json() == {"items": [], "next_before": None, "next_cursor": None}
    nobody = await client.get(f"/users/{bob.user_id + 10_000_000}/posts", headers=ada.auth)
    assert nobody.status_code == 404
    assert nobody.json()["detail"] == f"user {bob.user_id + 10_000_000} does not exist"


async def test_comments_keep_the_latest_20_in_the_post_and_all_in_their_collection(
    client: httpx.AsyncClient, app: App
) -> None:
    ada = await sign_up(client)
    post = (await client.post("/posts", json={"text": "discuss"}, headers=ada.auth)).json()
    for i in range(25):
        added = await client.post(f"/posts/{post['id']}/comments", json={"text": f"c{i}"}, headers=ada.auth)
        assert added.status_code == 201
    read = (await client.get(f"/posts/{post['id']}", headers=ada.auth)).json()
    assert read["stats"]["comments"] == 25
    assert [c["text"] for c in read["latest_comments"]] == [f"c{i}" for i in range(5, 25)]
    await app.relay.drain()  # CommentAdded fills the comments collection
    page1 = (await client.get(f"/posts/{post['id']}/comments?limit=20", headers=ada.auth)).json()
    page2 = (await client.get(f"/posts/{post['id']}/comments?before={page1['next_before']}", headers=ada.auth)).json()
    assert [c["text"] for c in page1["items"] + page2["items"]] == [f"c{i}" for i in reversed(range(25))]


async def test_a_like_counts_once_per_user(client: httpx.AsyncClient) -> None:
    ada = await sign_up(client)
    bob = await sign_up(client)
    post = (await client.post("/posts", json={"text": "like me"}, headers=ada.auth)).json()
    for _ in range(2):
        liked = await client.put(f"/posts/{post['id']}/like", headers=bob.auth)
        assert liked.json() == {"post_id": post["id"], "liked": True, "likes": 1}
    assert (await client.get(f"/posts/{post['id']}", headers=bob.auth)).json()["liked_by_me"] is True
    assert (await client.get(f"/posts/{post['id']}", headers=ada.auth)).json()["liked_by_me"] is False
    unliked = await client.delete(f"/posts/{post['id']}/like", headers=bob.auth)
    assert unliked.json()["likes"] == 0


async def test_100_parallel_likes_and_50_parallel_comments_are_exact(client: httpx.AsyncClient, app: App) -> None:
    ada = await sign_up(client)
    post = (await client.post("/posts", json={"text": "viral"}, headers=ada.auth)).json()
    await asyncio.gather(
        *(app.services.posts.like(post["id"], user) for user in range(1, 101)),
        *(app.services.posts.add_comment(post["id"], ada.user_id, f"c{i}") for i in range(50)),
    )
    stored = await app.stores.documents.get(POSTS, post["id"])
    assert stored is not None
    assert stored["stats"]["likes"] == 100
    assert stored["stats"]["comments"] == 50
    assert len(stored["latest_comments"]) == 20


async def test_articles_by_slug_grow_new_fields_without_a_migration(client: httpx.AsyncClient) -> None:
    ada = await sign_up(client)
    bob = await sign_up(client)
    body = {
        "slug": "database-design-patterns",
        "title": "Database Design Patterns",
        "content": "Today...",
        "tags": ["databases", "system-design"],
    }
    assert (await client.post("/articles", json=body, headers=ada.auth)).status_code == 201
    taken = await client.post("/articles", json=body, headers=bob.auth)
    assert taken.status_code == 409
    assert "database-design-patterns" in taken.json()["detail"]
    grown = await client.patch(
        "/articles/database-design-patterns",
        json={"video_url": "https://youtube.com/watch?v=x", "reading_time": 15},
        headers=ada.auth,
    )
    assert grown.status_code == 200
    read = (await client.get("/articles/database-design-patterns", headers=bob.auth)).json()
    assert (read["video_url"], read["reading_time"], read["tags"]) == (
        "https://youtube.com/watch?v=x",
        15,
        ["databases", "system-design"],
    )
    assert (
        await client.patch("/articles/database-design-patterns", json={"title": "x"}, headers=bob.auth)
    ).status_code == 403
    assert (await client.get("/articles/no-such-thing", headers=bob.auth)).status_code == 404
    moved = await client.patch("/articles/database-design-patterns", json={"slug": "other"}, headers=ada.auth)
    assert moved.status_code == 422
    assert "cannot change" in moved.json()["detail"]
