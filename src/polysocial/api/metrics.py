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

import asyncio
import contextlib
import os
import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polysocial.api.server import METRICS_DIR_ENV
from polysocial.domain.analytics import ApiRequest
from polysocial.domain.errors import StoreUnavailable
from polysocial.logging import AccessLog, get_logger
from polysocial.stores.breaker import BreakerState
from polysocial.stores.replicas import CURRENT_USER

log = get_logger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

PER_WORKER_EVERY_S = 2.0
ACCESS_LOGGER = "polysocial.access"
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
        if pid.isdigit() and not _alive(int(pid)):
            mark_process_dead(int(pid), folder)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    """A killed worker stays a zombie until the supervisor reaps it (its next check, up to a second later): dead
    already for the sums."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def multiprocess_mode() -> bool:
    return bool(os.environ.get(METRICS_DIR_ENV))


class ProcessMetrics:
    """One registry per application, so that several apps in one process (tests) do not collide."""

    def __init__(self, state_of: Callable[[], Any]) -> None:
        self.shared = multiprocess_mode()
        self._written: tuple[float, float] | None = None  # the buffer gauges as last written (multiprocess mode)
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
        # The platform's own state, the same whichever worker reads it: written by the worker that answers a scrape.
        self.outbox_pending = Gauge(
            "polysocial_outbox_pending",
            "events not yet delivered, per source (outbox: the relational outbox; documents: events inside documents)",
            ["source"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.replica_lag = Gauge(
            "polysocial_replica_lag_seconds",
            "how old each read replica's last replayed commit is (0: caught up; -1: unreachable)",
            ["replica"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.relay_lag = Gauge(
            "polysocial_relay_lag_seconds",
            "how long the oldest undelivered outbox event has waited",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.dead_letters = Gauge(
            "polysocial_dead_letters",
            "events the relay gave up on (polysocial relay dead-letters lists them)",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        # Each worker's own, written every PER_WORKER_EVERY_S by the worker and summed over the live ones.
        self.breaker_open = Gauge(
            "polysocial_store_breaker_open",
            "workers whose circuit breaker for the role refuses calls (open or half-open)",
            ["role"],
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.pool_in_use = Gauge(
            "polysocial_store_pool_in_use",
            "pooled connections in use, per role (roles in one PostgreSQL share its pool and each report it)",
            ["role"],
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.pool_waiting = Gauge(
            "polysocial_store_pool_waiting",
            "requests waiting for a pooled connection, per role",
            ["role"],
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.memory = Gauge(
            "polysocial_process_resident_memory_bytes",
            "resident memory of the server's processes",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.cpu = Gauge(
            "polysocial_process_cpu_seconds",
            "CPU time used by the server's processes since they started (user + system)",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.open_fds = Gauge(
            "polysocial_process_open_fds",
            "open file descriptors (sockets included) of the server's processes",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        # The feed's work in this process (fan-out runs where the relay runs: a `serve` worker, or a `worker`
        # process, whose figures no scrape of the API sees). Counters: in multiprocess mode they are summed over
        # every worker that ever ran, the dead ones included, so a total never goes down.
        self.fanout = Counter(
            "polysocial_fanout_inserts",
            "post ids pushed into home timelines by fan-out on write",
            registry=self.registry,
        )
        self.cache_lookups = Counter(
            "polysocial_cache_lookups",
            "feed cache lookups per cache (post: the feed's posts; card: authors' names and avatars) and result",
            ["cache", "result"],
            registry=self.registry,
        )
        self.timeline_rebuilds = Counter(
            "polysocial_timeline_rebuilds",
            "timelines rebuilt from the sources of truth (missing or expired), per kind",
            ["kind"],
            registry=self.registry,
        )
        self.degraded_reads = Counter(
            "polysocial_feed_degraded_reads",
            "feed pages read from the sources of truth because the timelines were unavailable",
            registry=self.registry,
        )
        self.session_lookups = Counter(
            "polysocial_session_lookups",
            "sessions resolved, by where the answer came from (memory: this process kept it while it heard every "
            "revocation; store: the sessions role)",
            ["source"],
            registry=self.registry,
        )
        self._counted: dict[tuple[Any, tuple[str, ...]], float] = {}
        self._request_series: dict[tuple[str, str, str], Any] = {}
        self._process = psutil.Process()
        if not self.shared:  # read from the buffer when scraped, not written on every request
            self.dropped.set_function(lambda: self._buffer_figure("dropped"))
            self.pending.set_function(lambda: self._buffer_figure("pending"))

    def request_histogram(self, endpoint: str, method: str, status_class: str) -> Any:
        """The request histogram's series for these labels, kept: prometheus-client's ``labels`` checks and locks
        on every call (1% of a feed request's CPU)."""
        key = (endpoint, method, status_class)
        series = self._request_series.get(key)
        if series is None:
            series = self._request_series[key] = self.requests.labels(*key)
        return series

    def _buffer_figure(self, name: str) -> float:
        state = self._state_of()
        if state is None:
            return 0.0
        buffer = state.analytics_buffer
        return float(buffer.stats.dropped if name == "dropped" else buffer.pending)

    def refresh(self) -> None:
        """Write the analytics buffer's gauges (multiprocess mode only: otherwise they are read when scraped), when
        they changed: every PER_WORKER_EVERY_S with the worker's other figures. It ran after every request, where
        the buffer changes; each write to the shared file checks the process id and takes a lock (2% of a feed
        request's CPU), for a gauge that is scraped every few seconds."""
        if self.shared:
            figures = (self._buffer_figure("dropped"), self._buffer_figure("pending"))
            if figures != self._written:
                self.dropped.set(figures[0])
                self.pending.set(figures[1])
                self._written = figures

    def _advance(self, counter: Any, labels: tuple[str, ...], total: float) -> None:
        """Bring ``counter`` (with ``labels``) up to ``total``, a figure this process keeps counting itself."""
        key = (counter, labels)
        delta = total - self._counted.get(key, 0.0)
        if delta > 0:
            (counter.labels(*labels) if labels else counter).inc(delta)
            self._counted[key] = total

    def refresh_counters(self, state: Any) -> None:
        stats = state.services.feeds.stats
        self._advance(self.fanout, (), stats.fanned_out)
        for cache, tally in (("post", stats.posts), ("card", stats.cards)):
            self._advance(self.cache_lookups, (cache, "hit"), tally.hits)
            self._advance(self.cache_lookups, (cache, "miss"), tally.misses)
        for kind, count in stats.rebuilds.items():
            self._advance(self.timeline_rebuilds, (kind,), count)
        self._advance(self.degraded_reads, (), stats.degraded_reads)
        sessions = state.services.sessions.tally
        self._advance(self.session_lookups, ("memory",), sessions.hits)
        self._advance(self.session_lookups, ("store",), sessions.misses)

    def refresh_worker(self) -> None:
        """This worker's breakers, pools, feed counters and process figures."""
        state = self._state_of()
        if state is not None:
            self.refresh()
            self.refresh_counters(state)
            for store in state.stores.all():
                role = store.role.value
                self.breaker_open.labels(role).set(0 if store.circuit.state is BreakerState.CLOSED else 1)
                usage = store.pool_usage()
                if usage is not None:
                    self.pool_in_use.labels(role).set(usage[0])
                    self.pool_waiting.labels(role).set(usage[1])
        with self._process.oneshot():
            times = self._process.cpu_times()
            self.memory.set(self._process.memory_info().rss)
            self.cpu.set(times.user + times.system)
            self.open_fds.set(self._process.num_fds())

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Keep this worker's figures fresh (its breakers change when its own calls fail)."""
        while not stop.is_set():
            self.refresh_worker()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PER_WORKER_EVERY_S)

    async def refresh_platform(self) -> None:
        """The outbox's backlog, lag and dead letters, as this scrape finds them (one query of the relay's)."""
        state = self._state_of()
        if state is None:
            return
        status = await state.relay.status()
        self.outbox_pending.labels("outbox").set(status.outbox.pending)
        self.outbox_pending.labels("documents").set(status.document_pending)
        self.relay_lag.set(status.outbox.oldest_age_s)
        self.dead_letters.set(status.outbox.dead_letters)
        if state.stores.replicas is not None:
            for lag in await state.stores.replicas.lags():
                self.replica_lag.labels(lag.url).set(-1 if lag.seconds is None else lag.seconds)

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


def _labels(scope: Scope) -> tuple[str, str]:
    """A request's endpoint (its route's template, never the raw path) and method, as metrics and logs name them."""
    endpoint = getattr(scope.get("route"), "path", None) or _mounted(scope) or UNMATCHED
    return endpoint, str(scope.get("method", "GET"))


# Request ids: 128 random bits, as 32 hex digits (a UUID's hex). Drawn from a generator seeded from the kernel once
# per process (and again in a forked child): an id needs to be unique, not unpredictable, and uuid4 asked the kernel
# for 16 bytes on every request (2% of a feed request's CPU).
_request_ids = random.Random()  # noqa: S311 - unique ids, not secrets
os.register_at_fork(after_in_child=_request_ids.seed)


def new_request_id() -> str:
    return f"{_request_ids.getrandbits(128):032x}"


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            return value.decode() if SANE_REQUEST_ID.fullmatch(value) else new_request_id()
    return new_request_id()


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: ProcessMetrics, state_of: Any) -> None:
        self.app = app
        self.metrics = metrics
        self.state_of = state_of  # () -> App | None: the application state, once the lifespan has set it
        self.access = AccessLog(ACCESS_LOGGER)

    async def _remember_write(self, scope: Scope) -> None:
        """Before a write's answer leaves: where the primary's WAL is, so that this user's next reads wait for a
        replica that has it (stores/replicas.py). Only with replicas; a failure here costs the write nothing."""
        state = self.state_of()
        user_id = scope.get("state", {}).get("user_id")
        if state is None or state.stores.replicas is None or user_id is None:
            return
        try:
            await state.stores.replicas.wrote(int(user_id))
        except StoreUnavailable as exc:
            log.warning("read-your-writes position not recorded", user_id=user_id, error=str(exc))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        request_id = request_id_of(scope)
        counted = False

        def count() -> None:
            """The request in the latency histogram, once. Before the answer's last bytes leave: an answer a client
            got is counted even if the process is killed the moment after (the merged metrics of a killed worker
            missed one sign-up out of 179 that way)."""
            nonlocal counted
            if not counted:
                counted = True
                endpoint, method = _labels(scope)
                status_class = ApiRequest.class_of(status)
                self.metrics.request_histogram(endpoint, method, status_class).observe(time.perf_counter() - started)

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if scope.get("method") not in SAFE_METHODS and status < 400:
                    await self._remember_write(scope)
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id.encode())]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                count()
            await send(message)

        context = structlog.contextvars.bind_contextvars(request_id=request_id)
        user = CURRENT_USER.set(None)  # set again once the session is known (api/deps.py)
        try:
            await self.app(scope, receive, sending)
        finally:
            CURRENT_USER.reset(user)
            structlog.contextvars.reset_contextvars(**context)
            seconds = time.perf_counter() - started
            endpoint, method = _labels(scope)
            request = ApiRequest(endpoint, method, status, seconds * 1000, datetime.now(UTC))
            count()  # a request that ended without its last body message (an error, a dropped client)
            state = self.state_of()
            if state is not None:
                state.analytics_buffer.record_request(request)
                if state.settings.access_log:
                    self.access.request(
                        request_id=request_id,
                        method=method,
                        route=endpoint,
                        status=status,
                        duration_ms=round(seconds * 1000, 2),
                        user_id=scope.get("state", {}).get("user_id"),
                    )
