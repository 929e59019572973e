"""Operator views, for administrators only."""

from __future__ import annotations

from fastapi import APIRouter, status

from polysocial.api.deps import AdminDep, ErasureDep, OperationsDep
from polysocial.api.responses import problems
from polysocial.api.routes.users import UserId
from polysocial.api.schemas.admin import (
    AccountExport,
    ErasureProgress,
    ErasureStarted,
    FeedRebuilt,
    RelayStatusPublic,
)

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get(
    "/relay",
    response_model=RelayStatusPublic,
    responses=problems(401, 403),
    summary="The outbox relay: pending events, lag, dead letters",
)
async def relay_status(operations: OperationsDep, admin: AdminDep) -> RelayStatusPublic:
    status = await operations.relay_status()
    return RelayStatusPublic(
        outbox_pending=status.outbox.pending,
        outbox_lag_s=round(status.outbox.oldest_age_s, 3),
        dead_letters=status.outbox.dead_letters,
        document_events_pending=status.document_pending,
    )


@router.post(
    "/feeds/{user_id}/rebuild",
    response_model=FeedRebuilt,
    responses=problems(401, 403, 404, 422),
    summary="Rebuild one user's home and user timelines from the sources of truth now",
)
async def rebuild_feed(user_id: UserId, operations: OperationsDep, admin: AdminDep) -> FeedRebuilt:
    posts = await operations.rebuild_feed(user_id)
    return FeedRebuilt(user_id=user_id, rebuilt=posts is not None, home_posts=posts or 0)


@router.get(
    "/accounts/{user_id}/export",
    response_model=AccountExport,
    responses=problems(401, 403, 404, 422),
    summary="Everything the platform holds about an account, from every store",
)
async def export_account(user_id: UserId, erasure: ErasureDep, admin: AdminDep) -> AccountExport:
    return AccountExport.model_validate(await erasure.export(user_id))


@router.delete(
    "/accounts/{user_id}",
    response_model=ErasureStarted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problems(401, 403, 404, 422),
    summary="Erase an account from every store (the relay finishes it; the ledger stays, anonymised)",
)
async def delete_account(user_id: UserId, erasure: ErasureDep, admin: AdminDep) -> ErasureStarted:
    started = await erasure.delete(user_id)
    return ErasureStarted(
        user_id=user_id,
        follows_ended=started.follows_ended,
        again=started.again,
        progress=f"/admin/accounts/{user_id}/erasure",
    )


@router.get(
    "/accounts/{user_id}/erasure",
    response_model=ErasureProgress,
    responses=problems(401, 403, 404, 422),
    summary="What an erased account still leaves in each store (nothing, once complete)",
)
async def erasure_progress(user_id: UserId, erasure: ErasureDep, admin: AdminDep) -> ErasureProgress:
    left = await erasure.progress(user_id)
    return ErasureProgress(user_id=user_id, complete=left.complete, remaining=left.found)
