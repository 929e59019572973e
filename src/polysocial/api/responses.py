"""OpenAPI descriptions of the problem+json error responses, so that the schema documents every status a route can
answer (schemathesis checks that it does)."""

from __future__ import annotations

from typing import Any

from polysocial.api.schemas.common import Problem

DESCRIPTIONS = {
    400: "Bad request",
    401: "No session, or the session has ended (sign in with POST /auth/login)",
    403: "The session may not do this",
    404: "No such resource",
    409: "Conflicts with the current state",
    422: "The request is not valid; `errors` lists each problem",
    429: "Too many requests; see Retry-After",
    503: "A store is unavailable; see Retry-After",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": Problem,
            "description": DESCRIPTIONS[status],
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
