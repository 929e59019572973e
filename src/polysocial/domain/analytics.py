"""Analytics: post views, API request metrics, generic measurements, trending, leaderboards.

Series cardinality (docs/ARCHITECTURE.md): a viewer is never a tag (one series per viewer and post would explode);
``post_id`` is a tag only in the hourly rollup of views, which lives under a bounded retention policy; API metrics
tag only low-cardinality values (endpoint template, method, status class).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from polysocial.domain.errors import DomainError

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
TAG_VALUE = re.compile(r"^[A-Za-z0-9_./{}:-]{1,128}$")
MAX_TRENDING_HOURS = 24 * 7
MAX_SERIES_HOURS = 24 * 31
MAX_POINTS_PER_CALL = 1_000


class InvalidMeasurement(DomainError):
    status = 422
    title = "Invalid measurement"
    type_slug = "invalid-measurement"


@dataclass(frozen=True, slots=True)
class PostView:
    post_id: str
    viewer: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ApiRequest:
    endpoint: str  # the route's template, never the concrete path: /posts/{post_id}
    method: str
    status: int
    duration_ms: float
    at: datetime

    @property
    def status_class(self) -> str:
        return self.class_of(self.status)

    @staticmethod
    def class_of(status: int) -> str:
        return f"{status // 100}xx"


@dataclass(frozen=True, slots=True)
class Point:
    """A generic measurement, as the seed's sensor readings: tags name the series, fields carry the values."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, float]
    at: datetime

    def __post_init__(self) -> None:
        if not NAME.match(self.measurement):
            raise InvalidMeasurement(f"measurement {self.measurement!r}: a letter, then letters, digits or _")
        for name in [*self.tags, *self.fields]:
            if not NAME.match(name):
                raise InvalidMeasurement(f"tag or field name {name!r}: a letter, then letters, digits or _")
        for value in self.tags.values():
            if not TAG_VALUE.match(value):
                raise InvalidMeasurement(f"tag value {value!r}: 1 to 128 of letters, digits and _ . / - : {{ }}")
        if not self.fields:
            raise InvalidMeasurement("a point has at least one field")


@dataclass(frozen=True, slots=True)
class Trending:
    post_id: str
    views: int


@dataclass(frozen=True, slots=True)
class HourCount:
    hour: datetime
    count: int


@dataclass(frozen=True, slots=True)
class Latency:
    hour: datetime
    endpoint: str
    requests: int
    mean_ms: float
    p95_ms: float


@dataclass(frozen=True, slots=True)
class WindowMean:
    start: datetime
    mean: float | None


class BoardMode(enum.StrEnum):
    BEST = "best"  # keep each member's best score
    SUM = "sum"  # add the scores up


@dataclass(frozen=True, slots=True)
class Board:
    name: str
    mode: BoardMode
    submitted: bool = True  # users submit scores; False: fed by the platform (top posts today)
    description: str = ""


BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board("arcade", BoardMode.BEST, description="best score per player"),
        Board("marathon", BoardMode.SUM, description="scores added up per player"),
        Board("top-posts-today", BoardMode.SUM, submitted=False, description="post views today (UTC), from views"),
    )
}


def top_posts_board(day: datetime) -> str:
    return f"top-posts-today:{day.astimezone(UTC).date().isoformat()}"


@dataclass(frozen=True, slots=True)
class Ranked:
    member: str
    score: float
    rank: int  # 1 is the top


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def last_hours(hours: int, now: datetime) -> tuple[datetime, datetime]:
    """[start, end): the current hour and the ``hours - 1`` before it (trending works in whole hours)."""
    end = hour_floor(now) + timedelta(hours=1)
    return end - timedelta(hours=hours), end


@dataclass
class BufferStats:
    recorded: int = 0
    flushed: int = 0
    dropped: int = 0  # the buffer was full: analytics never block a request
    failed_flushes: int = 0
    pending: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
