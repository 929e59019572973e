"""Idempotency keys in an open transaction: claim, record the response, release."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.types.json import Jsonb

from polysocial.domain.idempotency import IdempotencyRecord
from polysocial.stores.relational.txpart import TxPart

IDEMPOTENCY_TTL_S = 24 * 3600


class PostgresIdempotency(TxPart):
    async def begin(
        self, user_id: int, key: str, request_hash: str, *, owner: uuid.UUID, lease_s: float
    ) -> IdempotencyRecord:
        """Claim ``key`` for ``owner`` (a new key, or one whose owner's lease ran out with no answer), or report
        what became of the request that holds it."""
        await self.conn.execute(
            "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys "
            "WHERE created_at < now() - make_interval(secs => %s) LIMIT 100)",
            (IDEMPOTENCY_TTL_S,),
        )
        rows = await self._rows(
            "INSERT INTO idempotency_keys AS k (user_id, key, request_hash, owner, locked_until) "
            "VALUES (%(user)s, %(key)s, %(hash)s, %(owner)s, clock_timestamp() + make_interval(secs => %(lease)s)) "
            "ON CONFLICT (user_id, key) DO UPDATE SET owner = excluded.owner, locked_until = excluded.locked_until "
            "  WHERE k.response_status IS NULL AND k.locked_until < clock_timestamp() "
            "    AND k.request_hash = excluded.request_hash "
            "RETURNING true AS claimed",
            {"user": user_id, "key": key, "hash": request_hash, "owner": owner, "lease": lease_s},
        )
        if rows:
            return IdempotencyRecord(claimed=True, same_request=True)
        found = await self._rows(
            "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE user_id = %s AND key = %s",
            (user_id, key),
        )
        row = found[0]
        return IdempotencyRecord(
            claimed=False,
            same_request=row["request_hash"] == request_hash,
            response_status=row["response_status"],
            response_body=row["response_body"],
        )

    async def finish(self, user_id: int, key: str, status: int, body: Any, *, owner: uuid.UUID) -> bool:
        """Record the answer if ``owner`` still holds the key; False if a retry took it over."""
        cur = await self.conn.execute(
            "UPDATE idempotency_keys SET response_status = %s, response_body = %s, locked_until = NULL "
            "WHERE user_id = %s AND key = %s AND owner = %s AND response_status IS NULL",
            (status, Jsonb(body), user_id, key, owner),
        )
        return cur.rowcount == 1

    async def release(self, user_id: int, key: str, *, owner: uuid.UUID) -> None:
        await self.conn.execute(
            "DELETE FROM idempotency_keys WHERE user_id = %s AND key = %s AND owner = %s AND response_status IS NULL",
            (user_id, key, owner),
        )
