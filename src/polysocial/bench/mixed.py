"""DeathStarBench's social-network mix over HTTP: 60% home feed, 30% user timeline, 10% compose, sent at a constant
rate by this process to `polysocial serve` running in another, and reported as latency percentiles.

    python -m polysocial.bench.mixed [--profile embedded] [--rate 200] [--seconds 30] [--users 2000] [--readers 50]

Open loop: requests leave on a fixed schedule whether or not earlier ones have returned, and each latency is measured
from the moment the request was due, so a server that falls behind shows it (no coordinated omission).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import httpx

from polysocial.bench.common import console, print_table, profile_settings, summary
from polysocial.bootstrap import bootstrap
from polysocial.config import Role, Settings
from polysocial.engines.seed_stack import free_port
from polysocial.services.seeding import account_email, load_network
from polysocial.synthetic import synthetic_network

PASSWORD = secrets.token_urlsafe(16)  # throwaway accounts in a temporary folder
MIX = (("home feed", 60), ("user timeline", 30), ("compose", 10))
MAX_CONNECTIONS = 200


async def seed(settings: Settings, users: int) -> list[tuple[int, str]]:
    """Load a network of ``users``; their (user id, email)."""
    app = await bootstrap(settings)
    try:
        network = synthetic_network(users, 20, users * 10, seed=3, products=10)
        loaded = await load_network(
            network,
            seed=3,
            password_hash=await app.passwords.hash(PASSWORD),
            relational=app.stores.relational,
            graph=app.stores.graph,
            documents=app.stores.documents,
            step=lambda *_: None,
        )
    finally:
        await app.aclose()
    return [(user, account_email(3, n)) for n, user in enumerate(loaded.user_ids, start=1)]


def serve(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOCIAL_")}
    env.update({f"POLYSOCIAL_{role.value.upper()}_URL": settings.store_url(role).url for role in Role})
    env.update({"POLYSOCIAL_PROFILE": settings.profile.value, "POLYSOCIAL_DATA_DIR": str(settings.data_dir)})
    return subprocess.Popen(
        [sys.executable, "-m", "polysocial", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def wait_healthy(client: httpx.AsyncClient, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not come up within {timeout_s:.0f} s")
        await asyncio.sleep(0.2)


async def drive(
    base: str,
    accounts: Sequence[tuple[int, str]],
    password: str,
    *,
    rate: float,
    seconds: float,
    readers: int,
    timeout_s: float = 30,
) -> dict[str, Any]:
    """Log ``readers`` of ``accounts`` (user id, email) in, warm their timelines, then send the mix at ``rate``
    requests per second for ``seconds``. A request not answered within ``timeout_s`` counts as an error."""
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
    async with httpx.AsyncClient(base_url=base, timeout=timeout_s, limits=limits) as client:
        await wait_healthy(client)
        rng = random.Random(9)  # noqa: S311 - a reproducible mix
        tokens = []
        for _, email in rng.sample(list(accounts), min(readers, len(accounts))):
            login = await client.post("/auth/login", json={"email": email, "password": password})
            login.raise_for_status()
            tokens.append({"Authorization": f"Bearer {login.json()['access_token']}"})

        async def warm(headers: dict[str, str]) -> None:  # each reader's first read rebuilds their timeline
            with contextlib.suppress(httpx.TimeoutException):
                await client.get("/feed", headers=headers)

        await asyncio.gather(*(warm(headers) for headers in tokens))  # at most one timeout long on a slow server

        timings: dict[str, list[float]] = defaultdict(list)
        errors: dict[str, int] = defaultdict(int)
        names = [n for n, w in MIX for _ in range(w)]

        # At most as many requests in flight as there are connections; the rest wait here, cheaply. (Left to
        # httpcore's pool, thousands of waiting requests on a saturated server made the client itself burn a core:
        # the pool matches every waiting request against every connection on each change.)
        in_flight = asyncio.Semaphore(MAX_CONNECTIONS)

        async def one(kind: str, due: float) -> None:
            headers = rng.choice(tokens)
            if kind == "home feed":
                path, body = "/feed", None
            elif kind == "user timeline":
                path, body = f"/users/{rng.choice(accounts)[0]}/posts", None
            else:
                path, body = "/posts", {"text": "a post from the mixed workload"}

            async def send() -> httpx.Response:
                async with in_flight:
                    if body is None:
                        return await client.get(path, params={"limit": 20}, headers=headers)
                    return await client.post(path, json=body, headers=headers)

            try:  # one deadline from when the request was due: waiting, connecting, writing and reading together
                deadline = max(0.001, due + timeout_s - time.perf_counter())
                failed = (await asyncio.wait_for(send(), deadline)).status_code >= 400
            except (TimeoutError, httpx.TimeoutException):  # an error, timed at the moment it was given up on
                failed = True
            timings[kind].append((time.perf_counter() - due) * 1000)
            if failed:
                errors[kind] += 1

        total = int(rate * seconds)
        start = time.perf_counter()
        tasks = []
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(rng.choice(names), due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    everything = [t for ts in timings.values() for t in ts]
    rows = {kind: {**summary(ts), "errors": errors[kind]} for kind, ts in timings.items()}
    rows["all"] = {**summary(everything), "errors": sum(errors.values())}
    return {"rows": rows, "offered_per_s": rate, "achieved_per_s": total / elapsed}


async def against_server(
    settings: Settings,
    accounts: Sequence[tuple[int, str]],
    password: str,
    *,
    rate: float,
    seconds: float,
    readers: int,
    timeout_s: float = 30,
) -> dict[str, Any]:
    """Start `polysocial serve` on ``settings`` in another process, drive the mix at it, stop it."""
    port = free_port()
    server = serve(settings, port)
    try:
        return await drive(
            f"http://127.0.0.1:{port}",
            accounts,
            password,
            rate=rate,
            seconds=seconds,
            readers=readers,
            timeout_s=timeout_s,
        )
    finally:
        server.terminate()
        try:
            await asyncio.to_thread(server.wait, 30)
        except subprocess.TimeoutExpired:
            server.kill()
            await asyncio.to_thread(server.wait, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="embedded", choices=["embedded", "postgres-only", "seed"])
    parser.add_argument("--rate", type=float, default=200, help="requests per second offered")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--readers", type=int, default=50)
    args = parser.parse_args()
    with profile_settings(args.profile) as settings:
        with console.status(f"seeding {args.users:,} users and {args.users * 10:,} posts ..."):
            accounts = asyncio.run(seed(settings, args.users))
        result = asyncio.run(
            against_server(settings, accounts, PASSWORD, rate=args.rate, seconds=args.seconds, readers=args.readers)
        )
    print_table(
        f"mixed workload on {args.profile}: {args.rate:.0f} requests/s offered, {result['achieved_per_s']:.0f} sent "
        "(ms, from when each request was due)",
        result["rows"],
    )
    print(json.dumps({"mixed": {args.profile: result}}))


if __name__ == "__main__":
    main()
