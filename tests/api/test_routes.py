"""The routers' order (api/app.py ROUTERS, busiest first) decides nothing but speed: no request path and method is
answered by routes of two routers."""

from __future__ import annotations

import itertools
import re

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match

from polysocial import __version__
from polysocial.api.app import ROUTERS, create_app, describe_extra_values

PARAMETER = re.compile(r"{[^}]+}")
VALUES = ["me", "7", "welcome-post", "01JABCDEFGHJKMNPQRSTVWXYZ0"]  # what a path parameter can be here


def concrete_paths(path: str) -> set[str]:
    holes = len(PARAMETER.findall(path))
    pieces = PARAMETER.split(path)
    return {
        "".join(p + v for p, v in zip(pieces, [*values, ""], strict=True))
        for values in itertools.product(VALUES, repeat=holes)
    }


def test_no_request_is_matched_by_two_routers() -> None:
    requests = {
        (method, path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
        for path in concrete_paths(route.path)
    }
    assert len(requests) > 100
    for method, path in sorted(requests):
        scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        owners = [
            i
            for i, router in enumerate(ROUTERS)
            if any(route.matches(scope)[0] is Match.FULL for route in router.routes)
        ]
        assert len(owners) == 1, f"{method} {path} is matched in routers {owners}"


def test_the_busiest_routes_are_tried_first() -> None:
    paths = [route.path for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    assert paths[0] == "/feed"
    assert paths.index("/users/{user_id}/posts") < 15
    assert paths.index("/posts") < 15


def test_the_routes_added_to_the_app_document_what_include_router_would() -> None:
    included = FastAPI(title="polysocial", version=__version__, summary=create_app().summary)
    for router in ROUTERS:
        included.include_router(router)
    describe_extra_values(included)
    assert create_app().openapi() == included.openapi()


async def test_a_known_path_with_another_method_is_refused_405_and_an_unknown_one_404() -> None:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        wrong = await client.delete("/feed")
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "GET"
        assert (await client.get("/no-such-thing")).status_code == 404
