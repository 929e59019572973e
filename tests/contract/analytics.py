"""Contracts of the analytics verbs: the same events give the same trending list, hourly counts, latency figures and
window means on InfluxDB and on PostgreSQL; leaderboards answer alike on Redis and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from polysocial.domain.analytics import ApiRequest, HourCount, InvalidMeasurement, Point, PostView, Trending
from polysocial.stores.keyvalue.protocol import KeyValueStore
from polysocial.stores.timeseries.protocol import TimeSeriesStore


def hours_ago(n: int, minute: int = 0) -> datetime:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=n) + timedelta(minutes=minute)


class TimeSeriesOperations:
    async def test_trending_and_hourly_counts_come_from_the_views(self, store: TimeSeriesStore) -> None:
        ts = store
        views = (
            [PostView("A", v, hours_ago(0, 5)) for v in range(3)]
            + [PostView("B", v, hours_ago(0, 10)) for v in range(5)]
            + [PostView("A", None, hours_ago(1, 30)) for _ in range(4)]
            + [PostView("C", 7, hours_ago(1, 59)) for _ in range(5)]
            + [PostView("D", 7, hours_ago(5)) for _ in range(50)]  # outside the last 2 hours
        )
        await ts.write_views(views[:9])  # two flushes: the rollup adds them up
        await ts.write_views(views[9:])
        start, end = hours_ago(1), hours_ago(-1)
        assert await ts.trending(start, end, limit=10) == [Trending("A", 7), Trending("B", 5), Trending("C", 5)]
        assert await ts.trending(start, end, limit=2) == [Trending("A", 7), Trending("B", 5)]
        assert await ts.trending(hours_ago(0), end, limit=10) == [Trending("B", 5), Trending("A", 3)]
        assert await ts.views_per_hour("A", hours_ago(2), hours_ago(-1)) == [
            HourCount(hours_ago(2), 0),
            HourCount(hours_ago(1), 4),
            HourCount(hours_ago(0), 3),
        ]
        assert await ts.views_per_hour("nobody", hours_ago(1), hours_ago(0)) == [HourCount(hours_ago(1), 0)]

    async def test_api_latency_and_status_classes_per_hour(self, store: TimeSeriesStore) -> None:
        ts = store
        requests = [ApiRequest("/posts/{post_id}", "GET", 200, float(ms), hours_ago(1, ms)) for ms in range(1, 21)]
        requests += [ApiRequest("/feed", "GET", 503 if i == 0 else 200, 2.0, hours_ago(1, 30)) for i in range(4)]
        requests += [ApiRequest("/feed", "GET", 404, 4.0, hours_ago(0, 1))]
        await ts.write_requests(requests)
        rows = await ts.latency(hours_ago(1), hours_ago(-1))
        assert [(r.hour, r.endpoint, r.requests, r.mean_ms, r.p95_ms) for r in rows] == [
            (hours_ago(1), "/feed", 4, 2.0, 2.0),
            (hours_ago(1), "/posts/{post_id}", 20, 10.5, 19.0),
            (hours_ago(0), "/feed", 1, 4.0, 4.0),
        ]
        assert await ts.status_counts(hours_ago(1), hours_ago(-1)) == {"2xx": 23, "4xx": 1, "5xx": 1}
        assert await ts.status_counts(hours_ago(0), hours_ago(-1)) == {"4xx": 1}

    async def test_generic_measurements_average_per_window(self, store: TimeSeriesStore) -> None:
        ts = store
        base = hours_ago(2)
        points = [
            Point("sensor_readings", {"sensor": "s1", "room": "lab"}, {"temperature": t}, base + timedelta(minutes=m))
            for m, t in ((1, 20.0), (5, 22.0), (12, 30.0), (40, 10.0))
        ]
        points.append(Point("sensor_readings", {"sensor": "s2"}, {"temperature": 99.0}, base + timedelta(minutes=2)))
        await ts.write_points(points)
        windows = await ts.window_mean(
            "sensor_readings", "temperature", {"sensor": "s1"}, base, base + timedelta(minutes=45), window_s=900
        )
        assert [(w.start, w.mean) for w in windows] == [
            (base, 24.0),
            (base + timedelta(minutes=15), None),
            (base + timedelta(minutes=30), 10.0),
        ]
        with pytest.raises(InvalidMeasurement):
            Point("bad name", {}, {"x": 1.0}, base)
        with pytest.raises(InvalidMeasurement):
            Point("ok", {"tag": "a b"}, {"x": 1.0}, base)


class LeaderboardContract:
    async def test_a_member_is_found_and_forgotten_on_every_board(self, store: KeyValueStore) -> None:
        keyvalue = store
        await keyvalue.board_submit("arcade:2026", "7", 50, keep_best=True)
        await keyvalue.board_submit("marathon:2026-12", "7", 5, keep_best=False)
        await keyvalue.board_submit("marathon:2026-12", "8", 9, keep_best=False)
        assert await keyvalue.board_scores("7") == {"arcade:2026": 50, "marathon:2026-12": 5}
        assert await keyvalue.board_forget("7") == 2
        assert await keyvalue.board_forget("7") == 0
        assert await keyvalue.board_scores("7") == {}
        assert [r.member for r in await keyvalue.board_top("marathon:2026-12", limit=5)] == ["8"]

    async def test_scores_keep_the_best_or_add_up_and_rank_alike(self, store: KeyValueStore) -> None:
        keyvalue = store
        assert await keyvalue.board_submit("arcade", "ada", 50, keep_best=True) == 50
        assert await keyvalue.board_submit("arcade", "ada", 20, keep_best=True) == 50
        assert await keyvalue.board_submit("arcade", "bob", 70, keep_best=True) == 70
        assert await keyvalue.board_submit("arcade", "cy", 50, keep_best=True) == 50
        top = await keyvalue.board_top("arcade", limit=10)
        assert [(r.member, r.score, r.rank) for r in top] == [("bob", 70, 1), ("cy", 50, 2), ("ada", 50, 3)]
        assert await keyvalue.board_rank("arcade", "ada") == top[2]
        assert await keyvalue.board_rank("arcade", "nobody") is None
        assert await keyvalue.board_submit("marathon", "ada", 5, keep_best=False) == 5
        assert await keyvalue.board_submit("marathon", "ada", 7.5, keep_best=False) == 12.5
        await keyvalue.board_add("views", {"p1": 3, "p2": 1}, ttl_s=60)
        await keyvalue.board_add("views", {"p2": 5})
        assert [(r.member, r.score) for r in await keyvalue.board_top("views", limit=1)] == [("p2", 6)]
        assert await keyvalue.board_top("empty", limit=5) == []
