"""The lean handlers' readers (api/lean.py) read a request as FastAPI does, or decline it: checked against FastAPI
itself, a route with the same dependency, over ASGI scopes built here (no network, no store). And their writers
write what the general ones do: a page of rendered items, the next page's link."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import FastAPI, Request
from fastapi.security import HTTPBearer
from hypothesis import example, given, settings
from hypothesis import strategies as st

from polysocial.api.errors import install_error_handlers
from polysocial.api.lean import bearer_token, lean_route, plain_id, url_path
from polysocial.api.pagination import NewestById, next_link, page_body, plain_newest_by_id
from polysocial.api.routes.users import UserId
from polysocial.api.schemas.common import MAX_ID
from polysocial.domain.errors import StoreUnavailable

ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

reference = FastAPI()
reference_bearer = HTTPBearer(auto_error=False)


@reference.get("/page")
async def page(paging: NewestById) -> dict[str, Any]:
    return {"start": paging.start, "limit": paging.limit}


def scope(query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("203.0.113.7", 40000),
        "root_path": "",
        "path": "/page",
        "raw_path": b"/page",
        "query_string": query,
        "headers": headers or [],
    }


def reference_answers(request: dict[str, Any]) -> tuple[int, Any]:
    """The reference app's status and decoded body for one request's ASGI scope."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    asyncio.run(reference(request, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], orjson.loads(body)


def fastapi_reads(query: bytes) -> tuple[int, Any]:
    return reference_answers(scope(query))


NAMES = st.sampled_from(["cursor", "limit", "before", "after", "x", "", "Limit", "cursor[]"])
VALUES = st.sampled_from([ID, ID.lower(), ID + "0", "20", "1", "100", "101", "0", "020", "+20", "%32", "2.0", "", "a"])
PARTS = st.one_of(st.tuples(NAMES, VALUES).map(lambda p: f"{p[0]}={p[1]}"), NAMES)
QUERIES = st.lists(PARTS, max_size=4).map(lambda parts: "&".join(parts).encode())


@settings(max_examples=300, deadline=None)
@given(QUERIES)
@example(b"")
@example(b"limit=20")
@example(b"limit=101")
@example(f"cursor={ID}&limit=20".encode())
@example(f"limit=100&cursor={ID}".encode())
def test_a_query_string_read_lean_reads_as_fastapi_reads_it(query: bytes) -> None:
    plain = plain_newest_by_id(query)
    if plain is not None:
        assert fastapi_reads(query) == (200, {"start": plain[0], "limit": plain[1]})


def test_the_common_query_strings_are_read_lean_and_the_odd_ones_declined() -> None:
    assert plain_newest_by_id(b"") == (None, 20)
    assert plain_newest_by_id(b"limit=20") == (None, 20)
    assert plain_newest_by_id(f"cursor={ID}&limit=100".encode()) == (ID, 100)
    for odd in (b"limit=020", b"limit=%32", b"limit=101", b"limit=0", b"limit=2&limit=3", b"limit=2&", b"x=1",
                f"before={ID}".encode(), f"cursor={ID.lower()}".encode(), b"cursor=", b"limit"):  # fmt: skip
        assert plain_newest_by_id(odd) is None, odd


def fastapi_bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    credentials = asyncio.run(reference_bearer(Request(scope(headers=headers))))
    return credentials.credentials if credentials is not None else None


HEADER_VALUES = st.tuples(
    st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", "Bearer:", ""]),
    st.sampled_from([" ", "  ", "\t", ""]),
    st.text(alphabet="ab01-_. \t", max_size=12),
).map(lambda v: "".join(v).encode("latin-1"))
HEADERS = st.lists(st.tuples(st.sampled_from([b"authorization", b"x-authorization", b"cookie"]), HEADER_VALUES))


@settings(max_examples=300, deadline=None)
@given(HEADERS)
@example([(b"authorization", b"Bearer tok"), (b"authorization", b"Bearer other")])
@example([(b"authorization", b"Bearer   tok \t")])
@example([(b"authorization", b"Bearer ")])
def test_a_bearer_token_read_lean_is_the_one_fastapi_reads(headers: list[tuple[bytes, bytes]]) -> None:
    assert bearer_token(scope(headers=headers)) == fastapi_bearer(headers)


def containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text() | st.floats(allow_nan=False),
    containers,
    max_leaves=8,
)
ITEMS = st.lists(st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=4), max_size=4)


@settings(max_examples=200, deadline=None)
@given(ITEMS, st.none() | st.text(max_size=30) | st.integers(0, 2**63 - 1), st.none() | st.text(max_size=30))
def test_a_page_of_rendered_items_is_the_page_orjson_renders(items: list[Any], last: Any, cursor: Any) -> None:
    page = {"items": items, "next_before": last, "next_cursor": cursor}
    assert page_body([orjson.dumps(i) for i in items], last, cursor) == orjson.dumps(page)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=3),
    st.text(min_size=1, max_size=30),
    st.integers(1, 100),
)
@example([], ID, 20)
def test_the_next_link_is_the_one_urlencode_writes(kept: list[tuple[str, str]], cursor: str, limit: int) -> None:
    query = urlencode([*kept, ("cursor", cursor), ("limit", limit)])
    assert next_link("/feed", kept, cursor, limit) == f'</feed?{query}>; rel="next"'


@reference.get("/users/{user_id}")
async def user(user_id: UserId) -> int:
    return user_id


def fastapi_reads_id(text: str) -> tuple[int, Any]:
    path = f"/users/{text}"
    return reference_answers({**scope(), "path": path, "raw_path": path.encode()})


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-_ae", min_size=1, max_size=18))
@example("1")
@example(str(MAX_ID))
@example(str(MAX_ID + 1))
@example("0")
@example("012")
def test_an_id_read_lean_reads_as_fastapi_reads_it(text: str) -> None:
    plain = plain_id(text)
    if plain is not None:
        assert fastapi_reads_id(text) == (200, plain)
    elif text.isdigit() and not text.startswith("0") and int(text) <= MAX_ID:
        raise AssertionError(f"{text} declined")


@given(st.text(alphabet="/ab?#\\%", max_size=10).map(lambda p: "/" + p))
@example("//x")
@example("/feed")
def test_a_requests_path_is_its_urls_path(path: str) -> None:
    request = Request({**scope(), "path": path, "raw_path": path.encode(), "headers": [(b"host", b"test")]})
    assert url_path(request) == request.url.path


def test_what_a_lean_handler_raises_is_answered_by_the_apps_handlers_as_the_full_routes_raise_is() -> None:
    """A lean handler is the route's ASGI application, ahead of FastAPI's wrapper: a store failure it raises must
    still be the problem details (503 naming the role) the route's own handler gets, not a 500."""

    def down() -> StoreUnavailable:
        return StoreUnavailable("keyvalue", "redis://127.0.0.1:1", "connection refused", retry_after_s=2.0)

    async def lean(request: Request) -> None:
        raise down()

    async def full() -> dict[str, Any]:
        raise down()

    answers = []
    for route_class in (lean_route(lean), None):
        app = FastAPI()
        install_error_handlers(app)
        app.router.add_api_route("/page", full, route_class_override=route_class)
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any], sent: list[dict[str, Any]] = sent) -> None:
            sent.append(dict(message))

        asyncio.run(app(scope(), receive, send))
        headers = dict(sent[0]["headers"])
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        answers.append((sent[0]["status"], headers[b"content-type"], headers.get(b"retry-after"), orjson.loads(body)))
    assert answers[0] == answers[1]
    assert answers[0][:2] == (503, b"application/problem+json")
    assert "keyvalue" in answers[0][3]["detail"]
