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


# Transfers and orders take row locks in id order inside one function, so READ COMMITTED is exact for them (a
# conditional UPDATE re-reads the locked row). Seat booking is the seed's SELECT ... FOR UPDATE under REPEATABLE
# READ: a booker who loses the race gets a serialization failure, is retried, and then sees the seat taken. The
# customer report is one statement, so one snapshot, at any level: it is read from a replica where there is one.
ISOLATION: dict[Operation, Isolation] = {
    Operation.DEPOSIT: Isolation.READ_COMMITTED,
    Operation.TRANSFER: Isolation.READ_COMMITTED,
    Operation.PLACE_ORDER: Isolation.READ_COMMITTED,
    Operation.CANCEL_ORDER: Isolation.READ_COMMITTED,
    Operation.SHIP_ORDER: Isolation.READ_COMMITTED,
    Operation.RESTOCK: Isolation.READ_COMMITTED,
    Operation.BOOK_SEAT: Isolation.REPEATABLE_READ,
}

MAX_ATTEMPTS = 8  # serialization failures and deadlocks are retried this many times in all
BASE_BACKOFF_S = 0.002
MAX_BACKOFF_S = 0.2


class SessionOp(enum.StrEnum):
    CREATE = "sign in"
    READ = "session read"
    CONFIRM_MISS = "confirm a miss"
    TOUCH = "touch"
    REVOKE = "revoke"
    CHECK_REVOKED = "revocation check"


# Sessions on Cassandra (the `seed` profile), replication factor 3. The article writes sessions at ONE: sign-in works
# while any one replica of the session is up. Revocation is the one operation a stale replica must never undo, so its
# record is written at QUORUM and every read checks it at QUORUM: any two quorums of three share a replica, so a
# revocation acknowledged once is seen by every later check, through any coordinator, even while the replica that
# missed it is down or has not yet received its hint. A session row read at ONE may lag (a sign-in written at ONE to
# another replica): a miss is asked once more at QUORUM before the token is refused. The idle timer is a
# `touched_at` cell written at ONE at most once a minute; it never rewrites the session's other cells, so a touch that
# races a logout cannot bring the session back. So: sign-in needs 1 replica up, an authenticated request 2 (the
# revocation check), logout 2. ALL would need 3 and is used nowhere.
SESSION_CONSISTENCY: dict[SessionOp, str] = {
    SessionOp.CREATE: "ONE",
    SessionOp.READ: "ONE",
    SessionOp.CONFIRM_MISS: "QUORUM",
    SessionOp.TOUCH: "ONE",
    SessionOp.REVOKE: "QUORUM",
    SessionOp.CHECK_REVOKED: "QUORUM",
}

# What each kind of data settles for, for the record (and the demo).
BY_DATA_TYPE: dict[str, str] = {
    "accounts, wallets, orders, stock, seats": "PostgreSQL transactions with constraints; isolation per operation "
    "above; retried on serialization failure and deadlock",
    "posts, comments, likes": "one atomic single-document write each, events in the same write; MongoDB writes "
    "w=majority, j=true, reads readConcern=majority",
    "follow graph": "outbox event first, then the graph write; the relay re-applies it idempotently (MERGE)",
    "home timelines, post and card caches": "Redis, rebuilt from the sources of truth when lost; a cached post "
    "dropped by each edit, like and comment through the outbox; authors' names at most 2 min old",
    "sessions": "Redis, with a PostgreSQL copy for Redis outages (embedded); Cassandra at ONE for sign-in and reads, "
    "QUORUM for revocation and its check (seed); a PostgreSQL table (postgres-only)",
    "live carts": "Redis hash (HINCRBY), durable copy in PostgreSQL through the outbox",
    "rate limits": "Redis, one atomic GCRA script per request",
}
