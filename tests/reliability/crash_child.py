"""The child process of the failpoint tests: does the work in which an armed failpoint (POLYSOCIAL_FAILPOINTS) ends
it with os._exit. Run as ``python -m tests.reliability.crash_child SCENARIO`` with the store URLs in the
environment. Exits 0 if it finished without crashing, which the parent treats as a failure to reach the point."""

from __future__ import annotations

import asyncio
import sys
import uuid

import httpx

from polysocial.api.app import create_app
from polysocial.bootstrap import App, bootstrap
from polysocial.domain.events import Event
from polysocial.domain.graph import GraphUser
from polysocial.events.handlers import Handler
from polysocial.events.relay import Relay, RelayConfig
from tests.support.apps import relay_for

USERS = 3
DOC_COLLECTION = "crash_docs"
DOC_EVENT = "DocUserSeen"
LEASE_S = 1.0  # how long a crashed relay's claim on a document holds its events back


def document_relay(app: App) -> Relay:
    """The app's relay plus a handler for events that ride in documents: each names a user to put in the graph."""

    async def doc_user_node(event: Event) -> None:
        user = GraphUser(int(event.payload["user_id"]), str(event.payload["name"]))
        await app.stores.graph.upsert_users([user])

    handlers = [*app.relay.handlers, Handler("test.doc_user_node", frozenset({DOC_EVENT}), doc_user_node)]
    return relay_for(app, handlers, config=RelayConfig(lease_s=LEASE_S), collections=(DOC_COLLECTION,))


async def sign_ups(app: App) -> None:
    api = create_app(app_state=app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://child") as client:
        for i in range(USERS):
            body = {
                "email": f"crash-{i}-{uuid.uuid4().hex[:8]}@example.com",
                "password": "correct horse battery staple",
                "name": f"Crash {i}",
                "birthdate": "1990-01-01",
            }
            response = await client.post("/auth/register", json=body)
            assert response.status_code == 201, response.text


async def documents(app: App) -> None:
    for i in range(USERS):
        user_id = 1_000_000 + i
        event = Event("doc", f"d{i}", DOC_EVENT, {"user_id": user_id, "name": f"Doc {i}"})
        await app.stores.documents.insert(DOC_COLLECTION, f"d{i}", {"n": i}, [event])


async def main(scenario: str) -> None:
    app = await bootstrap()
    try:
        if scenario == "signup":
            await sign_ups(app)
        elif scenario == "relay":
            await sign_ups(app)
            await app.relay.drain()
        elif scenario == "documents":
            await documents(app)
            await document_relay(app).drain()
        elif scenario == "relay-forever":  # deliver until a failpoint ends the process (exit 0: it never did)
            deadline = asyncio.get_running_loop().time() + 60
            while asyncio.get_running_loop().time() < deadline:
                await app.relay.run_once()
                await asyncio.sleep(0.05)
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
    finally:
        await app.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
