"""Wallets: my balance and its history, deposits, transfers to another user. Money moves only out of the caller's
own wallet; every movement is two ledger entries that sum to zero."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from polysocial.api.deps import CallerDep, WalletDep
from polysocial.api.idempotency import IdempotencyKey, idempotent, json_of, respond
from polysocial.api.pagination import NewestByNumber, listing
from polysocial.api.responses import problems
from polysocial.api.schemas.wallet import DepositCreate, LedgerEntryPublic, LedgerPage, TransferCreate, WalletPublic

router = APIRouter(tags=["wallet"])


@router.get("/wallet", response_model=WalletPublic, responses=problems(401), summary="My balance")
async def wallet(wallet: WalletDep, caller: CallerDep) -> WalletPublic:
    return WalletPublic(user_id=caller.user_id, balance=await wallet.balance(caller.user_id))


@router.get(
    "/wallet/ledger",
    response_model=LedgerPage,
    responses=listing(401, 422),
    summary="My ledger entries, newest first (negative amounts: money out)",
)
async def ledger(wallet: WalletDep, caller: CallerDep, paging: NewestByNumber) -> LedgerPage:
    entries = await wallet.ledger(caller.user_id, before=paging.start, limit=paging.limit)
    last = entries[-1].entry_id if len(entries) == paging.limit else None
    return LedgerPage(
        items=[LedgerEntryPublic.of(e) for e in entries], next_before=last, next_cursor=paging.next_cursor(last)
    )


def _my_balance(caller: CallerDep) -> Callable[[Decimal], Any]:
    return json_of(lambda balance: WalletPublic(user_id=caller.user_id, balance=balance))


@router.post(
    "/wallet/deposits",
    response_model=WalletPublic,
    status_code=201,
    responses=problems(401, 409, 422, 503),
    summary="Add money to my wallet (an Idempotency-Key makes a retry safe)",
)
async def deposit(
    body: DepositCreate, request: Request, wallet: WalletDep, caller: CallerDep, key: IdempotencyKey = None
) -> JSONResponse:
    reply = await wallet.deposit(
        caller.user_id, body.amount, request=idempotent(request, key, body), render=_my_balance(caller)
    )
    return respond(reply)


@router.post(
    "/transfers",
    response_model=WalletPublic,
    status_code=201,
    responses=problems(401, 404, 409, 422, 503),
    summary="Send money from my wallet to another user's; answers with my balance after it",
)
async def transfer(
    body: TransferCreate, request: Request, wallet: WalletDep, caller: CallerDep, key: IdempotencyKey = None
) -> JSONResponse:
    reply = await wallet.transfer(
        caller.user_id,
        body.to_user_id,
        body.amount,
        request=idempotent(request, key, body),
        render=_my_balance(caller),
    )
    return respond(reply)
