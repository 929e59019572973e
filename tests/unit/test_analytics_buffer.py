"""The analytics buffer's rules, with a fake store (pure logic): bounded, drops counted, a failed flush keeps its
batch in order, batches never exceed their size."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from polysocial.domain.analytics import ApiRequest, PostView
from polysocial.services.analytics import AnalyticsBuffer, BufferConfig
from polysocial.stores.keyvalue.protocol import KeyValueStore
from polysocial.stores.timeseries.protocol import TimeSeriesStore

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


class FakeSeries:
    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.failing = False

    async def write_views(self, views: Sequence[PostView]) -> None:
        if self.failing:
            raise ConnectionError("down")
        self.batches.append(list(views))

    async def write_requests(self, requests: Sequence[ApiRequest]) -> None:
        self.batches.append(list(requests))

    async def write_points(self, points: Sequence[object]) -> None:
        self.batches.append(list(points))


class FakeBoards:
    def __init__(self) -> None:
        self.added: dict[str, dict[str, float]] = {}

    async def board_add(self, board: str, increments: dict[str, float], *, ttl_s: int | None = None) -> None:
        for member, amount in increments.items():
            self.added.setdefault(board, {})[member] = self.added.get(board, {}).get(member, 0) + amount


def buffer(series: FakeSeries, boards: FakeBoards, **config: Any) -> AnalyticsBuffer:
    return AnalyticsBuffer(cast(TimeSeriesStore, series), cast(KeyValueStore, boards), BufferConfig(**config))


async def test_the_buffer_is_bounded_and_counts_what_it_drops() -> None:
    series, boards = FakeSeries(), FakeBoards()
    buf = buffer(series, boards, max_pending=5, batch_size=2)
    for i in range(8):
        buf.record_view(PostView(f"p{i}", 1, NOW))
    assert (buf.pending, buf.stats.recorded, buf.stats.dropped) == (5, 5, 3)
    assert await buf.flush() == 5
    assert [len(b) for b in series.batches] == [2, 2, 1]
    assert [v.post_id for b in series.batches for v in b] == ["p0", "p1", "p2", "p3", "p4"]
    assert boards.added == {"top-posts-today:2026-11-30": {"p0": 1, "p1": 1, "p2": 1, "p3": 1, "p4": 1}}


async def test_a_failed_flush_keeps_its_batch_in_order() -> None:
    series, boards = FakeSeries(), FakeBoards()
    buf = buffer(series, boards, batch_size=10)
    for i in range(3):
        buf.record_view(PostView(f"p{i}", None, NOW))
    series.failing = True
    with pytest.raises(ConnectionError):
        await buf.flush()
    assert buf.pending == 3
    assert buf.stats.failed_flushes == 1
    buf.record_view(PostView("p3", None, NOW))
    series.failing = False
    assert await buf.flush() == 4
    assert [v.post_id for v in series.batches[0]] == ["p0", "p1", "p2", "p3"]
    assert buf.snapshot().pending == 0
    assert buf.stats.flushed == 4


def test_recording_never_waits() -> None:
    buf = buffer(FakeSeries(), FakeBoards(), max_pending=1)
    buf.record_request(ApiRequest("/feed", "GET", 200, 1.0, NOW))  # a plain call: no event loop, no await
    buf.record_request(ApiRequest("/feed", "GET", 200, 1.0, NOW))
    assert buf.stats.dropped == 1
