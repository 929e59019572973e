"""Wallets in an open transaction: the money functions (one round trip each, their rules in SQL)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from polysocial.domain.wallet import LedgerEntry
from polysocial.stores.relational.txpart import TxPart


class PostgresWallet(TxPart):
    async def deposit(self, user_id: int, amount: Decimal) -> Decimal:
        return Decimal(
            await self._scalar("SELECT money_deposit(%s, %s, %s)", (user_id, amount, uuid.uuid4()), "the deposit")
        )

    async def transfer(self, from_user: int, to_user: int, amount: Decimal) -> Decimal:
        """Move ``amount``; the payer's balance after it."""
        query = "SELECT money_transfer(%s, %s, %s, %s)"
        return Decimal(await self._scalar(query, (from_user, to_user, amount, uuid.uuid4()), "the transfer"))

    async def balance(self, user_id: int) -> Decimal | None:
        rows = await self._rows("SELECT balance FROM users WHERE user_id = %s", (user_id,))
        return Decimal(rows[0]["balance"]) if rows else None

    async def ledger(self, user_id: int, *, before: int | None, limit: int) -> list[LedgerEntry]:
        rows = await self._rows(
            "SELECT entry_id, movement_id, amount, kind, reference, created_at FROM ledger_entries "
            "WHERE user_id = %s AND entry_id < %s ORDER BY entry_id DESC LIMIT %s",
            (user_id, before if before is not None else 2**63 - 1, limit),
        )
        return [
            LedgerEntry(
                r["entry_id"], str(r["movement_id"]), r["amount"], r["kind"], r["reference"] or "", r["created_at"]
            )
            for r in rows
        ]
