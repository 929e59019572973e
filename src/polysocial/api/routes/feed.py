"""The home feed: the caller's followees' posts and their own, newest first, a cursor page at a time."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from polysocial.api.deps import CallerDep, FeedsDep
from polysocial.api.lean import lean_route, newest_by_id
from polysocial.api.pagination import NewestById, listing
from polysocial.api.schemas.feed import FeedPage
from polysocial.services.feed import FeedPage as Page
from polysocial.services.feed import Feeds

router = APIRouter(tags=["feed"])

DEGRADED_HEADER = "X-Feed-Degraded"

DEGRADED = {
    DEGRADED_HEADER: {
        "description": "present when the timelines were unavailable and the page came, slower, from the sources "
        "of truth; says why",
        "schema": {"type": "string"},
    }
}


def _answer(page: Page, answer: Response) -> Response:
    if page.degraded is not None:
        answer.headers[DEGRADED_HEADER] = page.degraded
    return answer


async def home_feed(feeds: FeedsDep, caller: CallerDep, paging: NewestById) -> Response:
    page = await feeds.home(caller.user_id, before=paging.start, limit=paging.limit)
    return _answer(page, paging.rendered_items(page.rendered, page.next_before))  # FeedPage


async def lean_home_feed(request: Request) -> Response | None:
    """home_feed for a plain query string and a live session's bearer token, without FastAPI's dependency solving
    (api/lean.py); None for anything else, which home_feed answers."""
    paging = await newest_by_id(request)
    if paging is None:
        return None
    feeds: Feeds = request.app.state.polysocial.services.feeds
    page = await feeds.home(paging.caller.user_id, before=paging.start, limit=paging.limit)
    return _answer(page, paging.rendered_items(page.rendered, page.next_before))


router.add_api_route(
    "/feed",
    home_feed,
    methods=["GET"],
    response_model=FeedPage,
    responses=listing(401, 422, 503, headers=DEGRADED),
    summary="My home feed: my followees' posts and mine, newest first",
    route_class_override=lean_route(lean_home_feed),
)
