"""Wallets: amounts (Decimal with two places, never floats; the database holds them as NUMERIC and refuses a
negative balance whatever the code does), the ledger, and the ways a movement is refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from polysocial.domain.errors import Conflict, DomainError

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000.00")  # one movement; a sane limit, not a rule of accounting


class InvalidAmount(DomainError):
    status = 422
    title = "Invalid amount"
    type_slug = "invalid-amount"


def amount(value: Decimal) -> Decimal:
    """A positive amount of at most two decimal places and at most MAX_AMOUNT."""
    if not value.is_finite() or value <= 0:
        raise InvalidAmount("an amount must be greater than zero")
    if value != value.quantize(CENT):
        raise InvalidAmount("an amount has at most two decimal places")
    if value > MAX_AMOUNT:
        raise InvalidAmount(f"an amount is at most {MAX_AMOUNT}")
    return value.quantize(CENT)


class InsufficientFunds(Conflict):
    title = "Insufficient funds"
    type_slug = "insufficient-funds"


class SelfTransfer(DomainError):
    status = 422
    title = "Cannot transfer to yourself"
    type_slug = "self-transfer"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    entry_id: int
    movement_id: str
    amount: Decimal  # signed: negative leaves the wallet
    kind: str
    reference: str
    created_at: datetime
