"""`python -m polysocial.bench.outbox_poll`: what one poll of the documents' outbox costs on FerretDB.

The relay asks the documents store for a document with events waiting (``find_one_and_update``: the filter, and a
lease set on what it finds). With nothing waiting, that poll is pure overhead, and the relay makes it all the time.
Two filters on the same collection, in the same run, alternating:

- ``count > 0`` (before): ``{_outbox_pending: {$gt: 0}}``. FerretDB 1.24 does not send a range filter to
  PostgreSQL: it reads and decodes every document of the collection.
- ``due mark`` (now): ``{_outbox_due: true}``. An equality on a boolean, which FerretDB sends to PostgreSQL.

FerretDB on its PostgreSQL backend is started here (the seed stack's build: `polysocial seed-stack build`); nothing
else runs. Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument

from polysocial.engines.seed_stack import start_ferretdb
from polysocial.stores.documents.mongo import EPOCH, LEGACY_OUTBOX_INDEX, OUTBOX_INDEX
from polysocial.stores.documents.protocol import DUE_FIELD, LEASE_FIELD, OUTBOX_FIELD, PENDING_FIELD

FILTERS: dict[str, dict[str, Any]] = {
    "count > 0 (before)": {PENDING_FIELD: {"$gt": 0}},
    "due mark (now)": {DUE_FIELD: True},
}


async def measure(url: str, documents: int, rounds: int) -> dict[str, list[float]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
    try:
        posts = client.get_default_database()["posts"]
        await posts.create_index([(PENDING_FIELD, 1)], name=LEGACY_OUTBOX_INDEX)
        await posts.create_index([(DUE_FIELD, 1)], name=OUTBOX_INDEX)
        text = "x" * 200  # about the size of a generated post
        for start in range(0, documents, 2000):
            await posts.insert_many(
                [
                    {
                        "_id": f"p{i:09d}",
                        "author_id": i % 5000,
                        "text": text,
                        "likes": [1, 2, 3],
                        OUTBOX_FIELD: [],
                        PENDING_FIELD: 0,
                        LEASE_FIELD: EPOCH,
                    }
                    for i in range(start, min(documents, start + 2000))
                ]
            )
        seconds: dict[str, list[float]] = {name: [] for name in FILTERS}
        for _ in range(rounds):
            for name, condition in FILTERS.items():
                now = datetime.now(UTC)
                started = time.perf_counter()
                found = await posts.find_one_and_update(
                    {**condition, LEASE_FIELD: {"$lte": now}},
                    {"$set": {LEASE_FIELD: now + timedelta(seconds=30)}},
                    return_document=ReturnDocument.AFTER,
                )
                seconds[name].append(time.perf_counter() - started)
                if found is not None:
                    raise RuntimeError(f"{name}: found a document, and none has events waiting")
        return seconds
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = start_ferretdb(Path(tempfile.mkdtemp(prefix="polysocial-outbox-poll-")))
    try:
        seconds = asyncio.run(measure(server.url, args.documents, args.rounds))
    finally:
        server.stop()
    medians = {name: statistics.median(values) * 1000 for name, values in seconds.items()}
    print(f"One empty poll of the outbox, FerretDB 1.24 on PostgreSQL, {args.documents:,} documents:")
    print("| filter | median ms | every round, ms |")
    print("|---|---|---|")
    for name, values in seconds.items():
        print(f"| {name} | {medians[name]:,.1f} | {', '.join(f'{v * 1000:,.1f}' for v in values)} |")
    before, now = medians.values()
    print(f"ratio: {before / now:,.0f}x")
    print(json.dumps({"documents": args.documents, "median_ms": medians, "ratio": round(before / now, 1)}))


if __name__ == "__main__":
    main()
