"""Request metrics and the request log: every request's endpoint template, method, status and duration go to the
analytics buffer (for the time-series store), to the server's Prometheus metrics (``GET /metrics``) and, one line
each, to the access log, with a request id (the client's ``X-Request-ID`` when it sends a sane one, else a new one;
returned in the response, and on every log line written while the request runs). A pure ASGI middleware: it never
waits on a store.

With several server processes (``serve --workers N``) prometheus-client runs in its multiprocess mode (the
PROMETHEUS_MULTIPROC_DIR folder, set by `serve` before the workers start): each process writes its values to files
there and ``GET /metrics``, whichever worker answers it, reads them all. Gauges are then set, not computed at
scrape time (multiprocess mode cannot call back into another process), and summed over the live processes."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import structlog
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polysocial.api.server import METRICS_DIR_ENV
from polysocial.domain.analytics import ApiRequest
from polysocial.logging import access_logger

UNMATCHED = "(unmatched)"  # a path no route knows: its text would be a tag of unbounded cardinality
STATIC_PREFIX = "/static/"


def _mounted(scope: Scope) -> str | None:
    """The web client's static files are a mount, not a route: one label for all of them."""
    return "/static" if str(scope.get("path", "")).startswith(STATIC_PREFIX) else None


def forget_dead_workers(folder: str) -> None:
    """A worker killed without a shutdown (SIGKILL, out of memory) never marked itself dead: its live gauges would
    stay in the sums. Counters and histograms of dead workers stay counted, as they should."""
    for path in Path(folder).glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            mark_process_dead(int(pid), folder)  # type: ignore[no-untyped-call]


def multiprocess_mode() -> bool:
    return bool(os.environ.get(METRICS_DIR_ENV))


class ProcessMetrics:
    """One registry per application, so that several apps in one process (tests) do not collide."""

    def __init__(self, state_of: Callable[[], Any]) -> None:
        self.shared = multiprocess_mode()
        self._state_of = state_of
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "polysocial_http_request_duration_seconds",
            "HTTP request duration by endpoint template, method and status class",
            ["endpoint", "method", "status_class"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.dropped = Gauge(
            "polysocial_analytics_dropped_total",
            "analytics events dropped because the buffer was full",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.pending = Gauge(
            "polysocial_analytics_pending",
            "analytics events waiting for a flush",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        if not self.shared:  # read from the buffer when scraped, not written on every request
            self.dropped.set_function(lambda: self._buffer_figure("dropped"))
            self.pending.set_function(lambda: self._buffer_figure("pending"))

    def _buffer_figure(self, name: str) -> float:
        state = self._state_of()
        if state is None:
            return 0.0
        buffer = state.analytics_buffer
        return float(buffer.stats.dropped if name == "dropped" else buffer.pending)

    def refresh(self) -> None:
        """Write the gauges (multiprocess mode only: otherwise they are read when scraped)."""
        if self.shared:
            self.dropped.set(self._buffer_figure("dropped"))
            self.pending.set(self._buffer_figure("pending"))

    def exposition(self) -> bytes:
        """Every metric of the server in the text format: every process's, in multiprocess mode."""
        if not self.shared:
            return generate_latest(self.registry)
        forget_dead_workers(os.environ[METRICS_DIR_ENV])
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]  # the library's own API, untyped
        return generate_latest(merged)

    def process_ended(self) -> None:
        """This process's live gauges leave the sums (multiprocess mode)."""
        if self.shared:
            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


REQUEST_ID_HEADER = b"x-request-id"
SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")  # a client's id is logged: nothing that could forge a line


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            return value.decode() if SANE_REQUEST_ID.fullmatch(value) else uuid.uuid4().hex
    return uuid.uuid4().hex


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: ProcessMetrics, state_of: Any) -> None:
        self.app = app
        self.metrics = metrics
        self.state_of = state_of  # () -> App | None: the application state, once the lifespan has set it
        self.access = access_logger()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        request_id = request_id_of(scope)

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        context = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, sending)
        finally:
            structlog.contextvars.reset_contextvars(**context)
            seconds = time.perf_counter() - started
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or _mounted(scope) or UNMATCHED
            method = str(scope.get("method", "GET"))
            request = ApiRequest(endpoint, method, status, seconds * 1000, datetime.now(UTC))
            self.metrics.requests.labels(endpoint, method, request.status_class).observe(seconds)
            state = self.state_of()
            if state is not None:
                state.analytics_buffer.record_request(request)
                self.metrics.refresh()
                if state.settings.access_log:
                    self.access.info(
                        "request",
                        request_id=request_id,
                        method=method,
                        route=endpoint,
                        status=status,
                        duration_ms=round(seconds * 1000, 2),
                        user_id=scope.get("state", {}).get("user_id"),
                    )
