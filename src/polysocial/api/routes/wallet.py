"""Wallets: my balance and its history, deposits, transfers to another user. Money moves only out of the caller's
own wallet; every movement is two ledger entries that sum to zero."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from polysocial.api.commerce_schemas import DepositCreate, LedgerEntryPublic, LedgerPage, TransferCreate, WalletPublic
from polysocial.api.deps import AppDep, CallerDep
from polysocial.api.idempotency import IdempotencyKey, once
from polysocial.api.responses import problems
from polysocial.domain.consistency import Operation
from polysocial.domain.errors import NotFound
from polysocial.services import commerce
from polysocial.services.social import MAX_PAGE

router = APIRouter(tags=["wallet"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size, at most {MAX_PAGE}")]
BeforeEntry = Annotated[int | None, Query(ge=1, le=2**63 - 1, description="the last entry_id of the previous page")]


@router.get("/wallet", response_model=WalletPublic, responses=problems(401))
async def wallet(app: AppDep, caller: CallerDep) -> WalletPublic:
    async with app.relational.transaction() as tx:
        balance = await tx.balance(caller.user_id)
    if balance is None:
        raise NotFound("your account no longer exists")
    return WalletPublic(user_id=caller.user_id, balance=balance)


@router.get("/wallet/ledger", response_model=LedgerPage, responses=problems(401, 422))
async def ledger(app: AppDep, caller: CallerDep, before: BeforeEntry = None, limit: Limit = 20) -> LedgerPage:
    async with app.relational.transaction() as tx:
        entries = await tx.ledger(caller.user_id, before=before, limit=limit)
    return LedgerPage(
        items=[LedgerEntryPublic.of(e) for e in entries],
        next_before=entries[-1].entry_id if len(entries) == limit else None,
    )


@router.post("/wallet/deposits", response_model=WalletPublic, status_code=201, responses=problems(401, 409, 422, 503))
async def deposit(
    body: DepositCreate, request: Request, app: AppDep, caller: CallerDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await once(
        app, caller, request, key, body=body.model_dump(mode="json"), operation=Operation.DEPOSIT,
        work=commerce.deposit_work(caller.user_id, body.amount),
        render=lambda balance: WalletPublic(user_id=caller.user_id, balance=balance), status_code=201,
    )  # fmt: skip


@router.post(
    "/transfers",
    response_model=WalletPublic,
    status_code=201,
    responses=problems(401, 404, 409, 422, 503),
    summary="Send money from my wallet to another user's; answers with my balance after it",
)
async def transfer(
    body: TransferCreate, request: Request, app: AppDep, caller: CallerDep, key: IdempotencyKey = None
) -> JSONResponse:
    return await once(
        app, caller, request, key, body=body.model_dump(mode="json"), operation=Operation.TRANSFER,
        work=commerce.transfer_work(caller.user_id, body.to_user_id, body.amount),
        render=lambda balance: WalletPublic(user_id=caller.user_id, balance=balance), status_code=201,
    )  # fmt: skip
