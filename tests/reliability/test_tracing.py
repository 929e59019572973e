"""Traces through the outbox: a post's relay delivery and its fan-out are children of the request that created it,
though they run later, after the request has answered. In a child process: tracing instruments the drivers for
the whole process it runs in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from polysocial import tracing
from polysocial.config import Role
from polysocial.engines.embedded import EmbeddedEngines
from tests.conftest import isolated_settings


def test_a_posts_delivery_and_fan_out_are_children_of_the_request_that_created_it(
    embedded_engines: EmbeddedEngines,
) -> None:
    settings = isolated_settings(embedded_engines, "tracing")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYSOCIAL_", "OTEL_"))}
    env |= {f"POLYSOCIAL_{role.value.upper()}_URL": settings.store_url(role).url for role in Role}
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.trace_child"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    spans: list[dict[str, Any]] = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    by_id = {s["id"]: s for s in spans}

    (request,) = [s for s in spans if s["name"] == "POST /posts" and s["kind"] == "SERVER"]
    in_request = {s["id"] for s in spans if s["trace"] == request["trace"]}

    def ancestors(span: dict[str, Any]) -> list[str]:
        chain = []
        while span["parent"] in by_id:
            span = by_id[span["parent"]]
            chain.append(span["name"])
        return chain

    fan_out = [s for s in spans if s["name"] == "deliver PostCreated to feed.fan_out"]
    assert len(fan_out) == 1, [s["name"] for s in spans]
    delivery = fan_out[0]
    assert delivery["kind"] == "CONSUMER"
    assert delivery["trace"] == request["trace"]
    assert delivery["parent"] in in_request
    assert "POST /posts" in ancestors(delivery)
    # the fan-out's own calls (Redis) are children of the delivery, in the same trace
    redis_calls = [s for s in spans if s["parent"] == delivery["id"] and s["attributes"].get("db.system") == "redis"]
    assert redis_calls, [(s["name"], s["attributes"].get("db.system")) for s in spans if s["parent"] == delivery["id"]]
    # and the request's own PostgreSQL calls are in its trace too
    assert any(s["attributes"].get("db.system") == "postgresql" for s in spans if s["trace"] == request["trace"])


def test_tracing_is_off_unless_the_otel_variables_ask_for_it() -> None:
    assert not tracing.wanted({})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp"})
    assert not tracing.wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert not tracing.wanted({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})
    assert not tracing.enabled()  # this test process: never turned on
