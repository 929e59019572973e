"""Request metrics: every request's endpoint template, method, status and duration go to the analytics buffer (for
the time-series store) and to this process's Prometheus metrics (``GET /metrics``). A pure ASGI middleware: it adds
one clock read and one dictionary append to a request, and never waits on a store."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polysocial.domain.analytics import ApiRequest

UNMATCHED = "(unmatched)"  # a path no route knows: its text would be a tag of unbounded cardinality


class ProcessMetrics:
    """One registry per application, so that several apps in one process (tests) do not collide."""

    def __init__(self, state_of: Callable[[], Any]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "polysocial_http_request_duration_seconds",
            "HTTP request duration by endpoint template, method and status class",
            ["endpoint", "method", "status_class"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        # Read from the buffer when scraped, not written on every request.
        dropped = Gauge(
            "polysocial_analytics_dropped_total",
            "analytics events dropped because the buffer was full",
            registry=self.registry,
        )
        dropped.set_function(lambda: float(state.analytics_buffer.stats.dropped) if (state := state_of()) else 0.0)
        pending = Gauge("polysocial_analytics_pending", "analytics events waiting for a flush", registry=self.registry)
        pending.set_function(lambda: float(state.analytics_buffer.pending) if (state := state_of()) else 0.0)


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: ProcessMetrics, state_of: Any) -> None:
        self.app = app
        self.metrics = metrics
        self.state_of = state_of  # () -> App | None: the application state, once the lifespan has set it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or UNMATCHED
            method = str(scope.get("method", "GET"))
            request = ApiRequest(endpoint, method, status, seconds * 1000, datetime.now(UTC))
            self.metrics.requests.labels(endpoint, method, request.status_class).observe(seconds)
            state = self.state_of()
            if state is not None:
                state.analytics_buffer.record_request(request)
