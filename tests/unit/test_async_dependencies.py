"""No route runs code in FastAPI's thread pool: a plain ``def`` endpoint or dependency is called through anyio's
worker threads, two thread switches per call. On the feed that was 13% of a request's CPU (BENCHMARKS.md, the
py-spy section), for dependencies that await nothing. Every endpoint and dependency is ``async def``."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from polysocial.api.app import create_app


def api_routes(routes: Sequence[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI keeps its routes behind a wrapper)
            yield from api_routes(route.original_router.routes)
        elif hasattr(route, "routes"):
            yield from api_routes(route.routes)


def runs_in_a_thread(call: Any) -> bool:
    function = call if inspect.isfunction(call) or inspect.ismethod(call) else getattr(call, "__call__", None)  # noqa: B004
    return function is not None and not inspect.iscoroutinefunction(function)


def sync_dependencies(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        if runs_in_a_thread(sub.call):
            yield getattr(sub.call, "__qualname__", repr(sub.call))
        yield from sync_dependencies(sub)


def test_every_endpoint_and_dependency_is_async() -> None:
    routes = list(api_routes(create_app().routes))
    assert len(routes) > 50  # the walk reaches the included routers' routes
    offenders = {
        f"{' '.join(sorted(route.methods or ()))} {route.path}": sorted(
            {
                *sync_dependencies(route.dependant),
                *([route.endpoint.__qualname__] if runs_in_a_thread(route.endpoint) else []),
            }
        )
        for route in routes
    }
    assert {where: names for where, names in offenders.items() if names} == {}
