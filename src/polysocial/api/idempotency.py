"""The Idempotency-Key header for every POST that moves money or stock (domain/idempotency.py).

With a key, the request first claims it (a short transaction of its own), then its work and the record of its
response commit together, so a crash leaves either both or neither (and an unfinished claim expires after a
minute). A refused request (409 out of stock, ...) is recorded too: sending it again gets the same answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from polysocial.api.deps import Caller
from polysocial.api.errors import problem
from polysocial.bootstrap import App
from polysocial.domain.consistency import ISOLATION, MAX_ATTEMPTS, Operation
from polysocial.domain.errors import DomainError
from polysocial.domain.idempotency import LOCK_S, MAX_KEY_LENGTH, IdempotencyConflict, fingerprint
from polysocial.stores.relational.protocol import RelationalTx

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


def _problem_body(exc: DomainError, path: str) -> dict[str, Any]:
    return {"status": exc.status, "title": exc.title, "slug": exc.type_slug, "detail": exc.detail, "path": path}


def _replay(status: int, body: Any) -> JSONResponse:
    if status >= 400:
        replayed = problem(status, body["title"], body["detail"], slug=body["slug"], instance=body["path"])
        replayed.headers[REPLAYED_HEADER] = "true"
        return replayed
    return JSONResponse(body, status_code=status, headers={REPLAYED_HEADER: "true"})


async def once(
    app: App,
    caller: Caller,
    request: Request,
    key: str | None,
    *,
    body: Any,
    operation: Operation,
    work: Callable[[RelationalTx], Awaitable[T]],
    render: Callable[[T], BaseModel],
    status_code: int = 200,
) -> JSONResponse:
    """Run ``work`` once per idempotency key (every time without one) and answer with ``render(result)``."""
    relational = app.relational
    isolation = ISOLATION[operation]
    if key is None:
        result = await relational.run(work, isolation=isolation, attempts=MAX_ATTEMPTS)
        return JSONResponse(render(result).model_dump(mode="json"), status_code=status_code)

    user = caller.user_id
    request_hash = fingerprint(request.method, request.url.path, body)
    async with relational.transaction() as tx:
        record = await tx.idempotency_begin(user, key, request_hash, lock_s=LOCK_S)
    if not record.claimed:
        if not record.same_request:
            raise IdempotencyConflict("this Idempotency-Key was used with a different request; use a new key")
        if record.response_status is None:
            raise IdempotencyConflict("a request with this Idempotency-Key is still in progress; retry shortly")
        return _replay(record.response_status, record.response_body)

    async def work_and_record(tx: RelationalTx) -> Any:
        shown = render(await work(tx)).model_dump(mode="json")
        await tx.idempotency_finish(user, key, status_code, shown)
        return shown

    try:
        shown = await relational.run(work_and_record, isolation=isolation, attempts=MAX_ATTEMPTS)
    except DomainError as exc:
        if exc.status < 500:  # the request was judged: the same request gets the same judgement
            async with relational.transaction() as tx:
                await tx.idempotency_finish(user, key, exc.status, _problem_body(exc, request.url.path))
        else:
            await _release(app, user, key)
        raise
    except BaseException:
        await _release(app, user, key)  # nothing was decided: a retry with this key may run
        raise
    return JSONResponse(shown, status_code=status_code)


async def _release(app: App, user: int, key: str) -> None:
    with contextlib.suppress(Exception):
        async with app.relational.transaction() as tx:
            await tx.idempotency_release(user, key)
