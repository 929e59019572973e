"""Analytics: trending posts, a post's views per hour (for its author), API metrics (for administrators),
leaderboards, and this process's Prometheus metrics."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from polysocial.api.deps import AdminDep, AnalyticsDep, CallerDep
from polysocial.api.responses import problems
from polysocial.api.routes.posts import PostId
from polysocial.domain.analytics import (
    BOARDS,
    MAX_SERIES_HOURS,
    MAX_TRENDING_HOURS,
    NAME,
    InvalidMeasurement,
    Point,
    Ranked,
)
from polysocial.domain.errors import PolysocialError

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


@router.get(
    "/trending",
    response_model=list[TrendingPost],
    responses=problems(401, 422),
    summary="The most viewed posts of the last hours",
)
async def trending(
    analytics: AnalyticsDep,
    caller: CallerDep,
    hours: Annotated[int, Query(ge=1, le=MAX_TRENDING_HOURS, description="the current hour and the ones before")] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[TrendingPost]:
    found = await analytics.trending(hours=hours, limit=limit)
    return [TrendingPost(post_id=t.post_id, views=t.views) for t in found]


@router.get(
    "/posts/{post_id}/stats",
    response_model=PostStats,
    responses=problems(401, 403, 404, 422),
    summary="My post's views, per hour",
)
async def post_stats(
    post_id: PostId,
    analytics: AnalyticsDep,
    caller: CallerDep,
    hours: Annotated[int, Query(ge=1, le=MAX_SERIES_HOURS)] = 24,
) -> PostStats:
    series = await analytics.post_views(post_id, caller.user_id, hours=hours)
    return PostStats(
        post_id=post_id,
        total=sum(h.count for h in series),
        hours=[HourViews(hour=h.hour, views=h.count) for h in series],
    )


@router.get(
    "/admin/metrics/api",
    response_model=ApiMetrics,
    responses=problems(401, 403, 422),
    summary="Requests and latencies per endpoint and hour (administrators)",
)
async def api_metrics(
    analytics: AnalyticsDep, admin: AdminDep, hours: Annotated[int, Query(ge=1, le=MAX_SERIES_HOURS)] = 24
) -> ApiMetrics:
    report = await analytics.api_report(hours=hours)
    stats = report.buffer
    latency = [
        LatencyRow(hour=r.hour, endpoint=r.endpoint, requests=r.requests, mean_ms=r.mean_ms, p95_ms=r.p95_ms)
        for r in report.latency
    ]
    buffer = BufferPublic(
        recorded=stats.recorded,
        flushed=stats.flushed,
        dropped=stats.dropped,
        failed_flushes=stats.failed_flushes,
        pending=stats.pending,
    )
    return ApiMetrics(latency=latency, status_classes=report.status_classes, buffer=buffer)


@router.get(
    "/leaderboards/{board}",
    response_model=list[RankedPublic],
    responses=problems(401, 404, 422),
    summary="A leaderboard's top scores",
)
async def leaderboard(
    board: BoardName, analytics: AnalyticsDep, caller: CallerDep, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> list[RankedPublic]:
    return [RankedPublic.of(r) for r in await analytics.leaderboard(board, limit=limit)]


@router.get(
    "/leaderboards/{board}/me",
    response_model=RankedPublic,
    responses=problems(401, 404, 422),
    summary="My rank and score on a leaderboard",
)
async def my_rank(board: BoardName, analytics: AnalyticsDep, caller: CallerDep) -> RankedPublic:
    return RankedPublic.of(await analytics.rank(board, caller.user_id))


@router.post(
    "/leaderboards/{board}/scores",
    response_model=RankedPublic,
    status_code=201,
    responses=problems(401, 404, 409, 422),
    summary="Submit a score to a leaderboard",
)
async def submit_score(board: BoardName, body: ScoreSubmit, analytics: AnalyticsDep, caller: CallerDep) -> RankedPublic:
    return RankedPublic.of(await analytics.submit_score(board, caller.user_id, body.score))


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
    "/admin/measurements",
    status_code=202,
    responses=problems(401, 403, 422),
    summary="Record generic points (the seed's sensor readings); buffered like every analytics event",
)
async def record_points(body: list[PointCreate], analytics: AnalyticsDep, admin: AdminDep) -> dict[str, int]:
    now = datetime.now(UTC)
    points = []
    for p in body:
        if p.at is not None and p.at.tzinfo is None:
            raise InvalidMeasurement("give 'at' a time zone (2027-01-15T10:00:00Z)")
        points.append(Point(p.measurement, p.tags, p.fields, p.at or now))
    return {"accepted": analytics.record_points(points)}


@router.get(
    "/admin/measurements/{measurement}/mean",
    response_model=list[WindowMeanPublic],
    responses=problems(401, 403, 422),
    summary="A measurement's mean per time window (administrators)",
)
async def measurement_mean(
    measurement: Annotated[str, Path(pattern=NAME.pattern)],
    analytics: AnalyticsDep,
    admin: AdminDep,
    field: Annotated[str, Query(pattern=NAME.pattern)],
    hours: Annotated[int, Query(ge=1, le=MAX_SERIES_HOURS)] = 24,
    window_s: Annotated[int, Query(ge=60, le=86_400)] = 3600,
    tag: Annotated[list[str] | None, Query(description="name=value, repeatable", max_length=8)] = None,
) -> list[WindowMeanPublic]:
    tags = dict(item.partition("=")[::2] for item in tag or [])
    found = await analytics.window_mean(measurement, field, tags, hours=hours, window_s=window_s)
    return [WindowMeanPublic(start=w.start, mean=w.mean) for w in found]


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "the Prometheus text format"}},
    summary="The server's metrics, every worker's (public, like /health: counts and durations per endpoint, no user "
    "data)",
)
async def prometheus(request: Request) -> Response:
    """The server's metrics in the Prometheus text format (for a scraper on the private network)."""
    metrics = request.app.state.metrics
    with contextlib.suppress(PolysocialError):  # PostgreSQL down: the rest of the figures still answer
        await metrics.refresh_platform()
    metrics.refresh_worker()
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
