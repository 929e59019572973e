"""Consistency chosen per data type and per operation, in one place (docs/ARCHITECTURE.md, "Read path and consistency").

Money and stock run in PostgreSQL transactions; the level each operation needs is below, and serialization failures
(40001) and deadlocks (40P01) are retried a bounded number of times with jittered backoff. Everything else accepts
weaker guarantees, and says which.
"""

from __future__ import annotations

import enum

from polysocial.stores.relational.protocol import Isolation


class Operation(enum.StrEnum):
    DEPOSIT = "deposit"
    TRANSFER = "transfer"
    PLACE_ORDER = "place order"
    CANCEL_ORDER = "cancel order"
    SHIP_ORDER = "ship order"
    RESTOCK = "restock"
    BOOK_SEAT = "book seat"
    REPORT = "customer report"


# Transfers and orders take row locks in id order inside one function, so READ COMMITTED is exact for them (a
# conditional UPDATE re-reads the locked row). Seat booking is the seed's SELECT ... FOR UPDATE under REPEATABLE
# READ: a booker who loses the race gets a serialization failure, is retried, and then sees the seat taken. The
# report reads one consistent snapshot.
ISOLATION: dict[Operation, Isolation] = {
    Operation.DEPOSIT: Isolation.READ_COMMITTED,
    Operation.TRANSFER: Isolation.READ_COMMITTED,
    Operation.PLACE_ORDER: Isolation.READ_COMMITTED,
    Operation.CANCEL_ORDER: Isolation.READ_COMMITTED,
    Operation.SHIP_ORDER: Isolation.READ_COMMITTED,
    Operation.RESTOCK: Isolation.READ_COMMITTED,
    Operation.BOOK_SEAT: Isolation.REPEATABLE_READ,
    Operation.REPORT: Isolation.REPEATABLE_READ,
}

MAX_ATTEMPTS = 8  # serialization failures and deadlocks are retried this many times in all
BASE_BACKOFF_S = 0.002
MAX_BACKOFF_S = 0.2

# What each kind of data settles for, for the record (and the demo).
BY_DATA_TYPE: dict[str, str] = {
    "accounts, wallets, orders, stock, seats": "PostgreSQL transactions with constraints; isolation per operation "
    "above; retried on serialization failure and deadlock",
    "posts, comments, likes": "one atomic single-document write each, events in the same write; MongoDB writes "
    "w=majority, j=true, reads readConcern=majority",
    "follow graph": "outbox event first, then the graph write; the relay re-applies it idempotently (MERGE)",
    "home timelines, post and card caches": "Redis, rebuilt from the sources of truth when lost; counts at most "
    "30 s old",
    "sessions": "Redis, with a PostgreSQL copy for Redis outages",
    "live carts": "Redis hash (HINCRBY), durable copy in PostgreSQL through the outbox",
    "rate limits": "Redis, one atomic GCRA script per request",
}
