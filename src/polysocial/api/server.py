"""How `polysocial serve` runs the API under uvicorn: one place, so the tests' live servers run the same way.

One worker serves in this process. Several (``--workers N``, one per core by default) are uvicorn's supervisor and N
processes sharing the listening socket; each builds its own application (``create_app`` as a factory) with its own
pools, and their Prometheus metrics are merged through files in a folder of this run (prometheus-client's
multiprocess mode). Of the workers, one runs the outbox relay: the holder of the lease in PostgreSQL
(events/leader.py), here or on another machine.
"""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from polysocial.api.transport import CoalescingHttpToolsProtocol
from polysocial.config import Settings

GRACEFUL_SHUTDOWN_S = 10
# How long an idle keep-alive connection stays open. uvicorn's default (5 s) equals httpx's and many clients'
# pool expiry: a client that reuses a connection at the moment the server closes it sees a reset, with no response.
# The server must hold idle connections longer than its clients and proxies do (a load balancer's is often 60 s).
KEEP_ALIVE_S = 75
APP_FACTORY = "polysocial.api.app:serving_app"
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client reads it when it is imported


# FastAPI's own OpenTelemetry (on by default since 0.16x) off: tracing here is tracing.py's (the OTEL_* variables,
# opentelemetry-instrumentation-fastapi), metrics are Prometheus', logs structlog's. Left on, FastAPI looked up the
# global providers on every request, whether anything was configured or not (2.5% of a feed request's CPU). The
# framework's ceiling (bench/ceiling.py) is built with the same setting.
FASTAPI_TELEMETRY: dict[str, Any] = {"tracing": False, "metrics": False, "logs": False}

# The cyclic collector's first threshold in a server process: a collection of the youngest generation once this many
# more container objects were made than freed (Python's default: 700). A request leaves some behind for a while (its
# analytics row until the next flush, futures, cached pages), so at 700 a worker under load collected the young
# generation every dozen requests and everything every half second: 120-200 ms of each 5 s in the collector (a
# gc.callbacks tally). At 10,000: one young collection in 5 s, 1.5 ms; worker CPU per GET /feed 173 -> 167 us (an
# A/B, medians of five rounds). A young collection walks at most these objects (a millisecond or two); the older
# generations keep their defaults.
GC_YOUNG_THRESHOLD = 10_000


def tune_collector() -> None:
    """A server process's collector, once it has built everything that lives as long as it does (the framework,
    the schemas, the stores): that is moved out of the collector's sight (``gc.freeze``: a full collection no longer
    walks it; one took 120 ms here, every few seconds under load, and was the p99), and the young generation is
    collected at GC_YOUNG_THRESHOLD. The framework's ceiling (bench/ceiling.py) runs with the same settings."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def server_options(settings: Settings, *, port: int | None = None) -> dict[str, Any]:
    # In-flight requests get 10 s after SIGTERM, then the lifespan's shutdown (relay, analytics flush) runs: well
    # inside the 30 s a process manager usually waits before SIGKILL.
    trusted = settings.forwarded_allow_ips.strip()
    return {
        "host": settings.host,
        "port": settings.port if port is None else port,
        "log_level": "warning",
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        "timeout_keep_alive": KEEP_ALIVE_S,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: a client on the same machine (or
        # behind a local proxy that does not set it) could then pose as any address. Only the configured proxies.
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        "lifespan": "on",
        # No logging set-up of uvicorn's own: its loggers go to the root handler of configure_logging, through the
        # same redaction as ours (its default handlers would print a header or a URL as it came).
        "log_config": None,
        # uvloop's event loop (a dependency): C where asyncio's loop is Python. httptools' parser (a dependency too),
        # whose protocol writes each response in one write instead of two (api/transport.py).
        "loop": "auto",
        "http": CoalescingHttpToolsProtocol,
    }


def uvicorn_config(settings: Settings, api: FastAPI, *, port: int | None = None) -> uvicorn.Config:
    return uvicorn.Config(api, **server_options(settings, port=port))


def worker_count(settings: Settings) -> int:
    return settings.workers or os.cpu_count() or 1


def metrics_folder(settings: Settings) -> Path:
    """An empty folder for this run's merged metrics (a previous run's files would add their counts to ours)."""
    folder = settings.data_path / "run" / f"metrics-{settings.port}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def serve(settings: Settings, *, workers: int) -> None:
    """Serve until SIGINT or SIGTERM: in this process with one worker, else under uvicorn's supervisor."""
    if workers == 1:
        from polysocial.api.app import create_app

        uvicorn.Server(uvicorn_config(settings, create_app(settings, served=True))).run()
        return
    # The workers are new processes that read their settings from the environment, as this one did: what was given
    # on the command line goes there too, with the folder of the merged metrics.
    os.environ.update(
        {
            "POLYSOCIAL_HOST": settings.host,
            "POLYSOCIAL_PORT": str(settings.port),
            METRICS_DIR_ENV: str(metrics_folder(settings)),
        }
    )
    uvicorn.run(APP_FACTORY, factory=True, workers=workers, **server_options(settings))
