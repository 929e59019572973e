"""What the request log costs, over HTTP: `polysocial serve` (one worker, embedded engines in a temporary folder)
with POLYSOCIAL_ACCESS_LOG true and false in alternating rounds, wrk (16 connections, 8 s after a 3 s warm-up) on
GET /users/me with a bearer token; prints each round's requests/s and the ratio of the medians.

    python scripts/access-log-ab.py [--rounds 4]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from polysocial.engines.seed_stack import free_port

PASSWORD = secrets.token_urlsafe(16)  # a throwaway account on a throwaway data folder


def polysocial(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "polysocial", *args], env=env, check=True, capture_output=True)


def serve(env: dict[str, str], access: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    settings = env | {"POLYSOCIAL_ACCESS_LOG": access, "POLYSOCIAL_PORT": str(port), "POLYSOCIAL_WORKERS": "1"}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "polysocial", "serve"], env=settings, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"the server did not start: see {log}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


def wrk(base: str, token: str, seconds: int) -> float:
    command = ["wrk", "-t1", "-c16", f"-d{seconds}s", "-H", f"Authorization: Bearer {token}", f"{base}/users/me"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise SystemExit(f"wrk said:\n{out}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="polysocial-ab-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOCIAL_")}
    env |= {"POLYSOCIAL_DATA_DIR": str(data / "data"), "POLYSOCIAL_ARGON2_TIME_COST": "1"}
    polysocial(env, "engines", "up")
    try:
        process, base = serve(env, "true", data / "serve.log")
        email = f"ab-{uuid.uuid4().hex[:8]}@example.com"
        body = {"email": email, "password": PASSWORD, "name": "AB", "birthdate": "1990-01-01"}
        httpx.post(f"{base}/auth/register", json=body).raise_for_status()
        token = httpx.post(f"{base}/auth/login", json={"email": email, "password": PASSWORD}).json()["access_token"]
        stop(process)
        results: dict[str, list[float]] = {"true": [], "false": []}
        for n in range(args.rounds):
            for access in ("true", "false") if n % 2 == 0 else ("false", "true"):
                process, base = serve(env, access, data / "serve.log")
                try:
                    wrk(base, token, 3)  # warm-up
                    results[access].append(wrk(base, token, 8))
                finally:
                    stop(process)
    finally:
        polysocial(env, "engines", "down")
    on, off = statistics.median(results["true"]), statistics.median(results["false"])
    print(f"with the request log: {results['true']}\nwithout: {results['false']}")
    print(f"median requests/s: {on:,.0f} with, {off:,.0f} without (ratio {on / off:.3f})")


if __name__ == "__main__":
    main()
