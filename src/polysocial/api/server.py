"""How `polysocial serve` runs the API under uvicorn: one place, so the tests' live servers run the same way."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from polysocial.config import Settings

GRACEFUL_SHUTDOWN_S = 10
# How long an idle keep-alive connection stays open. uvicorn's default (5 s) equals httpx's and many clients'
# pool expiry: a client that reuses a connection at the moment the server closes it sees a reset, with no response.
# The server must hold idle connections longer than its clients and proxies do (a load balancer's is often 60 s).
KEEP_ALIVE_S = 75


def uvicorn_config(settings: Settings, api: FastAPI, *, port: int | None = None) -> uvicorn.Config:
    # In-flight requests get 10 s after SIGTERM, then the lifespan's shutdown (relay, analytics flush) runs: well
    # inside the 30 s a process manager usually waits before SIGKILL.
    trusted = settings.forwarded_allow_ips.strip()
    return uvicorn.Config(
        api,
        host=settings.host,
        port=settings.port if port is None else port,
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=KEEP_ALIVE_S,
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: a client on the same machine (or
        # behind a local proxy that does not set it) could then pose as any address. Only the configured proxies.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        lifespan="on",
        # No logging set-up of uvicorn's own: its loggers go to the root handler of configure_logging, through the
        # same redaction as ours (its default handlers would print a header or a URL as it came).
        log_config=None,
    )
