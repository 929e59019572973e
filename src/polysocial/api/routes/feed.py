"""The home feed: the caller's followees' posts and their own, newest first, a cursor page at a time."""

from __future__ import annotations

from fastapi import APIRouter, Response

from polysocial.api.deps import CallerDep, FeedsDep
from polysocial.api.responses import problems
from polysocial.api.routes.posts import Before, Limit
from polysocial.api.schemas.feed import FeedPage

router = APIRouter(tags=["feed"])

DEGRADED_HEADER = "X-Feed-Degraded"

OK = {
    "description": "A page of the feed",
    "headers": {
        DEGRADED_HEADER: {
            "description": "present when the timelines were unavailable and the page came, slower, from the sources "
            "of truth; says why",
            "schema": {"type": "string"},
        }
    },
}


@router.get("/feed", response_model=FeedPage, responses={200: OK, **problems(401, 422, 503)})
async def home_feed(
    feeds: FeedsDep, caller: CallerDep, response: Response, before: Before = None, limit: Limit = 20
) -> FeedPage:
    page = await feeds.home(caller.user_id, before=before, limit=limit)
    if page.degraded is not None:
        response.headers[DEGRADED_HEADER] = page.degraded
    # One validation for the page: the items are checked inside pydantic-core, not by one Python call each.
    return FeedPage.model_validate({"items": page.items, "next_before": page.next_before})
