"""Lean routes: a hot operation's common case answered without FastAPI's per-request dependency solving.

FastAPI solves a route's dependencies in Python on every request: it walks each dependency's parameters, looks up
each query parameter's type and validates it with pydantic. For ``GET /feed`` that was a fifth of the request's CPU,
more than reading the page from Redis. A lean route is an ordinary FastAPI route (its schema, validation and errors
are FastAPI's, and the OpenAPI document is unchanged) whose handler first offers the request to a lean handler: one
that reads what it needs from the ASGI scope itself and answers only what it fully understands (a plain query
string, a bearer token of a live session). Anything else (a malformed parameter, a missing or unknown token, a
parameter it does not know) it declines, and FastAPI's handler answers as it always did, with the same problem
details. A lean handler never answers differently from the full route: it calls the same service and renders with
the same function, and tests/api/test_lean.py holds the two to byte-identical answers.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from polysocial.api.deps import Caller, caller_of
from polysocial.api.pagination import dict_page_body, json_page, next_link, page_body, plain_newest_by_id
from polysocial.api.schemas.common import MAX_ID

LeanHandler = Callable[[Request], Awaitable[Response | None]]


def lean_route(lean: LeanHandler) -> type[APIRoute]:
    """A route class (for ``add_api_route(..., route_class_override=)``) whose requests go to ``lean`` first, and
    to the route's own FastAPI application when it declines (returns None).

    The lean handler is the route's ASGI application itself, ahead of FastAPI's ``request_response`` (which makes a
    Request, opens two exit stacks for dependencies with ``yield`` and wraps the handler in Starlette's exception
    handling: 4% of a feed request's CPU). What it raises goes to the application's ExceptionMiddleware, which
    answers it with the same handlers (api/errors.py) the route's own wrapper would have used."""

    class LeanRoute(APIRoute):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            full = self.app

            async def app(scope: Scope, receive: Receive, send: Send) -> None:
                answer = await lean(Request(scope, receive, send))
                await (full if answer is None else answer)(scope, receive, send)

            self.app = app

    LeanRoute.__name__ = LeanRoute.__qualname__ = f"LeanRoute[{getattr(lean, '__name__', 'handler')}]"
    return LeanRoute


def bearer_token(scope: Scope) -> str | None:
    """The bearer token of the request's first Authorization header, read as FastAPI's HTTPBearer reads it (scheme
    case-insensitive, the credentials stripped); None when there is none."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            credentials = credentials.strip()
            return credentials if scheme.lower() == "bearer" and credentials else None
    return None


PLAIN_ID = re.compile(r"[1-9][0-9]{0,15}")


def plain_id(text: str) -> int | None:
    """A path's numeric id (a user's), as FastAPI reads an ``Id`` path parameter, when it is written plainly (no
    sign, no leading zero) and in range; else None (FastAPI reads or refuses it)."""
    return int(text) if PLAIN_ID.fullmatch(text) and int(text) <= MAX_ID else None


def url_path(request: Request) -> str:
    """``request.url.path`` without building the URL (a request's URL object was 1% of a feed request's CPU): the
    path as it is, where it holds nothing the URL would escape."""
    path: str = request.scope["path"]
    if "?" in path or "#" in path or "\\" in path or path.startswith("//"):
        return request.url.path
    return path


@dataclass(frozen=True, slots=True)
class LeanPage:
    """A newest-first page asked for plainly (api/pagination.plain_newest_by_id) by a live session's caller: a
    lean handler's Paging. Its answers are the ones Paging renders for the same page."""

    caller: Caller
    start: str | None
    limit: int
    path: str

    def _next(self, last: object | None) -> tuple[str | None, list[tuple[bytes, bytes]]]:
        if last is None:
            return None, []
        cursor = str(last)  # the query string held only cursor and limit: the next page's link keeps nothing else
        return cursor, [(b"link", next_link(self.path, [], cursor, self.limit).encode("latin-1"))]

    def rendered(self, items: list[dict[str, Any]], last: object | None) -> Response:
        cursor, headers = self._next(last)
        return json_page(dict_page_body(items, last, cursor), headers)

    def rendered_items(self, items: list[bytes], last: object | None) -> Response:
        cursor, headers = self._next(last)
        return json_page(page_body(items, last, cursor), headers)


async def newest_by_id(request: Request) -> LeanPage | None:
    """The caller and the page of a request for a newest-first list keyed by id (NewestById), where the query
    string is plain and the bearer token a live session's; None for any other request (its route answers it)."""
    paging = plain_newest_by_id(request.scope["query_string"])
    token = bearer_token(request.scope)
    if paging is None or token is None:
        return None
    caller = await caller_of(request, token)
    if caller is None:
        return None
    return LeanPage(caller, paging[0], paging[1], url_path(request))
