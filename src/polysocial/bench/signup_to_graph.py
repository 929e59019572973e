"""Sign-up to graph node: how long after a sign-up answers until the user's node is in the graph (the outbox, the
relay woken by NOTIFY, the handler's MERGE), and the login time with the argon2 parameters in use.

    python -m polysocial.bench.signup_to_graph [--profiles embedded,postgres-only,seed] [--users 400] [--concurrency 8]

Each profile runs on engines started for the run. Sign-ups go through the real HTTP stack in process (ASGI), with
the relay running in the same process as it does inside `polysocial serve`. The delay is measured from the moment
the sign-up's response is back to the moment the graph's MERGE has returned (timestamped in the handler, no
polling; a node already there counts as 0). A warm-up of 100 sign-ups comes first and is not counted. Printed as
percentiles over all users; run it a few times on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Sequence

import httpx

from polysocial.api.app import create_app
from polysocial.bench.common import console, print_table, profile_settings, summary
from polysocial.bootstrap import bootstrap
from polysocial.config import Settings
from polysocial.domain.events import USER_REGISTERED, Event
from polysocial.domain.graph import GraphUser
from polysocial.events.handlers import Handler

PASSWORD = secrets.token_urlsafe(16)  # benchmark accounts in a temporary folder


async def measure(
    settings: Settings, users: int, concurrency: int, logins: int, failures: int = 50
) -> dict[str, dict[str, float]]:
    app = await bootstrap(settings)
    answered: dict[int, float] = {}
    in_graph: dict[int, float] = {}
    warmed = asyncio.Event()
    warmup = min(100, users)

    async def timed_user_nodes(events: Sequence[Event]) -> None:
        await app.stores.graph.upsert_users(
            [GraphUser(int(e.payload["user_id"]), str(e.payload["name"])) for e in events]
        )
        now = time.perf_counter()
        for e in events:
            in_graph[int(e.payload["user_id"])] = now
        if len(in_graph) >= warmup:
            warmed.set()

    async def timed_user_node(event: Event) -> None:
        await timed_user_nodes([event])

    handlers = [h for h in app.relay.handlers if h.name != "graph.user_node"]
    handlers.append(Handler("graph.user_node", frozenset({USER_REGISTERED}), timed_user_node, timed_user_nodes))
    app.relay.handlers = handlers
    api = create_app(app_state=app, relay=True)
    run = uuid.uuid4().hex[:8]
    emails = [f"bench-{run}-{i}@example.com" for i in range(users + warmup)]
    assert users >= logins + failures, "--users must cover the logins and the failed logins"
    try:
        async with (
            api.router.lifespan_context(api),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://bench") as client,
        ):
            gate = asyncio.Semaphore(concurrency)

            async def sign_up(email: str) -> None:
                body = {"email": email, "password": PASSWORD, "name": "Bench", "birthdate": "1990-01-01"}
                async with gate:
                    response = await client.post("/auth/register", json=body)
                    answered[response.json()["user_id"]] = time.perf_counter()

            # Warm up (JIT-compiled servers, connection pools, plan caches), then forget the warm-up's numbers.
            await asyncio.gather(*(sign_up(e) for e in emails[:warmup]))
            await asyncio.wait_for(warmed.wait(), timeout=120)
            answered.clear()
            in_graph.clear()

            started = time.perf_counter()
            await asyncio.gather(*(sign_up(e) for e in emails[warmup:]))
            deadline = time.perf_counter() + 300
            while any(uid not in in_graph for uid in answered):
                assert time.perf_counter() < deadline, "the relay did not deliver every sign-up"
                await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - started

            login_ms = []
            for email in emails[warmup : warmup + logins]:
                t0 = time.perf_counter()
                response = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
                login_ms.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, response.text

            # Failed logins: an unknown email must cost what a wrong password costs (no user enumeration by timing).
            # Alternated, each from its own client address so that the per-address limit stays out of the way.
            unknown_ms: list[float] = []
            wrong_ms: list[float] = []
            for i, email in enumerate(emails[warmup + logins : warmup + logins + failures]):
                for target, bucket in ((email, wrong_ms), (f"nobody-{run}-{i}@example.com", unknown_ms)):
                    address = (f"198.51.100.{len(unknown_ms) + len(wrong_ms) + 1}", 40000)
                    transport = httpx.ASGITransport(app=api, client=address)
                    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as other:
                        t0 = time.perf_counter()
                        response = await other.post("/auth/login", json={"email": target, "password": "not it at all"})
                        bucket.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == 401, response.text
    finally:
        await app.aclose()
    # A node already there when the response arrived counts as no delay.
    delays = [max(0.0, in_graph[uid] - answered[uid]) * 1000 for uid in answered]
    return {
        "signup_to_graph": {**summary(delays), "signups_per_s": users / elapsed},
        "login": summary(login_ms),
        "failed_login_wrong_password": summary(wrong_ms),
        "failed_login_unknown_email": summary(unknown_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default="embedded,postgres-only")
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--logins", type=int, default=100)
    args = parser.parse_args()

    results: dict[str, dict[str, dict[str, float]]] = {}
    for profile in args.profiles.split(","):
        console.print(f"[bold]{profile}[/]: {args.users} sign-ups, {args.concurrency} at a time ...")
        with profile_settings(profile) as settings:
            results[profile] = asyncio.run(measure(settings, args.users, args.concurrency, args.logins))
            params = (
                f"argon2id m={settings.argon2_memory_kib} KiB, t={settings.argon2_time_cost}, "
                f"p={settings.argon2_parallelism}"
            )
    print_table("sign-up to graph node (ms)", {p: r["signup_to_graph"] for p, r in results.items()})
    print_table(f"login (ms), {params}", {p: r["login"] for p, r in results.items()})
    failed = {}
    for p, r in results.items():
        failed[f"{p}: wrong password"] = r["failed_login_wrong_password"]
        failed[f"{p}: unknown email"] = r["failed_login_unknown_email"]
    print_table("failed login (ms): an unknown email must cost what a wrong password costs", failed)
    print(json.dumps({"signup_to_graph": results, "argon2": params}))


if __name__ == "__main__":
    main()
