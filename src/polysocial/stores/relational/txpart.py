"""What every capability of an open transaction shares: its connection, and the three ways it runs a query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection, errors, sql
from psycopg.rows import dict_row

from polysocial.stores.relational.rules import rule_broken

Params = Sequence[Any] | dict[str, Any]


class TxPart:
    """One capability's verbs (accounts, wallet, shop, ...) on the transaction's connection."""

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self.conn = conn

    async def _rows(self, query: str | sql.Composed, params: Params) -> list[dict[str, Any]]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchall()

    async def _one(self, query: str | sql.Composed, params: Params) -> dict[str, Any] | None:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            return await cur.fetchone()

    async def _scalar(self, query: str, params: Sequence[Any], subject: str) -> Any:
        """The first column of a money function's row; a rule it refused (RAISE EXCEPTION) becomes its domain
        error (rules.py), and the savepoint leaves the caller's transaction usable."""
        try:
            async with self.conn.transaction():
                cur = await self.conn.execute(query, params)
                row = await cur.fetchone()
        except errors.RaiseException as exc:
            raise rule_broken(exc, subject) from exc
        return row[0] if row else None
