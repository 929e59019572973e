"""The read side of analytics: trending posts, a post's views per hour (for its author), API metrics (for
administrators), leaderboards, generic measurements. Writes go through the AnalyticsBuffer (services/analytics.py):
never a round trip per event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from polysocial.domain.analytics import (
    BOARDS,
    MAX_POINTS_PER_CALL,
    BoardMode,
    BufferStats,
    HourCount,
    InvalidMeasurement,
    Latency,
    Point,
    Ranked,
    Trending,
    WindowMean,
    last_hours,
    top_posts_board,
)
from polysocial.domain.errors import DomainError, Forbidden, NotFound
from polysocial.services.analytics import AnalyticsBuffer
from polysocial.services.posts import live
from polysocial.stores.documents.protocol import POSTS, DocumentStore
from polysocial.stores.keyvalue.protocol import KeyValueStore
from polysocial.stores.timeseries.protocol import TimeSeriesStore


class ReadOnlyBoard(DomainError):
    status = 409
    title = "Board is fed by the platform"
    type_slug = "read-only-board"


@dataclass(frozen=True, slots=True)
class ApiReport:
    latency: list[Latency]
    status_classes: dict[str, int]
    buffer: BufferStats


def board_key(name: str, now: datetime) -> str:
    """The key of a named board: today's top posts, or a board fed by submitted scores."""
    if name not in BOARDS:
        raise NotFound(f"no leaderboard {name!r}; boards: {', '.join(sorted(BOARDS))}")
    return top_posts_board(now) if not BOARDS[name].submitted else name


class Analytics:
    def __init__(
        self, timeseries: TimeSeriesStore, keyvalue: KeyValueStore, documents: DocumentStore, buffer: AnalyticsBuffer
    ) -> None:
        self.timeseries = timeseries
        self.keyvalue = keyvalue
        self.documents = documents
        self.buffer = buffer

    async def trending(self, *, hours: int, limit: int) -> list[Trending]:
        start, end = last_hours(hours, datetime.now(UTC))
        return await self.timeseries.trending(start, end, limit=limit)

    async def post_views(self, post_id: str, caller: int, *, hours: int) -> list[HourCount]:
        """A post's views per hour, for its author only."""
        post = await live(self.documents, POSTS, post_id)
        if post["author_id"] != caller:
            raise Forbidden("only the author sees a post's statistics")
        start, end = last_hours(hours, datetime.now(UTC))
        return await self.timeseries.views_per_hour(post_id, start, end)

    async def api_report(self, *, hours: int) -> ApiReport:
        start, end = last_hours(hours, datetime.now(UTC))
        latency = await self.timeseries.latency(start, end)
        return ApiReport(latency, await self.timeseries.status_counts(start, end), self.buffer.snapshot())

    # -- leaderboards -----------------------------------------------------------------------------------------------

    async def leaderboard(self, board: str, *, limit: int) -> list[Ranked]:
        return await self.keyvalue.board_top(board_key(board, datetime.now(UTC)), limit=limit)

    async def rank(self, board: str, user_id: int) -> Ranked:
        found = await self.keyvalue.board_rank(board_key(board, datetime.now(UTC)), str(user_id))
        if found is None:
            raise NotFound(f"you have no score on {board!r}")
        return found

    async def submit_score(self, board: str, user_id: int, score: float) -> Ranked:
        key = board_key(board, datetime.now(UTC))
        if not BOARDS[board].submitted:
            raise ReadOnlyBoard(f"{board!r} is fed by the platform, not by scores")
        me = str(user_id)
        await self.keyvalue.board_submit(key, me, score, keep_best=BOARDS[board].mode is BoardMode.BEST)
        found = await self.keyvalue.board_rank(key, me)
        assert found is not None  # submitted just now
        return found

    # -- generic measurements (the seed's sensor readings) -----------------------------------------------------------

    def record_points(self, points: Sequence[Point]) -> int:
        """Buffer the points; how many were accepted (all, or an error for the whole request)."""
        if len(points) > MAX_POINTS_PER_CALL:
            raise InvalidMeasurement(f"at most {MAX_POINTS_PER_CALL:,} points per request")
        for point in points:
            self.buffer.record_point(point)
        return len(points)

    async def window_mean(
        self, measurement: str, field: str, tags: dict[str, str], *, hours: int, window_s: int
    ) -> list[WindowMean]:
        Point(measurement, tags, {field: 0.0}, datetime.now(UTC))  # names and values checked (422 if not)
        end = datetime.now(UTC)
        start = end - timedelta(hours=hours)
        start = datetime.fromtimestamp(start.timestamp() - start.timestamp() % window_s, UTC)
        return await self.timeseries.window_mean(measurement, field, tags, start, end, window_s=window_s)
