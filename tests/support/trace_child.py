"""Run in a child process by tests/reliability/test_tracing.py (tracing instruments drivers for the whole process):
a post's request and its relay delivery, traced into memory; the finished spans printed as JSON lines."""

from __future__ import annotations

import asyncio
import json

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from polysocial import tracing
from polysocial.api.app import create_app
from polysocial.config import Settings
from tests.support.accounts import sign_up
from tests.support.apps import fresh_app


async def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert tracing.configure(provider)
    async with fresh_app(Settings(), argon2_time_cost=1, argon2_memory_kib=64) as app:
        api = create_app(app_state=app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://test") as client:
            author, reader = await sign_up(client, name="Ada"), await sign_up(client, name="Bob")
            await client.post(f"/users/{author.user_id}/follow", headers=reader.auth)
            await app.relay.drain()
            await client.get("/feed", headers=reader.auth)  # a live timeline: the post is fanned out to it
            exporter.clear()
            created = await client.post("/posts", json={"text": "traced"}, headers=author.auth)
            assert created.status_code == 201, created.text
            await app.relay.drain()
    for span in exporter.get_finished_spans():
        context = span.get_span_context()
        assert context is not None
        print(
            json.dumps(
                {
                    "name": span.name,
                    "trace": f"{context.trace_id:032x}",
                    "id": f"{context.span_id:016x}",
                    "parent": f"{span.parent.span_id:016x}" if span.parent else None,
                    "kind": span.kind.name,
                    "attributes": {k: str(v) for k, v in (span.attributes or {}).items()},
                }
            )
        )


asyncio.run(main())
