"""The time-series role: post views, API metrics and generic measurements, aggregated in time buckets. InfluxDB
(v1-compatible API) in `seed`, PostgreSQL raw events plus hourly rollups elsewhere.

Every adapter answers the same queries the same way: hours are UTC, ranges are [start, end), trending is by views
then post id, a percentile is the nearest-rank value."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from polysocial.domain.analytics import ApiRequest, HourCount, Latency, Point, PostView, Trending, WindowMean
from polysocial.stores.base import Store


class TimeSeriesStore(Store, Protocol):
    async def write_views(self, views: Sequence[PostView]) -> None:
        """Store a batch of views (and their hourly rollup), in as few round trips as the engine allows."""

    async def write_requests(self, requests: Sequence[ApiRequest]) -> None: ...

    async def write_points(self, points: Sequence[Point]) -> None: ...

    async def trending(self, start: datetime, end: datetime, *, limit: int) -> list[Trending]:
        """The most viewed posts in the whole hours of [start, end), most views first, then by post id."""

    async def views_per_hour(self, post_id: str, start: datetime, end: datetime) -> list[HourCount]:
        """One count per hour of [start, end), zeros included."""

    async def latency(self, start: datetime, end: datetime) -> list[Latency]:
        """Per hour and endpoint template: requests, mean and 95th percentile duration."""

    async def status_counts(self, start: datetime, end: datetime) -> dict[str, int]:
        """Requests by status class ("2xx", "4xx", ...)."""

    async def window_mean(
        self, measurement: str, field: str, tags: dict[str, str], start: datetime, end: datetime, *, window_s: int
    ) -> list[WindowMean]:
        """The mean of ``field`` over points matching ``tags``, per window of [start, end) (None: no point)."""
