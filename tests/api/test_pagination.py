"""One cursor vocabulary on every list: ?cursor= in, next_cursor out, an RFC 8288 Link header to the next page; the
older before/after names still work, marked deprecated."""

from __future__ import annotations

import re

import httpx
import pytest

from polysocial.bootstrap import App
from polysocial.config import Settings
from tests.support.accounts import SignedUser, sign_up

LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


@pytest.fixture
def app_settings(embedded_settings: Settings) -> Settings:
    return embedded_settings  # one profile: the cursor is the API's; the stores' paging has its own tests


async def walk(client: httpx.AsyncClient, user: SignedUser, path: str, key: str) -> list[object]:
    """Every item of a list, by following the Link headers only."""
    seen: list[object] = []
    url: str | None = f"{path}?limit=2"
    while url is not None:
        response = await client.get(url, headers=user.auth)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item[key] for item in page["items"]]
        link = response.headers.get("link")
        if page["next_cursor"] is None:
            assert link is None
            url = None
        else:
            found = LINK.match(link or "")
            assert found is not None, link
            url = found["url"]
            assert f"cursor={page['next_cursor']}" in url
            assert "limit=2" in url
    return seen


async def test_the_link_headers_walk_every_list_to_its_end(client: httpx.AsyncClient, app: App) -> None:
    ada, bob = await sign_up(client, name="Ada"), await sign_up(client, name="Bob")
    fans = [await sign_up(client, name=f"Fan {i}") for i in range(5)]
    for fan in fans:
        assert (await client.post(f"/users/{ada.user_id}/follow", headers=fan.auth)).status_code == 200
    assert (await client.post(f"/users/{ada.user_id}/follow", headers=bob.auth)).status_code == 200
    posts = []
    for i in range(5):
        response = await client.post("/posts", json={"text": f"post {i}"}, headers=ada.auth)
        posts.append(response.json()["id"])
    for i in range(3):
        await client.post(f"/posts/{posts[0]}/comments", json={"text": f"comment {i}"}, headers=bob.auth)
    await app.relay.drain()

    assert await walk(client, bob, "/feed", "id") == posts[::-1]
    assert await walk(client, bob, f"/users/{ada.user_id}/posts", "id") == posts[::-1]
    assert len(await walk(client, bob, f"/posts/{posts[0]}/comments", "id")) == 3
    followers = await walk(client, bob, f"/users/{ada.user_id}/followers", "user_id")
    assert followers == sorted(u.user_id for u in [*fans, bob])


async def test_the_old_names_still_work_and_give_the_same_pages(client: httpx.AsyncClient, app: App) -> None:
    ada = await sign_up(client, name="Ada")
    fans = [await sign_up(client, name=f"Fan {i}") for i in range(4)]
    for fan in fans:
        await client.post(f"/users/{ada.user_id}/follow", headers=fan.auth)
    path = f"/users/{ada.user_id}/followers"
    first = (await client.get(path, params={"limit": 2}, headers=ada.auth)).json()
    assert first["next_after"] == int(first["next_cursor"])
    by_cursor = await client.get(path, params={"limit": 2, "cursor": first["next_cursor"]}, headers=ada.auth)
    by_after = await client.get(path, params={"limit": 2, "after": first["next_after"]}, headers=ada.auth)
    assert by_cursor.json()["items"] == by_after.json()["items"] != first["items"]


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("/feed", {"cursor": "01J0000000000000000000000A", "before": "01J0000000000000000000000A"}, "cursor only"),
        ("/wallet/ledger", {"cursor": "12", "before": "12"}, "cursor only"),
        ("/wallet/ledger", {"cursor": "abc"}, "not a cursor this list gave"),
        ("/feed", {"cursor": "123"}, "not a cursor this list gave"),
        ("/products", {"cursor": "a" * 65}, "cursor"),
    ],
)
async def test_a_cursor_the_list_did_not_give_is_a_clear_422(
    client: httpx.AsyncClient, path: str, params: dict[str, str], fragment: str
) -> None:
    ada = await sign_up(client, name="Ada")
    response = await client.get(path, params=params, headers=ada.auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert fragment in response.text


async def test_the_schema_marks_the_old_names_deprecated(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    lists = {
        "/feed": "before",
        "/users/{user_id}/followers": "after",
        "/products": "after",
        "/orders": "before",
        "/wallet/ledger": "before",
        "/ticketed-events": "after",
    }
    for path, old in lists.items():
        operation = schema["paths"][path]["get"]
        params = {p["name"]: p for p in operation["parameters"]}
        assert params[old].get("deprecated") is True, path
        assert not params["cursor"].get("deprecated"), path
        assert "Link" in operation["responses"]["200"]["headers"], path
    page = schema["components"]["schemas"]["FeedPage"]["properties"]
    assert page["next_before"].get("deprecated") is True
    assert "next_cursor" in page
