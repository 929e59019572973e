"""The documents role on MongoDB (`seed`; tested on FerretDB, which speaks MongoDB's wire protocol).

Consistency is set here, once: writes are acknowledged by a majority, journaled (w="majority", j=True), and reads that
must see the user's own writes use readConcern "majority" (DESIGN.md section 4).
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern

from polysocial.config import Role, StoreURL
from polysocial.domain.errors import StoreUnavailable
from polysocial.stores.base import EngineInfo, guarded

DEFAULT_DATABASE = "polysocial"
MAJORITY_WRITES = WriteConcern(w="majority", j=True)
MAJORITY_READS = ReadConcern("majority")


class MongoDocumentStore:
    def __init__(self, location: StoreURL, *, connect_timeout_s: float = 5.0) -> None:
        self._location = location
        self._timeout_ms = int(connect_timeout_s * 1000)
        self._client: AsyncMongoClient[dict[str, Any]] | None = None

    @property
    def role(self) -> Role:
        return self._location.role

    @property
    def location(self) -> StoreURL:
        return self._location

    @property
    def db(self) -> AsyncDatabase[dict[str, Any]]:
        if self._client is None:
            raise StoreUnavailable(self.role.value, self._location.masked, "store is not open")
        return self._client.get_default_database(
            DEFAULT_DATABASE, write_concern=MAJORITY_WRITES, read_concern=MAJORITY_READS
        )

    async def open(self) -> None:
        async def run() -> None:
            self._client = AsyncMongoClient(
                self._location.url,
                serverSelectionTimeoutMS=self._timeout_ms,
                connectTimeoutMS=self._timeout_ms,
                tz_aware=True,
                uuidRepresentation="standard",
                appname="polysocial",
            )
            await self._client.admin.command("ping")

        try:
            await guarded(self._location, run)
        except StoreUnavailable:
            await self.close()
            raise

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
