"""The framework's ceiling: the same FastAPI and uvicorn, with the server settings `polysocial serve` uses, answering
``GET /feed`` with a fixed 20-item page and touching no store. What `bench http` divides the real figures by.

    python -m polysocial.bench.ceiling --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI

from polysocial.api.server import FASTAPI_TELEMETRY, server_options, tune_collector
from polysocial.config import Settings


def fixed_page() -> dict[str, Any]:
    item = {
        "id": "01JABCDEFGHJKMNPQRSTVWXYZ0",
        "author_id": 42,
        "author": {"user_id": 42, "name": "Ada Lovelace", "avatar_url": None},
        "text": "a post of about the length people write, with a few words more than a greeting",
        "media": [],
        "stats": {"likes": 12, "comments": 3},
        "created_at": "2026-12-03T12:00:00+00:00",
        "user_has_liked": False,
    }
    return {"items": [item] * 20, "next_before": item["id"]}


def create_app() -> FastAPI:
    api = FastAPI(title="ceiling", telemetry=FASTAPI_TELEMETRY)  # type: ignore[arg-type]  # as the API's
    page = fixed_page()

    @api.get("/feed")
    async def feed() -> dict[str, Any]:
        return page

    tune_collector()  # as a `polysocial serve` process's, once it has started
    return api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    options = server_options(Settings(), port=args.port)
    if args.workers == 1:
        uvicorn.run(create_app(), **options)
    else:
        uvicorn.run("polysocial.bench.ceiling:create_app", factory=True, workers=args.workers, **options)


if __name__ == "__main__":
    main()
