"""Views, trending, post statistics, API metrics, leaderboards and /metrics through the API, on every profile (the
time-series role is InfluxDB in seed, PostgreSQL elsewhere)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from polysocial.bootstrap import App
from tests.support.accounts import sign_up, sign_up_admin


async def test_views_make_trending_the_top_posts_board_and_the_authors_stats(
    client: httpx.AsyncClient, app: App
) -> None:
    author, reader = await sign_up(client), await sign_up(client)
    ids = [(await client.post("/posts", json={"text": f"p{i}"}, headers=author.auth)).json()["id"] for i in range(3)]
    for post_id, views in zip(ids, (2, 5, 3), strict=True):
        for _ in range(views):
            assert (await client.get(f"/posts/{post_id}", headers=reader.auth)).status_code == 200
    assert await app.analytics_buffer.flush() >= 10
    trending = (await client.get("/trending", params={"limit": 2}, headers=reader.auth)).json()
    assert trending == [{"post_id": ids[1], "views": 5}, {"post_id": ids[2], "views": 3}]
    board = (await client.get("/leaderboards/top-posts-today", headers=reader.auth)).json()
    assert [(r["member"], r["score"], r["rank"]) for r in board] == [(ids[1], 5, 1), (ids[2], 3, 2), (ids[0], 2, 3)]

    stats = await client.get(f"/posts/{ids[1]}/stats", params={"hours": 2}, headers=author.auth)
    assert stats.status_code == 200, stats.text
    assert stats.json()["total"] == 5
    assert [h["views"] for h in stats.json()["hours"]] == [0, 5]
    assert (await client.get(f"/posts/{ids[1]}/stats", headers=reader.auth)).status_code == 403
    assert (await client.get("/posts/01ARZ3NDEKTSV4RRFFQ69G5FAV/stats", headers=author.auth)).status_code == 404


async def test_api_metrics_are_per_endpoint_template_for_administrators(client: httpx.AsyncClient, app: App) -> None:
    boss, user = await sign_up_admin(client, app), await sign_up(client)
    post = (await client.post("/posts", json={"text": "x"}, headers=user.auth)).json()["id"]
    for _ in range(3):
        await client.get(f"/posts/{post}", headers=user.auth)
    await client.get("/no/such/path")
    await app.analytics_buffer.flush()
    metrics = await client.get("/admin/metrics/api", headers=boss.auth)
    assert metrics.status_code == 200, metrics.text
    body = metrics.json()
    by_endpoint = {r["endpoint"]: r for r in body["latency"]}
    assert by_endpoint["/posts/{post_id}"]["requests"] == 3  # the template, not the concrete paths
    assert all(post not in endpoint for endpoint in by_endpoint)
    assert by_endpoint["(unmatched)"]["requests"] == 1
    assert body["status_classes"]["2xx"] >= 5
    assert body["status_classes"]["4xx"] >= 1
    assert body["buffer"]["dropped"] == 0
    assert (await client.get("/admin/metrics/api", headers=user.auth)).status_code == 403


async def test_leaderboards_keep_the_best_or_add_up(client: httpx.AsyncClient) -> None:
    ada, bob = await sign_up(client), await sign_up(client)
    for user, score in ((ada, 50), (ada, 20), (bob, 70)):
        assert (
            await client.post("/leaderboards/arcade/scores", json={"score": score}, headers=user.auth)
        ).status_code == 201
    top = (await client.get("/leaderboards/arcade", headers=ada.auth)).json()
    assert [(r["member"], r["score"]) for r in top] == [(str(bob.user_id), 70), (str(ada.user_id), 50)]
    mine = (await client.get("/leaderboards/arcade/me", headers=ada.auth)).json()
    assert (mine["rank"], mine["score"]) == (2, 50)
    for points in (5.0, 7.5):
        last = await client.post("/leaderboards/marathon/scores", json={"score": points}, headers=ada.auth)
    assert last.json()["score"] == 12.5
    fed = await client.post("/leaderboards/top-posts-today/scores", json={"score": 1}, headers=ada.auth)
    assert fed.status_code == 409
    assert (await client.get("/leaderboards/nope", headers=ada.auth)).status_code == 404
    assert (await client.get("/leaderboards/marathon/me", headers=bob.auth)).status_code == 404
    bad = await client.post("/leaderboards/arcade/scores", json={"score": -1}, headers=ada.auth)
    assert bad.status_code == 422


async def test_prometheus_metrics_name_templates_and_hold_no_user_data(client: httpx.AsyncClient) -> None:
    user = await sign_up(client)
    await client.get("/users/me", headers=user.auth)
    text = (await client.get("/metrics")).text
    assert (
        'polysocial_http_request_duration_seconds_count{endpoint="/users/me",method="GET",status_class="2xx"}' in text
    )
    assert "polysocial_analytics_pending" in text
    assert user.token not in text
    assert user.email not in text


async def test_generic_measurements_are_written_and_averaged_per_window(client: httpx.AsyncClient, app: App) -> None:
    boss, user = await sign_up_admin(client, app), await sign_up(client)
    readings = [
        {"measurement": "sensor_readings", "tags": {"sensor": "s1"}, "fields": {"temperature": t}}
        for t in (20.0, 22.0, 24.0)
    ]
    accepted = await client.post("/admin/measurements", json=readings, headers=boss.auth)
    assert accepted.status_code == 202, accepted.text
    await app.analytics_buffer.flush()
    means = await client.get(
        "/admin/measurements/sensor_readings/mean",
        params={"field": "temperature", "hours": 1, "window_s": 3600, "tag": "sensor=s1"},
        headers=boss.auth,
    )
    assert means.status_code == 200, means.text
    assert [w["mean"] for w in means.json() if w["mean"] is not None] == [22.0]
    for bad in (
        [{"measurement": "bad name", "fields": {"x": 1}}],
        [{"measurement": "m", "fields": {}}],
        [{"measurement": "m", "tags": {"t": "a b"}, "fields": {"x": 1}}],
    ):
        refused = await client.post("/admin/measurements", json=bad, headers=boss.auth)
        assert refused.status_code == 422, refused.text
    assert (await client.post("/admin/measurements", json=readings, headers=user.auth)).status_code == 403


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_answer_an_operators_questions(client: httpx.AsyncClient, app: App) -> None:
    """The outbox's backlog and lag (no relay runs in these tests: the sign-up's events wait), dead letters, each
    role's breaker and pool, and the process."""
    await sign_up(client)
    found = samples((await client.get("/metrics")).text)
    assert found[("polysocial_outbox_pending", (("source", "outbox"),))] >= 1
    assert ("polysocial_outbox_pending", (("source", "documents"),)) in found
    assert found[("polysocial_relay_lag_seconds", ())] > 0
    assert found[("polysocial_dead_letters", ())] == 0
    assert found[("polysocial_store_breaker_open", (("role", "graph"),))] == 0
    assert ("polysocial_store_pool_in_use", (("role", "relational"),)) in found
    assert found[("polysocial_store_pool_waiting", (("role", "relational"),))] == 0
    assert found[("polysocial_process_resident_memory_bytes", ())] > 10_000_000
    assert found[("polysocial_process_open_fds", ())] > 0

    # a failing graph store: its breaker opens (in postgres-only, the database's, shared with every role), and the
    # scrape still answers
    breaker = app.stores.graph.circuit
    for _ in range(app.settings.breaker_failures):
        breaker.failure("refused")
    try:
        scrape = await client.get("/metrics")
    finally:
        breaker.success()
    assert scrape.status_code == 200
    assert samples(scrape.text)[("polysocial_store_breaker_open", (("role", "graph"),))] == 1
    after = samples((await client.get("/metrics")).text)
    assert after[("polysocial_store_breaker_open", (("role", "graph"),))] == 0


async def test_metrics_count_fan_out_and_the_feed_caches(client: httpx.AsyncClient, app: App) -> None:
    """Fan-out inserts and the post and card caches' hits and misses; postgres-only, which keeps no timelines and
    reads feeds from the sources of truth, reports none."""
    author, fans = await sign_up(client), [await sign_up(client) for _ in range(3)]
    for fan in fans:
        assert (await client.post(f"/users/{author.user_id}/follow", headers=fan.auth)).status_code == 200
    await app.relay.drain()
    before = samples((await client.get("/metrics")).text)
    for fan in fans:  # live timelines, so that the post is fanned out to them
        assert (await client.get("/feed", headers=fan.auth)).status_code == 200
    assert (await client.post("/posts", json={"text": "hi"}, headers=author.auth)).status_code == 201
    await app.relay.drain()
    for _ in range(2):
        for fan in fans:
            assert (await client.get("/feed", headers=fan.auth)).json()["items"]
    after = samples((await client.get("/metrics")).text)

    def grew(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return after[(name, labels)] - before.get((name, labels), 0.0)

    if app.stores.timelines is None:
        assert grew("polysocial_fanout_inserts_total") == 0
        assert not any(name == "polysocial_cache_lookups_total" for name, _ in after)
        return
    assert grew("polysocial_fanout_inserts_total") >= len(fans)
    assert grew("polysocial_cache_lookups_total", (("cache", "post"), ("result", "miss"))) >= 1
    assert grew("polysocial_cache_lookups_total", (("cache", "post"), ("result", "hit"))) >= len(fans)
    assert ("polysocial_cache_lookups_total", (("cache", "card"), ("result", "miss"))) in after
