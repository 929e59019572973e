"""Operator views, for administrators only."""

from __future__ import annotations

from fastapi import APIRouter

from polysocial.api.deps import AdminDep, OperationsDep
from polysocial.api.responses import problems
from polysocial.api.schemas.admin import RelayStatusPublic

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
