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

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import Scope

LeanHandler = Callable[[Request], Awaitable[Response | None]]


def lean_route(lean: LeanHandler) -> type[APIRoute]:
    """A route class (for ``add_api_route(..., route_class_override=)``) whose requests go to ``lean`` first, and
    to the route's own FastAPI handler when it declines (returns None)."""

    class LeanRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            full = super().get_route_handler()

            async def handler(request: Request) -> Response:
                answer = await lean(request)
                return answer if answer is not None else await full(request)

            return handler

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
