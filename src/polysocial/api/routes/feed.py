"""The home feed: the caller's followees' posts and their own, newest first, a cursor page at a time."""

from __future__ import annotations

from fastapi import APIRouter, Response

from polysocial.api.deps import CallerDep, FeedsDep
from polysocial.api.pagination import NewestById, listing
from polysocial.api.schemas.feed import FeedPage

router = APIRouter(tags=["feed"])

DEGRADED_HEADER = "X-Feed-Degraded"

DEGRADED = {
    DEGRADED_HEADER: {
        "description": "present when the timelines were unavailable and the page came, slower, from the sources "
        "of truth; says why",
        "schema": {"type": "string"},
    }
}


@router.get(
    "/feed",
    response_model=FeedPage,
    responses=listing(401, 422, 503, headers=DEGRADED),
    summary="My home feed: my followees' posts and mine, newest first",
)
async def home_feed(feeds: FeedsDep, caller: CallerDep, paging: NewestById) -> Response:
    page = await feeds.home(caller.user_id, before=paging.start, limit=paging.limit)
    answer = paging.rendered(page.items, page.next_before)  # FeedPage, rendered once
    if page.degraded is not None:
        answer.headers[DEGRADED_HEADER] = page.degraded
    return answer
