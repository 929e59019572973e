"""The documents role on MongoDB (`seed`; tested on FerretDB, which speaks MongoDB's wire protocol).

Consistency is set here, once: writes are acknowledged by a majority, journaled (w="majority", j=True), and reads that
must see the user's own writes use readConcern "majority" (docs/ARCHITECTURE.md, "Read path and consistency").

FerretDB 1.x does not make a single-document update atomic: its handlers read the document, change it and write it
back with nothing in between to stop another writer (measured here: 50 concurrent ``$inc`` on one document leave 9 on
the SQLite backend, 5 on the PostgreSQL one; of 8 concurrent conditional updates, several "win"). MongoDB does. On
FerretDB this adapter therefore sends its writes one at a time from the process, which makes them atomic within one
process and is logged at start: writers in two processes (`polysocial worker` beside `serve`) can still lose updates
there. Use MongoDB for anything but tests. FerretDB also ignores ``$slice`` in ``$push`` and refuses a projection on
``findAndModify``; the adapter works around both.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from pymongo import ASCENDING, AsyncMongoClient, ReadPreference, ReturnDocument, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from pymongo.read_concern import ReadConcern

from polysocial.config import StoreURL
from polysocial.domain.errors import Conflict
from polysocial.domain.events import Event
from polysocial.logging import get_logger
from polysocial.stores.base import Adapter, EngineInfo, guard, guarded
from polysocial.stores.breaker import StoreOptions
from polysocial.stores.documents.protocol import (
    ARTICLES,
    COMMENTS,
    DUE_FIELD,
    INTERNAL_FIELDS,
    LEASE_FIELD,
    OUTBOX_FIELD,
    PENDING_FIELD,
    POSTS,
    PendingDocument,
)

log = get_logger(__name__)
T = TypeVar("T")

DEFAULT_DATABASE = "polysocial"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OUTBOX_INDEX = "outbox_due"
LEGACY_OUTBOX_INDEX = "outbox_pending"  # on the count, before DUE_FIELD
# On FerretDB, a read of many ids, or of any of many values, is that many queries: this many at a time per process.
# Each is a scan in PostgreSQL, so more at once would not finish sooner on a few cores; and the driver opens two
# connections at a time, so a burst wider than the warm pool waited past the 1 s checkout timeout (the bench's
# seed feed failed so at 16).
FERRETDB_QUERIES_AT_ONCE = 8
MAJORITY_WRITES = WriteConcern(w="majority", j=True)
MAJORITY_READS = ReadConcern("majority")


class MongoDocumentStore(Adapter):
    def __init__(self, location: StoreURL, options: StoreOptions | None = None) -> None:
        super().__init__(location, options)
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._indexed: set[str] = set()
        self._serial: asyncio.Lock | None = None  # set on FerretDB, whose updates are not atomic (see above)
        # FerretDB 1.24 evaluates ``$in`` itself, over every document of the collection; ``{_id: x}`` it sends to
        # its backend. On FerretDB a read of a few ids is a few concurrent lookups (20 ids at 200,000 posts:
        # milliseconds instead of seconds); MongoDB answers ``$in`` from the _id index.
        self._ids_one_by_one = False
        self._fanout: asyncio.Semaphore | None = None  # see FERRETDB_QUERIES_AT_ONCE

    @property
    def db(self) -> AsyncDatabase[dict[str, Any]]:
        if self._client is None:
            raise self.not_open()
        return self._client.get_default_database(
            DEFAULT_DATABASE, write_concern=MAJORITY_WRITES, read_concern=MAJORITY_READS
        )

    async def _connect(self) -> None:
        self._client = AsyncMongoClient(
            self._location.url,
            serverSelectionTimeoutMS=int(self.options.connect_s * 1000),
            connectTimeoutMS=int(self.options.connect_s * 1000),
            socketTimeoutMS=int(self.options.command_s * 1000),
            waitQueueTimeoutMS=int(self.options.connect_s * 1000),
            tz_aware=True,
            uuidRepresentation="standard",
            appname="polysocial",
            retryWrites=True,  # a write cut by a replica-set election is sent once more, to the new primary
            retryReads=True,
        )
        await self._client.admin.command("ping")
        await self._create_indexes()
        build = await self._client.admin.command("buildInfo")
        if "ferretdbVersion" in build:
            self._serial = asyncio.Lock()
            self._ids_one_by_one = True
            log.warning(
                "FerretDB does not make single-document updates atomic; writes are serialised in this process, "
                "and writers in other processes may lose updates",
                ferretdb=build["ferretdbVersion"],
            )

    @guard
    async def wipe(self) -> None:
        for name in await self.db.list_collection_names():
            await self.db[name].delete_many({})

    @guard
    async def item_count(self) -> int:
        return sum([await self.db[name].count_documents({}) for name in await self.db.list_collection_names()])

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def ping(self) -> None:
        async def run() -> None:
            await self.db.command("ping")

        await guarded(self._location, run)

    async def engine_info(self) -> EngineInfo:
        async def run() -> dict[str, Any]:
            return await self.db.command("buildInfo")

        info = await guarded(self._location, run)
        wire_version = str(info.get("version", "unknown"))
        if "ferretdbVersion" in info:  # FerretDB answers MongoDB's buildInfo and adds its own version
            return EngineInfo("FerretDB", str(info["ferretdbVersion"]), f"MongoDB wire protocol {wire_version}")
        return EngineInfo("MongoDB", wire_version)

    async def _create_indexes(self) -> None:
        await self.db[POSTS].create_index([("author_id", ASCENDING), ("_id", -1)], name="author_newest")
        # the posts a user liked (the feed's copy of a reader's likes; an erasure withdraws them)
        await self.db[POSTS].create_index([("likers", ASCENDING), ("_id", ASCENDING)], name="likers")
        await self.db[ARTICLES].create_index([("slug", ASCENDING)], name="slug_unique", unique=True)
        # a post's comments, newest first (the comments page), and their count (reconcile)
        await self.db[COMMENTS].create_index([("post_id", ASCENDING), ("_id", -1)], name="post_newest")

    # -- documents with their events ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[None]:
        if self._serial is None:
            yield
            return
        async with self._serial:
            yield

    async def _ensure_outbox_index(self, collection: str) -> None:
        """The index the relay finds work by. A collection indexed by an earlier version (on the count, which
        FerretDB cannot send to PostgreSQL as ``> 0``) has its documents with events waiting marked due first,
        once: the new index then records that it was done."""
        if collection in self._indexed:
            return
        source = self.db[collection]
        indexes = await source.index_information()
        if OUTBOX_INDEX not in indexes:
            if LEGACY_OUTBOX_INDEX in indexes:
                async with self._write():
                    await source.update_many({PENDING_FIELD: {"$gt": 0}}, {"$set": {DUE_FIELD: True}})
            await source.create_index([(DUE_FIELD, ASCENDING)], name=OUTBOX_INDEX)
            if LEGACY_OUTBOX_INDEX in indexes:
                await source.drop_index(LEGACY_OUTBOX_INDEX)
        self._indexed.add(collection)

    @staticmethod
    def _stored_events(events: Sequence[Event]) -> list[dict[str, Any]]:
        return [{**e.to_json(), "attempts": 0} for e in events]

    async def insert(self, collection: str, doc_id: str, doc: dict[str, Any], events: Sequence[Event] = ()) -> None:
        await self._ensure_outbox_index(collection)
        body = {k: v for k, v in doc.items() if k not in INTERNAL_FIELDS and k != "id"}
        body.update(
            {"_id": doc_id, OUTBOX_FIELD: self._stored_events(events), PENDING_FIELD: len(events), LEASE_FIELD: EPOCH}
        )
        if events:
            body[DUE_FIELD] = True
        try:
            async with self._write():
                await self.db[collection].insert_one(body)
        except DuplicateKeyError as exc:
            raise Conflict(f"{collection} {doc_id!r}: the id or a unique field is taken already") from exc

    async def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        found = await self.db[collection].find_one({"_id": doc_id}, dict.fromkeys(INTERNAL_FIELDS, 0))
        if found is None:
            return None
        found["id"] = found.pop("_id")
        return found

    async def update(self, collection: str, doc_id: str, fields: dict[str, Any], events: Sequence[Event] = ()) -> bool:
        change: dict[str, Any] = {}
        own = {k: v for k, v in fields.items() if k not in INTERNAL_FIELDS and k != "id"}
        if own:
            change["$set"] = own
        self._with_events(change, events)
        if not change:
            return await self.db[collection].count_documents({"_id": doc_id}, limit=1) == 1
        try:
            async with self._write():
                result = await self.db[collection].update_one({"_id": doc_id}, change)
        except DuplicateKeyError as exc:
            raise Conflict(f"{collection} {doc_id!r}: a unique field is taken already") from exc
        return result.matched_count == 1

    @staticmethod
    def _public(found: dict[str, Any]) -> dict[str, Any]:
        for name in INTERNAL_FIELDS:
            found.pop(name, None)
        found["id"] = found.pop("_id")
        return found

    async def find_page(
        self, collection: str, *, equals: dict[str, Any], before_id: str | None, limit: int, stale_ok: bool = False
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = dict(equals)
        if before_id is not None:
            query["_id"] = {"$lt": before_id}
        source = self.db[collection]
        if stale_ok:  # a secondary of a replica set may answer (the primary when there is none)
            source = source.with_options(read_preference=ReadPreference.SECONDARY_PREFERRED)
        cursor = source.find(query).sort("_id", -1).limit(limit)
        return [self._public(doc) async for doc in cursor]

    async def iter_pages(self, collection: str, *, batch_size: int) -> AsyncIterator[list[dict[str, Any]]]:
        # one cursor: paging by ``_id < x`` would make FerretDB read the collection again for every page
        page: list[dict[str, Any]] = []
        async for doc in self.db[collection].find({}, batch_size=batch_size):
            page.append(self._public(doc))
            if len(page) >= batch_size:
                yield page
                page = []
        if page:
            yield page

    async def find_any(
        self,
        collection: str,
        *,
        field: str,
        values: Sequence[int],
        equals: dict[str, Any],
        before_id: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        if not self._ids_one_by_one:
            found = await self._newest(collection, {**equals, field: {"$in": list(values)}}, before_id, limit)
            return [self._public(doc) for doc in found]
        # FerretDB evaluates ``$in`` itself over every document (a home timeline's rebuild at 200,000 posts took
        # over 30 s): one equality query per value instead, which it sends to PostgreSQL, merged newest first.
        pages = await asyncio.gather(
            *(
                self._few_at_once(partial(self._newest, collection, {**equals, field: value}, before_id, limit))
                for value in dict.fromkeys(values)
            )
        )
        merged = sorted((doc for page in pages for doc in page), key=lambda doc: str(doc["_id"]), reverse=True)
        return [self._public(doc) for doc in merged[:limit]]

    async def _few_at_once(self, query: Callable[[], Awaitable[T]]) -> T:
        """One of many queries FerretDB is sent for one read, FERRETDB_QUERIES_AT_ONCE at a time (made only once
        its turn comes: one cancelled while it waits leaves no coroutine behind)."""
        if self._fanout is None:
            self._fanout = asyncio.Semaphore(FERRETDB_QUERIES_AT_ONCE)
        async with self._fanout:
            return await query()

    async def _newest(
        self, collection: str, equals: dict[str, Any], before_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` documents matching ``equals``, older than ``before_id`` if given."""
        query: dict[str, Any] = dict(equals)
        if before_id is not None:
            query["_id"] = {"$lt": before_id}
        return [doc async for doc in self.db[collection].find(query).sort("_id", -1).limit(limit)]

    async def bulk_insert(self, collection: str, docs: Sequence[dict[str, Any]]) -> None:
        rows = [
            {
                **{k: v for k, v in d.items() if k != "id"},
                "_id": d["id"],
                OUTBOX_FIELD: [],
                PENDING_FIELD: 0,
                LEASE_FIELD: EPOCH,
            }
            for d in docs
        ]
        for start in range(0, len(rows), 1000):
            await self.db[collection].insert_many(rows[start : start + 1000], ordered=False)

    async def find_one(self, collection: str, equals: dict[str, Any]) -> dict[str, Any] | None:
        found = await self.db[collection].find_one(equals)
        return self._public(found) if found is not None else None

    async def _by_ids(
        self, collection: str, doc_ids: Sequence[str], also: dict[str, Any], fields: dict[str, int]
    ) -> list[dict[str, Any]]:
        """The documents of ``doc_ids`` that also match ``also``: one ``$in``, or one lookup per id on FerretDB."""
        if not self._ids_one_by_one:
            return [d async for d in self.db[collection].find({"_id": {"$in": list(doc_ids)}, **also}, fields)]
        found = await asyncio.gather(
            *(
                self._few_at_once(partial(self.db[collection].find_one, {"_id": doc_id, **also}, fields))
                for doc_id in dict.fromkeys(doc_ids)
            )
        )
        return [d for d in found if d is not None]

    async def get_many(self, collection: str, doc_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not doc_ids:
            return {}
        found = await self._by_ids(collection, doc_ids, {}, dict.fromkeys(INTERNAL_FIELDS, 0))
        return {doc["id"]: doc for doc in map(self._public, found)}

    async def having_member(self, collection: str, doc_ids: Sequence[str], *, field: str, member: int) -> set[str]:
        if not doc_ids:
            return set()
        return {str(doc["_id"]) for doc in await self._by_ids(collection, doc_ids, {field: member}, {"_id": 1})}

    @staticmethod
    def _with_events(change: dict[str, Any], events: Sequence[Event]) -> dict[str, Any]:
        if events:
            change.setdefault("$push", {})[OUTBOX_FIELD] = {"$each": MongoDocumentStore._stored_events(events)}
            change.setdefault("$inc", {})[PENDING_FIELD] = len(events)
            change.setdefault("$set", {})[DUE_FIELD] = True
        return change

    async def push_capped(
        self,
        collection: str,
        doc_id: str,
        *,
        field: str,
        item: dict[str, Any],
        keep_last: int,
        counter: str,
        events: Sequence[Event] = (),
    ) -> bool:
        change = self._with_events(
            {"$push": {field: {"$each": [item], "$slice": -keep_last}}, "$inc": {counter: 1}}, events
        )
        async with self._write():
            result = await self.db[collection].update_one({"_id": doc_id}, change)
            if result.matched_count == 1 and self._serial is not None:
                await self._trim(collection, doc_id, field, keep_last)
        return result.matched_count == 1

    async def _trim(self, collection: str, doc_id: str, field: str, keep_last: int) -> None:
        """FerretDB ignores ``$slice`` in ``$push`` (it keeps every item): cut the array back here. Safe only
        because writes to FerretDB are serialised in this process (see the module's notes)."""
        found = await self.db[collection].find_one({"_id": doc_id}, {field: 1})
        items = (found or {}).get(field) or []
        if len(items) > keep_last:
            await self.db[collection].update_one({"_id": doc_id}, {"$set": {field: items[-keep_last:]}})

    async def add_member(
        self, collection: str, doc_id: str, *, field: str, member: int, counter: str, events: Sequence[Event] = ()
    ) -> bool:
        change = self._with_events({"$push": {field: member}, "$inc": {counter: 1}}, events)
        async with self._write():
            result = await self.db[collection].update_one({"_id": doc_id, field: {"$ne": member}}, change)
        return result.modified_count == 1

    async def remove_member(
        self, collection: str, doc_id: str, *, field: str, member: int, counter: str, events: Sequence[Event] = ()
    ) -> bool:
        change = self._with_events({"$pull": {field: member}, "$inc": {counter: -1}}, events)
        async with self._write():
            result = await self.db[collection].update_one({"_id": doc_id, field: member}, change)
        return result.modified_count == 1

    async def claim_pending(self, collections: Sequence[str], *, limit: int, lease_s: float) -> list[PendingDocument]:
        claimed: list[PendingDocument] = []
        for collection in collections:
            await self._ensure_outbox_index(collection)
            while len(claimed) < limit:
                now = datetime.now(UTC)
                async with self._write():
                    doc = await self.db[collection].find_one_and_update(
                        {DUE_FIELD: True, LEASE_FIELD: {"$lte": now}},
                        {"$set": {LEASE_FIELD: now + timedelta(seconds=lease_s)}},
                        return_document=ReturnDocument.AFTER,
                    )
                if doc is None:
                    break
                stored = doc.get(OUTBOX_FIELD) or []
                if not stored:  # due, but emptied (a relay that acked and died before it released)
                    await self.release(collection, doc["_id"])
                    continue
                claimed.append(
                    PendingDocument(
                        collection,
                        str(doc["_id"]),
                        [Event.from_json(e) for e in stored],
                        [int(e.get("attempts", 0)) for e in stored],
                    )
                )
        return claimed

    async def ack(self, collection: str, doc_id: str, event_id: uuid.UUID) -> bool:
        async with self._write():
            result = await self.db[collection].update_one(
                {"_id": doc_id, f"{OUTBOX_FIELD}.0.event_id": str(event_id)},
                {"$pop": {OUTBOX_FIELD: -1}, "$inc": {PENDING_FIELD: -1}},
            )
        return result.modified_count == 1

    async def release(self, collection: str, doc_id: str) -> None:
        """Ends the lease, and with an empty outbox the due mark too: the count is checked in the same update, so
        an event appended meanwhile (which sets the mark with its count) keeps it. One update when it is empty, as
        it is after a relay acked what it claimed."""
        async with self._write():
            emptied = await self.db[collection].update_one(
                {"_id": doc_id, PENDING_FIELD: 0}, {"$set": {LEASE_FIELD: EPOCH}, "$unset": {DUE_FIELD: ""}}
            )
            if emptied.matched_count == 0:
                await self.db[collection].update_one({"_id": doc_id}, {"$set": {LEASE_FIELD: EPOCH}})

    async def retry_later(self, collection: str, doc_id: str, event_id: uuid.UUID, *, delay_s: float) -> None:
        async with self._write():
            await self._retry_later(collection, doc_id, event_id, delay_s)

    async def _retry_later(self, collection: str, doc_id: str, event_id: uuid.UUID, delay_s: float) -> None:
        await self.db[collection].update_one(
            {"_id": doc_id, f"{OUTBOX_FIELD}.0.event_id": str(event_id)},
            {
                "$inc": {f"{OUTBOX_FIELD}.0.attempts": 1},
                "$set": {LEASE_FIELD: datetime.now(UTC) + timedelta(seconds=delay_s)},
            },
        )

    async def count_by(self, collection: str, *, field: str, values: Sequence[str]) -> dict[str, int]:
        if not values:
            return {}
        cursor = await self.db[collection].aggregate(
            [{"$match": {field: {"$in": list(values)}}}, {"$group": {"_id": f"${field}", "n": {"$sum": 1}}}]
        )
        return {str(row["_id"]): int(row["n"]) async for row in cursor}

    async def strip(
        self, collection: str, doc_id: str, *, keep: Sequence[str], fields: dict[str, Any], events: Sequence[Event] = ()
    ) -> bool:
        async with self._write():
            current = await self.db[collection].find_one({"_id": doc_id}, dict.fromkeys(INTERNAL_FIELDS, 0))
            if current is None:
                return False
            change = self._with_events({"$set": dict(fields)} if fields else {}, events)
            gone = {k: "" for k in current if k != "_id" and k not in keep and k not in fields}
            if gone:
                change["$unset"] = gone
            if change:
                await self.db[collection].update_one({"_id": doc_id}, change)
        return True

    async def delete_where(self, collection: str, equals: dict[str, Any]) -> int:
        async with self._write():
            result = await self.db[collection].delete_many(dict(equals))
        return int(result.deleted_count)

    async def ids_having_member(
        self, collection: str, *, field: str, member: int, after_id: str | None, limit: int
    ) -> list[str]:
        query: dict[str, Any] = {field: member}
        if after_id is not None:
            query["_id"] = {"$gt": after_id}
        cursor = self.db[collection].find(query, {"_id": 1}).sort("_id", 1).limit(limit)
        return [str(doc["_id"]) async for doc in cursor]

    async def pull_items(
        self, collection: str, doc_id: str, *, field: str, items: Sequence[dict[str, Any]], counter: str, delta: int
    ) -> bool:
        # $pullAll with the exact items: FerretDB's $pull takes no conditions (FerretDB issue 1765)
        change: dict[str, Any] = {"$pullAll": {field: list(items)}} if items else {}
        if delta:
            change["$inc"] = {counter: delta}
        if not change:
            return await self.db[collection].count_documents({"_id": doc_id}, limit=1) == 1
        async with self._write():
            result = await self.db[collection].update_one({"_id": doc_id}, change)
        return result.matched_count == 1

    async def pending_before(self, collections: Sequence[str], created_before: datetime) -> int:
        # the head event is the oldest: the documents whose head was made before the barrier
        query = {DUE_FIELD: True, f"{OUTBOX_FIELD}.0.created_at": {"$lt": created_before.isoformat()}}
        return sum([await self.db[c].count_documents(query) for c in collections])

    async def count_all_by(self, collection: str, *, field: str) -> dict[str, int]:
        cursor = await self.db[collection].aggregate(
            [{"$group": {"_id": f"${field}", "n": {"$sum": 1}}}], allowDiskUse=not self._ids_one_by_one
        )
        return {str(row["_id"]): int(row["n"]) async for row in cursor if row["_id"] is not None}

    @property
    def in_filter_scans(self) -> bool:
        return self._ids_one_by_one

    async def pending_count(self, collections: Sequence[str]) -> int:
        total = 0
        for collection in collections:
            cursor = await self.db[collection].aggregate(
                [{"$match": {DUE_FIELD: True}}, {"$group": {"_id": None, "n": {"$sum": f"${PENDING_FIELD}"}}}]
            )
            async for row in cursor:
                total += int(row["n"])
        return total
