"""The wallet: my balance and its history, deposits, and transfers out of my own wallet. Each movement runs in one
PostgreSQL transaction at the isolation its operation needs (domain/consistency.py), retried on serialization
failure and deadlock; the rules live in the database (CHECK constraints, the money functions), and every movement
takes an optional Idempotency-Key (services/idempotency.py)."""

from __future__ import annotations

from decimal import Decimal

from polysocial.domain.consistency import Operation
from polysocial.domain.errors import NotFound
from polysocial.domain.wallet import LedgerEntry, SelfTransfer, amount
from polysocial.services.idempotency import Idempotency, IdempotentRequest, Render, Reply, identity
from polysocial.stores.relational.protocol import RelationalStore, RelationalTx


class Wallet:
    """My balance and its history, deposits, and transfers out of my own wallet."""

    def __init__(self, relational: RelationalStore, idempotency: Idempotency) -> None:
        self.relational = relational
        self.idempotency = idempotency

    async def balance(self, user_id: int) -> Decimal:
        found = await self.relational.balance(user_id)
        if found is None:
            raise NotFound("your account no longer exists")
        return found

    async def ledger(self, user_id: int, *, before: int | None, limit: int) -> list[LedgerEntry]:
        async with self.relational.reading() as tx:
            return await tx.wallet.ledger(user_id, before=before, limit=limit)

    async def deposit(
        self, user_id: int, value: Decimal, *, request: IdempotentRequest | None = None, render: Render = identity
    ) -> Reply:
        checked = amount(value)

        async def work(tx: RelationalTx) -> Decimal:
            return await tx.wallet.deposit(user_id, checked)

        return await self.idempotency.run(user_id, request, Operation.DEPOSIT, work, render, status=201)

    async def transfer(
        self,
        from_user: int,
        to_user: int,
        value: Decimal,
        *,
        request: IdempotentRequest | None = None,
        render: Render = identity,
    ) -> Reply:
        """Money from the caller's wallet to another user's; the reply carries the caller's balance after it."""
        checked = amount(value)
        if from_user == to_user:
            raise SelfTransfer("you cannot transfer money to yourself")

        async def work(tx: RelationalTx) -> Decimal:
            return await tx.wallet.transfer(from_user, to_user, checked)

        return await self.idempotency.run(from_user, request, Operation.TRANSFER, work, render, status=201)
