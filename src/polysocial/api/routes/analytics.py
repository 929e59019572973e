"""Analytics: trending posts, a post's views per hour (for its author), API metrics (for administrators),
leaderboards, and this process's Prometheus metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from polysocial.api.deps import AdminDep, AppDep, CallerDep
from polysocial.api.responses import problems
from polysocial.api.routes.posts import PostId
from polysocial.domain.analytics import (
    BOARDS,
    MAX_SERIES_HOURS,
    MAX_TRENDING_HOURS,
    NAME,
    BoardMode,
    InvalidMeasurement,
    Point,
    Ranked,
    last_hours,
    top_posts_board,
)
from polysocial.domain.errors import DomainError, Forbidden, NotFound
from polysocial.services import posts
from polysocial.stores.documents.protocol import POSTS

router = APIRouter(tags=["analytics"])

BoardName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{0,63}$", description=f"one of {sorted(BOARDS)}")]


class TrendingPost(BaseModel):
    post_id: str
    views: int


class HourViews(BaseModel):
    hour: datetime
    views: int


class PostStats(BaseModel):
    post_id: str
    total: int
    hours: list[HourViews]


class LatencyRow(BaseModel):
    hour: datetime
    endpoint: str
    requests: int
    mean_ms: float
    p95_ms: float


class BufferPublic(BaseModel):
    recorded: int
    flushed: int
    dropped: int
    failed_flushes: int
    pending: int


class ApiMetrics(BaseModel):
    latency: list[LatencyRow]
    status_classes: dict[str, int]
    buffer: BufferPublic


class RankedPublic(BaseModel):
    member: str
    score: float
    rank: int

    @classmethod
    def of(cls, ranked: Ranked) -> RankedPublic:
        return cls(member=ranked.member, score=ranked.score, rank=ranked.rank)


class ScoreSubmit(BaseModel):
    score: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]


class ReadOnlyBoard(DomainError):
    status = 409
    title = "Board is fed by the platform"
    type_slug = "read-only-board"


def _board(name: str) -> str:
    if name not in BOARDS:
        raise NotFound(f"no leaderboard {name!r}; boards: {', '.join(sorted(BOARDS))}")
    return top_posts_board(datetime.now(UTC)) if not BOARDS[name].submitted else name


@router.get("/trending", response_model=list[TrendingPost], responses=problems(401, 422))
async def trending(
    app: AppDep,
    caller: CallerDep,
    hours: Annotated[int, Query(ge=1, le=MAX_TRENDING_HOURS, description="the current hour and the ones before")] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[TrendingPost]:
    start, end = last_hours(hours, datetime.now(UTC))
    found = await app.timeseries.trending(start, end, limit=limit)
    return [TrendingPost(post_id=t.post_id, views=t.views) for t in found]


@router.get("/posts/{post_id}/stats", response_model=PostStats, responses=problems(401, 403, 404, 422))
async def post_stats(
    post_id: PostId,
    app: AppDep,
    caller: CallerDep,
    hours: Annotated[int, Query(ge=1, le=MAX_SERIES_HOURS)] = 24,
) -> PostStats:
    post = await posts.live(app.documents, POSTS, post_id)
    if post["author_id"] != caller.user_id:
        raise Forbidden("only the author sees a post's statistics")
    start, end = last_hours(hours, datetime.now(UTC))
    series = await app.timeseries.views_per_hour(post_id, start, end)
    return PostStats(
        post_id=post_id, total=sum(h.count for h in series),
        hours=[HourViews(hour=h.hour, views=h.count) for h in series],
    )  # fmt: skip


@router.get("/admin/metrics/api", response_model=ApiMetrics, responses=problems(401, 403, 422))
async def api_metrics(
    app: AppDep, admin: AdminDep, hours: Annotated[int, Query(ge=1, le=MAX_SERIES_HOURS)] = 24
) -> ApiMetrics:
    start, end = last_hours(hours, datetime.now(UTC))
    rows = await app.timeseries.latency(start, end)
    stats = app.analytics.snapshot()
    return ApiMetrics(
        latency=[LatencyRow(hour=r.hour, endpoint=r.endpoint, requests=r.requests, mean_ms=r.mean_ms,
                            p95_ms=r.p95_ms) for r in rows],
        status_classes=await app.timeseries.status_counts(start, end),
        buffer=BufferPublic(recorded=stats.recorded, flushed=stats.flushed, dropped=stats.dropped,
                            failed_flushes=stats.failed_flushes, pending=stats.pending),
    )  # fmt: skip


@router.get("/leaderboards/{board}", response_model=list[RankedPublic], responses=problems(401, 404, 422))
async def leaderboard(
    board: BoardName, app: AppDep, caller: CallerDep, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> list[RankedPublic]:
    return [RankedPublic.of(r) for r in await app.kv.board_top(_board(board), limit=limit)]


@router.get("/leaderboards/{board}/me", response_model=RankedPublic, responses=problems(401, 404, 422))
async def my_rank(board: BoardName, app: AppDep, caller: CallerDep) -> RankedPublic:
    found = await app.kv.board_rank(_board(board), str(caller.user_id))
    if found is None:
        raise NotFound(f"you have no score on {board!r}")
    return RankedPublic.of(found)


@router.post(
    "/leaderboards/{board}/scores", response_model=RankedPublic, status_code=201, responses=problems(401, 404, 409, 422)
)
async def submit_score(board: BoardName, body: ScoreSubmit, app: AppDep, caller: CallerDep) -> RankedPublic:
    key = _board(board)
    if not BOARDS[board].submitted:
        raise ReadOnlyBoard(f"{board!r} is fed by the platform, not by scores")
    me = str(caller.user_id)
    await app.kv.board_submit(key, me, body.score, keep_best=BOARDS[board].mode is BoardMode.BEST)
    found = await app.kv.board_rank(key, me)
    assert found is not None
    return RankedPublic.of(found)


class PointCreate(BaseModel):
    model_config = {"extra": "forbid"}

    measurement: Annotated[str, Field(pattern=NAME.pattern)]
    tags: Annotated[dict[str, str], Field(max_length=8)] = {}
    fields: Annotated[dict[str, Annotated[float, Field(allow_inf_nan=False)]], Field(min_length=1, max_length=16)]
    at: datetime | None = Field(default=None, description="default: now; with a time zone")


class WindowMeanPublic(BaseModel):
    start: datetime
    mean: float | None


@router.post(
    "/admin/measurements", status_code=202, responses=problems(401, 403, 422),
    summary="Record generic points (the seed's sensor readings); buffered like every analytics event",
)  # fmt: skip
async def record_points(body: list[PointCreate], app: AppDep, admin: AdminDep) -> dict[str, int]:
    if len(body) > 1000:
        raise InvalidMeasurement("at most 1,000 points per request")
    now = datetime.now(UTC)
    points = []
    for p in body:
        if p.at is not None and p.at.tzinfo is None:
            raise InvalidMeasurement("give 'at' a time zone (2027-01-15T10:00:00Z)")
        points.append(Point(p.measurement, p.tags, p.fields, p.at or now))
    for point in points:
        app.analytics.record_point(point)
    return {"accepted": len(points)}


@router.get(
    "/admin/measurements/{measurement}/mean", response_model=list[WindowMeanPublic], responses=problems(401, 403, 422)
)
async def measurement_mean(
    measurement: Annotated[str, Path(pattern=NAME.pattern)],
    app: AppDep,
    admin: AdminDep,
    field: Annotated[str, Query(pattern=NAME.pattern)],
    hours: Annotated[int, Query(ge=1, le=MAX_SERIES_HOURS)] = 24,
    window_s: Annotated[int, Query(ge=60, le=86_400)] = 3600,
    tag: Annotated[list[str] | None, Query(description="name=value, repeatable", max_length=8)] = None,
) -> list[WindowMeanPublic]:
    tags = {}
    for item in tag or []:
        name, _, value = item.partition("=")
        tags[name] = value
    Point(measurement, tags, {field: 0.0}, datetime.now(UTC))  # names and values checked (422 if not)
    end = datetime.now(UTC)
    start = end - timedelta(hours=hours)
    start = datetime.fromtimestamp(start.timestamp() - start.timestamp() % window_s, UTC)
    found = await app.timeseries.window_mean(measurement, field, tags, start, end, window_s=window_s)
    return [WindowMeanPublic(start=w.start, mean=w.mean) for w in found]


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "the Prometheus text format"}},
    summary="This process's metrics (public, like /health: counts and durations per endpoint, no user data)",
)
async def prometheus(request: Request) -> Response:
    """This process's metrics in the Prometheus text format (for a scraper on the private network)."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
