"""Operator views, for administrators only."""

from __future__ import annotations

from fastapi import APIRouter

from polysocial.api.deps import AdminDep, OperationsDep
from polysocial.api.responses import problems
from polysocial.api.routes.users import UserId
from polysocial.api.schemas.admin import FeedRebuilt, RelayStatusPublic

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
