"""Idempotency keys for every request that moves money or stock (domain/idempotency.py), Stripe-style.

With a key, the request first claims it (a short transaction of its own: a lease of LEASE_S seconds, in its own
name), then its work and the record of its response commit together, so a crash leaves either both or neither; a
retry takes over a claim whose owner died once the lease has run out. The record is written only while the claim is
still the request's own, so a request that outlived its lease is rolled back rather than done twice. A refused
request (409 out of stock, ...) is recorded too: sending it again gets the same answer.

The recorded response is the one the caller saw, so the use case is handed a ``render`` that turns its result into
that body (a route passes its public schema); the same call serves the CLI, the demo and the bench without a key.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from polysocial import failpoints
from polysocial.domain.consistency import ISOLATION, MAX_ATTEMPTS, Operation
from polysocial.domain.errors import DomainError
from polysocial.domain.idempotency import LEASE_S, IdempotencyConflict, fingerprint
from polysocial.stores.relational.protocol import RelationalStore, RelationalTx

T = TypeVar("T")

Render = Callable[[Any], Any]  # a use case's result -> the JSON body the caller sees


def identity(value: Any) -> Any:
    """The default render: the use case's own result (for the CLI, the demo, the bench and tests)."""
    return value


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """A request sent with an Idempotency-Key: the key, and a fingerprint of what was asked (method, path, body)."""

    key: str
    request_hash: str
    path: str

    @classmethod
    def of(cls, key: str, method: str, path: str, body: Any) -> IdempotentRequest:
        return cls(key, fingerprint(method, path, body), path)


@dataclass(frozen=True, slots=True)
class Reply:
    """What to answer: the status and JSON body, and whether it is a recorded answer sent again."""

    status: int
    body: Any
    replayed: bool = False


def problem_body(exc: DomainError, path: str) -> dict[str, Any]:
    return {"status": exc.status, "title": exc.title, "slug": exc.type_slug, "detail": exc.detail, "path": path}


class TakenOver(IdempotencyConflict):
    """A retry with the same key took the claim over while this request was still running (it outlived its
    lease): this request's work is rolled back."""


class Idempotency:
    def __init__(self, relational: RelationalStore) -> None:
        self.relational = relational

    async def run(
        self,
        user_id: int,
        request: IdempotentRequest | None,
        operation: Operation,
        work: Callable[[RelationalTx], Awaitable[T]],
        render: Callable[[T], Any],
        *,
        status: int = 200,
    ) -> Reply:
        """``work`` in one transaction at the operation's isolation (retried on serialization failure), once per
        key (every time without one), answered with ``render(result)``."""
        isolation = ISOLATION[operation]
        if request is None:
            result = await self.relational.run(work, isolation=isolation, attempts=MAX_ATTEMPTS)
            return Reply(status, render(result))

        owner = uuid.uuid4()
        async with self.relational.transaction() as tx:
            record = await tx.idempotency.begin(
                user_id, request.key, request.request_hash, owner=owner, lease_s=LEASE_S
            )
        if not record.claimed:
            if not record.same_request:
                raise IdempotencyConflict("this Idempotency-Key was used with a different request; use a new key")
            if record.response_status is None:
                raise IdempotencyConflict("a request with this Idempotency-Key is still in progress; retry shortly")
            return Reply(record.response_status, record.response_body, replayed=True)

        failpoints.failpoint(failpoints.IDEMPOTENCY_AFTER_CLAIM)

        async def work_and_record(tx: RelationalTx) -> Any:
            shown = render(await work(tx))
            if not await tx.idempotency.finish(user_id, request.key, status, shown, owner=owner):
                raise TakenOver("this request outlived its claim and a retry with the same key took it over")
            return shown

        try:
            shown = await self.relational.run(work_and_record, isolation=isolation, attempts=MAX_ATTEMPTS)
        except TakenOver:
            raise  # the key is the retry's now: nothing of this request's may be recorded or released
        except DomainError as exc:
            if exc.status < 500:  # the request was judged: the same request gets the same judgement
                body = problem_body(exc, request.path)
                async with self.relational.transaction() as tx:
                    await tx.idempotency.finish(user_id, request.key, exc.status, body, owner=owner)
            else:
                await self._release(user_id, request.key, owner)
            raise
        except BaseException:
            await self._release(user_id, request.key, owner)  # nothing was decided: a retry with this key may run
            raise
        return Reply(status, shown)

    async def _release(self, user_id: int, key: str, owner: uuid.UUID) -> None:
        with contextlib.suppress(Exception):
            async with self.relational.transaction() as tx:
                await tx.idempotency.release(user_id, key, owner=owner)
