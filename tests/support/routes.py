"""The API's operations, read from the app itself, so that a test over "every endpoint" cannot miss a new one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from polysocial.api.app import ROUTERS, create_app
from polysocial.api.deps import get_admin, get_caller

# Open to anyone, on purpose. Every other operation must refuse a request without a valid session.
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
}

# A value that the path's pattern accepts, per path parameter; a new parameter must be added here.
SAMPLE_PATH_VALUES = {
    "user_id": "1",
    "post_id": "01JH0000000000000000000000",
    "slug": "a-b",
    "product_id": "1",
    "order_id": "1",
    "event_id": "1",
    "seat_no": "1",
    "board": "arcade",
    "measurement": "m",
    "which": "followers",  # the web client's /web/users/{user_id}/{which}
}


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


def operations() -> Iterator[tuple[str, str, APIRoute]]:
    """(method, path template, route) of every operation of the API's routers."""
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                for method in sorted(route.methods or ()):
                    yield method, route.path, route


def in_the_schema() -> list[tuple[str, str]]:
    """(method, path) of every operation the served app documents in its OpenAPI schema."""
    paths: dict[str, dict[str, Any]] = create_app().openapi()["paths"]
    return sorted((method.upper(), path) for path, item in paths.items() for method in item)


def needing_a_session() -> list[tuple[str, str]]:
    return sorted((m, p) for m, p, r in operations() if _depends_on(r.dependant, get_caller))


def for_administrators() -> list[tuple[str, str]]:
    return sorted((m, p) for m, p, r in operations() if _depends_on(r.dependant, get_admin))


def everything() -> list[tuple[str, str]]:
    return sorted((m, p) for m, p, _ in operations())


def concrete(path: str, **values: object) -> str:
    """The path with every parameter filled: from ``values``, else a sample the pattern accepts."""
    return path.format(**{**SAMPLE_PATH_VALUES, **{k: str(v) for k, v in values.items()}})
