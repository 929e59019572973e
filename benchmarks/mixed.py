"""DeathStarBench's social-network mix over HTTP: 60% home feed, 30% user timeline, 10% compose, sent at a constant
rate by this process to `polysocial serve` running in another, and reported as latency percentiles.

    python -m benchmarks.mixed [--profile embedded] [--rate 200] [--seconds 30] [--users 2000] [--readers 50]

Open loop: requests leave on a fixed schedule whether or not earlier ones have returned, and each latency is measured
from the moment the request was due, so a server that falls behind shows it (no coordinated omission).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

import httpx

from benchmarks.common import console, print_table, profile_settings, summary
from polysocial.bootstrap import bootstrap
from polysocial.config import Role, Settings
from polysocial.engines.seed_stack import free_port
from polysocial.services.seeding import load_network
from polysocial.synthetic import synthetic_network

PASSWORD = secrets.token_urlsafe(16)  # throwaway accounts in a temporary folder
MIX = (("home feed", 60), ("user timeline", 30), ("compose", 10))


async def seed(settings: Settings, users: int) -> None:
    app = await bootstrap(settings)
    try:
        network = synthetic_network(users, 20, users * 10, seed=3, products=10)
        await load_network(
            network, seed=3, password_hash=await app.passwords.hash(PASSWORD), relational=app.relational,
            graph=app.graph, documents=app.documents, step=lambda *_: None,
        )  # fmt: skip
    finally:
        await app.aclose()


def serve(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOCIAL_")}
    env.update({f"POLYSOCIAL_{role.value.upper()}_URL": settings.store_url(role).url for role in Role})
    env.update({"POLYSOCIAL_PROFILE": settings.profile.value, "POLYSOCIAL_DATA_DIR": str(settings.data_dir)})
    return subprocess.Popen(
        [sys.executable, "-m", "polysocial", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def drive(base: str, args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        deadline = time.monotonic() + 60
        while True:
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not come up within 60 s")
            await asyncio.sleep(0.2)
        rng = random.Random(9)  # noqa: S311 - a reproducible mix
        readers = rng.sample(range(1, args.users + 1), args.readers)
        tokens = []
        for user in readers:
            login = await client.post(
                "/auth/login", json={"email": f"seed3-user{user}@example.com", "password": PASSWORD}
            )
            login.raise_for_status()
            tokens.append({"Authorization": f"Bearer {login.json()['access_token']}"})
        for headers in tokens:  # warm the timelines (each reader's first read rebuilds theirs)
            await client.get("/feed", headers=headers)

        timings: dict[str, list[float]] = defaultdict(list)
        errors: dict[str, int] = defaultdict(int)
        names = [n for n, w in MIX for _ in range(w)]

        async def one(kind: str, due: float) -> None:
            headers = rng.choice(tokens)
            if kind == "home feed":
                call = client.get("/feed", params={"limit": 20}, headers=headers)
            elif kind == "user timeline":
                call = client.get(f"/users/{rng.randrange(1, args.users + 1)}/posts", params={"limit": 20},
                                  headers=headers)  # fmt: skip
            else:
                call = client.post("/posts", json={"text": "a post from the mixed workload"}, headers=headers)
            response = await call
            timings[kind].append((time.perf_counter() - due) * 1000)
            if response.status_code >= 400:
                errors[kind] += 1

        total = int(args.rate * args.seconds)
        start = time.perf_counter()
        tasks = []
        for i in range(total):
            due = start + i / args.rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(rng.choice(names), due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    everything = [t for ts in timings.values() for t in ts]
    rows = {kind: {**summary(ts), "errors": errors[kind]} for kind, ts in timings.items()}
    rows["all"] = {**summary(everything), "errors": sum(errors.values())}
    return {"rows": rows, "offered_per_s": args.rate, "achieved_per_s": total / elapsed}


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
            asyncio.run(seed(settings, args.users))
        port = free_port()
        server = serve(settings, port)
        try:
            result = asyncio.run(drive(f"http://127.0.0.1:{port}", args))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print_table(
        f"mixed workload on {args.profile}: {args.rate:.0f} requests/s offered, {result['achieved_per_s']:.0f} sent "
        "(ms, from when each request was due)",
        result["rows"],
    )
    print(json.dumps({"mixed": {args.profile: result}}))


if __name__ == "__main__":
    main()
