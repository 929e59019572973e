"""Wallets: balances, the ledger, deposits and transfers. Amounts travel as decimal strings ("12.50")."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from polysocial.api.schemas.common import Amount, Id, NextCursor, OldNextNumber, Strict
from polysocial.domain.wallet import LedgerEntry


class DepositCreate(Strict):
    amount: Amount


class TransferCreate(Strict):
    to_user_id: Id
    amount: Amount


class WalletPublic(BaseModel):
    user_id: int
    balance: Decimal


class LedgerEntryPublic(BaseModel):
    entry_id: int
    movement_id: str
    amount: Decimal = Field(description="negative when money left the wallet")
    kind: str
    reference: str
    created_at: datetime

    @classmethod
    def of(cls, entry: LedgerEntry) -> LedgerEntryPublic:
        return cls(
            entry_id=entry.entry_id,
            movement_id=entry.movement_id,
            amount=entry.amount,
            kind=entry.kind,
            reference=entry.reference,
            created_at=entry.created_at,
        )


class LedgerPage(BaseModel):
    items: list[LedgerEntryPublic]
    next_before: OldNextNumber = None
    next_cursor: NextCursor = None
