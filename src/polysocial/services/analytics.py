"""The analytics buffer: views, API requests and measurements are recorded in memory (never a round trip per event,
never blocking a request) and written in batches, when a batch is full or every ``flush_interval_s``.

The buffer is bounded: past ``max_pending`` events, new ones are dropped and counted. A flush that fails keeps its
batch (at the front, so order holds) and is tried again after a backoff; views also feed the Redis leaderboard of
today's top posts once they are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from polysocial.domain.analytics import ApiRequest, BufferStats, Point, PostView, top_posts_board
from polysocial.logging import get_logger
from polysocial.stores.base import describe
from polysocial.stores.keyvalue.protocol import KeyValueStore
from polysocial.stores.timeseries.protocol import TimeSeriesStore

log = get_logger(__name__)

E = TypeVar("E")

TOP_POSTS_TTL_S = 3 * 86_400


@dataclass(frozen=True, slots=True)
class BufferConfig:
    max_pending: int = 200_000
    batch_size: int = 10_000
    flush_interval_s: float = 1.0
    retry_backoff_s: float = 1.0


class _Queue(Generic[E]):
    def __init__(self, kind: str, write: Callable[[Sequence[E]], Awaitable[None]]) -> None:
        self.kind = kind
        self.write = write
        self.items: deque[E] = deque()


class AnalyticsBuffer:
    def __init__(
        self, timeseries: TimeSeriesStore, keyvalue: KeyValueStore, config: BufferConfig | None = None
    ) -> None:
        self.timeseries = timeseries
        self.keyvalue = keyvalue
        self.config = config or BufferConfig()
        self.stats = BufferStats()
        self._views: _Queue[PostView] = _Queue("views", self._write_views)
        self._requests: _Queue[ApiRequest] = _Queue("requests", timeseries.write_requests)
        self._points: _Queue[Point] = _Queue("points", timeseries.write_points)
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    # -- recording: synchronous, O(1), never waits -------------------------------------------------------------------

    def _add(self, queue: _Queue[Any], item: object) -> None:
        if self.pending >= self.config.max_pending:
            self.stats.dropped += 1
            return
        queue.items.append(item)
        self.stats.recorded += 1
        if len(queue.items) >= self.config.batch_size:
            self._wake.set()

    def record_view(self, view: PostView) -> None:
        self._add(self._views, view)

    def record_request(self, request: ApiRequest) -> None:
        self._add(self._requests, request)

    def record_point(self, point: Point) -> None:
        self._add(self._points, point)

    @property
    def pending(self) -> int:
        return len(self._views.items) + len(self._requests.items) + len(self._points.items)

    # -- flushing ---------------------------------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write everything pending now, batch by batch; the number of events written. Raises if a write fails
        (the batch stays in the buffer)."""
        written = 0
        async with self._lock:
            for queue in (self._views, self._requests, self._points):
                while queue.items:
                    written += await self._flush_batch(queue)
        return written

    async def _flush_batch(self, queue: _Queue[Any]) -> int:
        batch = [queue.items.popleft() for _ in range(min(self.config.batch_size, len(queue.items)))]
        try:
            await queue.write(batch)
        except BaseException:
            queue.items.extendleft(reversed(batch))  # kept, in order, for the next try
            self.stats.failed_flushes += 1
            raise
        self.stats.flushed += len(batch)
        self.stats.by_kind[queue.kind] = self.stats.by_kind.get(queue.kind, 0) + len(batch)
        return len(batch)

    async def _write_views(self, views: Sequence[PostView]) -> None:
        await self.timeseries.write_views(views)
        by_board: dict[str, Counter[str]] = {}
        for view in views:
            by_board.setdefault(top_posts_board(view.at), Counter())[view.post_id] += 1
        for board, counts in by_board.items():
            with contextlib.suppress(Exception):  # a leaderboard is a convenience: the views are stored already
                await self.keyvalue.board_add(board, dict(counts), ttl_s=TOP_POSTS_TTL_S)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Flush by size or by time until ``stop``; then a last flush."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.config.flush_interval_s)
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:  # the store is away: keep the events, wait, try again
                log.warning("analytics flush failed; kept for retry", pending=self.pending, error=describe(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.retry_backoff_s)
        with contextlib.suppress(Exception):
            await self.flush()

    def snapshot(self) -> BufferStats:
        self.stats.pending = self.pending
        return self.stats
