"""HTTP caching of single-resource reads (a post, an article, a profile, my account): a weak ``ETag`` of the
representation, ``If-None-Match`` answered with ``304 Not Modified`` (no body), and ``Cache-Control`` saying who may
keep it. These answers are per caller (``user_has_liked``, what a signed-in user may see): ``private, no-cache``, so
a browser keeps them and revalidates each time, and no shared cache keeps them at all (``Vary: Authorization``).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import Header, Response
from pydantic import BaseModel

PRIVATE = "private, no-cache"
NEVER = "no-store"  # health: a status must never be served from a cache

IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        max_length=2048,
        description="an ETag this resource gave before: 304 with no body if it is still current",
    ),
]


def etag_of(body: bytes) -> str:
    """Weak: equal for equal JSON bytes, which is all a client can compare."""
    return 'W/"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison against each tag the header lists (or ``*``)."""
    if not if_none_match:
        return False
    opaque = etag.removeprefix("W/")
    tags = [t.strip() for t in if_none_match.split(",")]
    return any(tag == "*" or tag.removeprefix("W/") == opaque for tag in tags)


def conditional(model: BaseModel, if_none_match: str | None) -> Response:
    """The model as JSON with its ETag, or a 304 when the client's copy is current."""
    body = model.model_dump_json(by_alias=True).encode()
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": PRIVATE, "Vary": "Authorization"}
    if matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


# For the OpenAPI document of each conditional read.
def conditional_responses(problems: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "The resource",
            "headers": {
                "ETag": {"description": "a weak validator for If-None-Match", "schema": {"type": "string"}},
                "Cache-Control": {"description": PRIVATE, "schema": {"type": "string"}},
            },
        },
        304: {"description": "Not modified: the If-None-Match ETag is still current (no body)"},
        **problems,
    }
