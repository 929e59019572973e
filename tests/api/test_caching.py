"""Conditional reads: an ETag on a post, an article, a profile and my account; If-None-Match answered with 304 and no
body while the representation is unchanged; Cache-Control private (per caller) on those, no-store on health."""

from __future__ import annotations

import httpx
import pytest

from polysocial.config import Settings
from tests.support.accounts import sign_up


@pytest.fixture
def app_settings(embedded_settings: Settings) -> Settings:
    return embedded_settings


async def revalidate(client: httpx.AsyncClient, path: str, auth: dict[str, str]) -> str:
    """The ETag of ``path``, after checking that it is sent again with 304 and no body."""
    first = await client.get(path, headers=auth)
    assert first.status_code == 200, first.text
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    assert first.headers["cache-control"] == "private, no-cache"
    assert "authorization" in first.headers["vary"].lower()
    again = await client.get(path, headers={**auth, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    return etag


async def test_a_post_is_304_until_it_changes(client: httpx.AsyncClient) -> None:
    ada, bob = await sign_up(client, name="Ada"), await sign_up(client, name="Bob")
    post = (await client.post("/posts", json={"text": "hello"}, headers=ada.auth)).json()["id"]
    path = f"/posts/{post}"
    etag = await revalidate(client, path, bob.auth)
    assert (await client.put(f"{path}/like", headers=bob.auth)).status_code == 200
    changed = await client.get(path, headers={**bob.auth, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["stats"]["likes"] == 1
    assert changed.headers["etag"] != etag


async def test_profiles_and_my_account_revalidate_and_change_with_an_edit(client: httpx.AsyncClient) -> None:
    ada, bob = await sign_up(client, name="Ada"), await sign_up(client, name="Bob")
    profile = f"/users/{ada.user_id}"
    etag = await revalidate(client, profile, bob.auth)
    mine = await revalidate(client, "/users/me", ada.auth)
    edit = await client.patch(f"{profile}/profile", json={"bio": "new bio"}, headers=ada.auth)
    assert edit.status_code == 200
    assert (await client.get(profile, headers={**bob.auth, "If-None-Match": etag})).status_code == 200
    assert (await client.get("/users/me", headers={**ada.auth, "If-None-Match": mine})).status_code == 200


@pytest.mark.parametrize(
    ("header", "status"),
    [("*", 304), ('"nope", {etag}', 304), ("{opaque}", 304), ('W/"nope"', 200), ("", 200)],
)
async def test_if_none_match_compares_weakly_against_each_tag(
    client: httpx.AsyncClient, header: str, status: int
) -> None:
    ada = await sign_up(client, name="Ada")
    etag = (await client.get("/users/me", headers=ada.auth)).headers["etag"]
    value = header.format(etag=etag, opaque=etag.removeprefix("W/"))
    response = await client.get("/users/me", headers={**ada.auth, "If-None-Match": value})
    assert response.status_code == status


async def test_an_article_is_conditional_too(client: httpx.AsyncClient) -> None:
    ada = await sign_up(client, name="Ada")
    article = {"slug": "on-caches", "title": "On caches", "content": "ETags."}
    created = await client.post("/articles", json=article, headers=ada.auth)
    assert created.status_code == 201, created.text
    await revalidate(client, "/articles/on-caches", ada.auth)


async def test_health_is_never_cached(client: httpx.AsyncClient) -> None:
    for path in ("/health", "/health/live", "/health/ready"):
        assert (await client.get(path)).headers["cache-control"] == "no-store", path
