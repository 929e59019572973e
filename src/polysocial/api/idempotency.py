"""The Idempotency-Key header for every POST that moves money or stock, and the reply it gets. The rule itself
(claim, work and record in one transaction, replay) is the service layer's (services/idempotency.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from polysocial.api.errors import problem
from polysocial.domain.idempotency import MAX_KEY_LENGTH
from polysocial.services.idempotency import IdempotentRequest, Reply

T = TypeVar("T")

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=r"^[\x21-\x7e]+$",
        description="any unique string (a UUID); the same key with the same request returns the first response "
        "again, for 24 hours",
    ),
]
REPLAYED_HEADER = "Idempotent-Replayed"


def idempotent(request: Request, key: str | None, body: BaseModel | None = None) -> IdempotentRequest | None:
    """The request's identity for its key: method, path and body (None without a key)."""
    if key is None:
        return None
    return IdempotentRequest.of(key, request.method, request.url.path, body.model_dump(mode="json") if body else None)


def json_of(render: Callable[[T], BaseModel]) -> Callable[[T], Any]:
    """A use case's result -> the JSON body of its public schema (what is sent, and recorded for replays)."""
    return lambda result: render(result).model_dump(mode="json")


def respond(reply: Reply) -> JSONResponse:
    if not reply.replayed:
        return JSONResponse(reply.body, status_code=reply.status)
    if reply.status >= 400:
        body = reply.body
        replayed = problem(reply.status, body["title"], body["detail"], slug=body["slug"], instance=body["path"])
        replayed.headers[REPLAYED_HEADER] = "true"
        return replayed
    return JSONResponse(reply.body, status_code=reply.status, headers={REPLAYED_HEADER: "true"})
