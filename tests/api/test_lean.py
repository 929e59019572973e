"""The lean handlers (api/lean.py) of GET /feed and GET /users/{user_id}/posts answer exactly as their FastAPI routes
do: for each request one serves, the same request put so that it declines (a form FastAPI reads to the same page)
gets a byte-identical answer from the full route. On every profile: the feed's degraded answer of postgres-only
too."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from polysocial.api import lean
from polysocial.api.app import create_app
from polysocial.bootstrap import App
from tests.support.accounts import SignedUser, sign_up

VARYING = {"date", "x-request-id"}


class Served:
    """How many answers the lean handlers rendered (the full routes render through api/pagination's Paging)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        render = lean.json_page  # type: ignore[attr-defined]  # the module's import, replaced here

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return render(*args, **kwargs)

        monkeypatch.setattr(lean, "json_page", counted)


def answer(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in VARYING]
    return response.status_code, response.content, headers


async def test_the_lean_feed_answers_byte_for_byte_as_the_full_route(
    client: httpx.AsyncClient, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, bob = await sign_up(client, name="Ada"), await sign_up(client, name="Bob")
    assert (await client.post(f"/users/{bob.user_id}/follow", headers=ada.auth)).status_code in (200, 201)
    ids = []
    for i in range(5):
        created = await client.post("/posts", json={"text": f"b{i}"}, headers=bob.auth)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    liked = await client.put(f"/posts/{ids[3]}/like", headers=ada.auth)
    assert liked.status_code == 200
    await app.relay.drain()
    served = Served(monkeypatch)

    async def get(url: str, user: SignedUser = ada, auth: str | None = None) -> httpx.Response:
        return await client.get(url, headers={"Authorization": auth or user.auth["Authorization"]})

    # (served lean, the same page put so that the lean handler declines it)
    pairs: list[tuple[str, str]] = [
        ("/feed", "/feed?&"),
        ("/feed?limit=2", "/feed?limit=2&"),
        ("/feed?limit=2", "/feed?limit=%32"),
        ("/feed?limit=100", "/feed?limit=0100"),
        (f"/feed?cursor={ids[3]}&limit=2", f"/feed?before={ids[3]}&limit=2"),
        (f"/feed?limit=3&cursor={ids[1]}", f"/feed?cursor={ids[1]}&limit=3&limit=3"),
        (f"/feed?cursor={ids[1]}&limit=5", f"/feed?before={ids[1]}&limit=5"),  # the last page: no Link
        (f"/users/{bob.user_id}/posts", f"/users/0{bob.user_id}/posts"),
        (f"/users/{bob.user_id}/posts?limit=2", f"/users/{bob.user_id}/posts?limit=%32"),
        (f"/users/{bob.user_id}/posts?cursor={ids[3]}&limit=2", f"/users/{bob.user_id}/posts?before={ids[3]}&limit=2"),
        (f"/users/{ada.user_id}/posts?limit=2", f"/users/{ada.user_id}/posts?limit=2&"),  # no posts
    ]
    for served_lean, full in pairs:
        before = served.count
        lean_answer = await get(served_lean)
        assert served.count == before + 1, f"{served_lean} was not served lean"
        full_answer = await get(full)
        assert served.count == before + 1, f"{full} was served lean"
        assert lean_answer.status_code == 200, lean_answer.text
        assert answer(lean_answer) == answer(full_answer), (served_lean, full)
    first = (await get("/feed?limit=2")).json()
    assert [item["id"] for item in first["items"]] == [ids[4], ids[3]]
    assert [item["user_has_liked"] for item in first["items"]] == [False, True]
    assert first["next_cursor"] == ids[3]

    # The scheme is case-insensitive and the token stripped, as FastAPI reads it: served lean, the same answer.
    token = ada.auth["Authorization"].removeprefix("Bearer ")
    before = served.count
    assert answer(await get("/feed?limit=2", auth=f"bearer   {token} ")) == answer(await get("/feed?limit=2"))
    assert served.count == before + 2


@pytest.mark.parametrize(
    ("url", "headers", "status"),
    [
        ("/feed?limit=2", {}, 401),
        ("/feed?limit=2", {"Authorization": "Basic YWRhOnB3"}, 401),
        ("/feed?limit=2", {"Authorization": "Bearer not-a-session"}, 401),
        ("/feed?limit=0", None, 422),
        ("/feed?limit=101", None, 422),
        ("/feed?limit=two", None, 422),
        ("/feed?cursor=not-an-id", None, 422),
        ("/feed?cursor=", None, 422),
        ("/feed?cursor=01ARZ3NDEKTSV4RRFFQ69G5FAV&before=01ARZ3NDEKTSV4RRFFQ69G5FAV", None, 422),
        ("/users/1/posts", {}, 401),
        ("/users/0/posts", None, 422),
        ("/users/me/posts", None, 422),
        ("/users/9007199254740992/posts", None, 422),
        ("/users/1/posts?limit=0", None, 422),
        ("/users/424242/posts", None, 404),
    ],
)
async def test_what_a_lean_handler_declines_gets_the_full_routes_problem(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, url: str, headers: dict[str, str] | None, status: int
) -> None:
    ada = await sign_up(client)
    served = Served(monkeypatch)
    response = await client.get(url, headers=ada.auth if headers is None else headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status
    assert served.count == 0


def test_the_lean_feed_route_keeps_its_schema() -> None:
    operation = create_app().openapi()["paths"]["/feed"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["cursor", "before", "limit"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FeedPage"
    }
