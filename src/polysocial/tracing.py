"""Traces with OpenTelemetry, off unless asked for by the standard variables: ``OTEL_TRACES_EXPORTER`` (``otlp``, or
``console``), or an OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``);
``OTEL_SDK_DISABLED=true`` wins. The exporter reads the rest (headers, timeout, protocol over HTTP);
``OTEL_SERVICE_NAME`` names the service (default ``polysocial``). Needs the ``tracing`` extra.

What is traced:
- every HTTP request (the framework's instrumentation), and within it the PostgreSQL, Redis (FalkorDB included) and
  MongoDB calls (the drivers' instrumentations);
- the outbox: an event carries the trace context of the request that wrote it (domain/events.py), and the relay's
  delivery of it to each handler is a span whose parent is that request's span, so a post's fan-out appears under
  the ``POST /posts`` that created it, though it ran later, in another task or process.
Neo4j, Cassandra and InfluxDB calls are not instrumented (no instrumentation is installed for them); they appear as
the time of the span around them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

from polysocial.config import warn_once
from polysocial.domain import events as domain_events
from polysocial.domain.events import Event

_state: dict[str, Any] = {}


def wanted(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER")
    if exporter is not None:
        return exporter.strip().lower() not in {"", "none"}
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def enabled() -> bool:
    return "tracer" in _state


def configure(provider: Any | None = None) -> bool:
    """Turn tracing on for this process, once: the SDK with the exporter the variables name, and the drivers'
    instrumentations. ``provider``: a TracerProvider of the caller's (tests, with an in-memory exporter), used
    whatever the variables say. False when tracing stays off."""
    if enabled():
        return True
    if provider is None and not wanted():
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
        from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        warn_once(
            "OTEL_* variables ask for traces, but the tracing extra is missing: pip install 'polysocial[tracing]'"
        )
        return False
    if provider is None:
        name = os.environ.get("OTEL_SERVICE_NAME", "polysocial")
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        kind = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
        if kind == "console":
            exporter: Any = ConsoleSpanExporter()
        else:
            if kind != "otlp":
                warn_once(f"OTEL_TRACES_EXPORTER={kind!r} is not one polysocial sets up; exporting with otlp")
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    for instrumentor in (PsycopgInstrumentor(), RedisInstrumentor(), PymongoInstrumentor()):
        instrumentor.instrument(tracer_provider=provider)
    _state["provider"] = provider
    _state["tracer"] = provider.get_tracer("polysocial")
    domain_events.TRACE_CARRIER[0] = _carrier
    return True


def instrument_app(api: Any) -> None:
    """The FastAPI application's requests as spans (when tracing is on)."""
    if not enabled():
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(api, tracer_provider=_state["provider"], excluded_urls="health,metrics")


def _carrier() -> dict[str, str]:
    """The current trace context as W3C headers (empty outside any span)."""
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextlib.contextmanager
def delivering(events: Sequence[Event], handler: str) -> Iterator[None]:
    """A span for a handler's delivery of ``events``: a child of the span that wrote the first of them, linked to
    the others' (one delivery may apply several requests' events)."""
    traced = [e for e in events if e.trace]
    if not enabled() or not traced:
        yield
        return
    from opentelemetry import propagate, trace
    from opentelemetry.trace import Link, SpanKind

    parent = propagate.extract(traced[0].trace)
    links = []
    for event in traced[1:]:
        context = trace.get_current_span(propagate.extract(event.trace)).get_span_context()
        if context.is_valid:
            links.append(Link(context))
    attributes = {
        "messaging.system": "polysocial.outbox",
        "messaging.operation": "process",
        "polysocial.handler": handler,
        "polysocial.event_type": events[0].event_type,
        "polysocial.events": len(events),
    }
    with _state["tracer"].start_as_current_span(
        f"deliver {events[0].event_type} to {handler}",
        context=parent,
        kind=SpanKind.CONSUMER,
        links=links,
        attributes=attributes,
    ):
        yield
