"""Backups of stores this program does not run itself: the `seed` profile's servers (PostgreSQL, FerretDB or MongoDB,
InfluxDB, Redis) and any role given a URL. Each with its own tool where it can be had here, and what is backed up:

- PostgreSQL (the relational role, with its outbox): `pg_dump --format=custom` from the embedded binaries, inside a
  REPEATABLE READ transaction whose exported snapshot names the cut (the outbox position and the WAL position as of
  that snapshot). Restored with `pg_restore --clean --single-transaction`: all of it or none of it.
- The documents (posts and comments, with their embedded events): MongoDB's own `mongodump` cannot be had from the
  package registries (mongo-tools is not on the Go module proxy; neither Debian nor npm has a package of it), so the
  driver writes the same layout: ``<db>/<collection>.bson.gz`` (the server's raw BSON
  batches, as mongodump writes them) and ``<collection>.metadata.json.gz`` (the indexes), which a `mongorestore
  --gzip` elsewhere reads too. Taken before the relational snapshot: every author a document names is in it.
- InfluxDB (views and request metrics): `influxd backup -portable` through its RPC address
  (``timeseries_backup_address``); restored with `influxd restore -portable` after the database is dropped.
- Redis: the leaderboards (``board:*``), the one thing there that is nobody's projection, with DUMP and RESTORE.
  Everything else in Redis is a projection or short-lived and is deleted on restore (backup.VOLATILE_KEYS).
- The graph (Neo4j, FalkorDB) is a projection of the follow record in PostgreSQL: it is emptied and rebuilt on
  restore, not dumped. (Neo4j community's `neo4j-admin database dump` also needs the database stopped.)

None of these servers streams its log to us, so the recovery point is the backup itself: what was written after it is
lost on restore. Point-in-time recovery of a server you run is its operator's: WAL archiving on PostgreSQL, a replica
set's oplog on MongoDB. The embedded profiles have it (engines/backup.py).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import urlsplit

import bson
import httpx
import psycopg
import redis
from bson import json_util
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from polysocial import __version__
from polysocial.config import POSTGRES_SCHEMES, REDIS_SCHEMES, Role, Settings, mask_url
from polysocial.domain.errors import EngineError
from polysocial.engines.backup import (
    Backups,
    BackupSet,
    Manifest,
    Restored,
    Verified,
    file_entries,
    forget_volatile_keys,
)
from polysocial.engines.embedded import EmbeddedPostgres
from polysocial.engines.layout import EngineLayout
from polysocial.logging import get_logger, redact_text
from polysocial.stores.documents.protocol import ARTICLES, COMMENTS, POSTS

log = get_logger(__name__)

KEPT_KEYS = "board:*"  # the leaderboards
INFLUX_RPC_PORT = 8088
INSERT_BATCH = 1000
TOOL_TIMEOUT_S = 3600
# pg_restore waits this long for a lock before giving up: a server still serving holds them
RESTORE_LOCK_TIMEOUT = "10s"
CLOCK_MARGIN = timedelta(minutes=1)  # between the app servers' clocks (a comment's created_at) and this one's
SOURCE_COLLECTIONS = frozenset({POSTS, ARTICLES})  # the collections whose documents carry events
INDEX_OPTIONS = frozenset({"name", "unique", "sparse", "expireAfterSeconds"})
RAW: bson.CodecOptions[RawBSONDocument] = bson.CodecOptions(document_class=RawBSONDocument)


def _tool(cmd: list[str], *, env: dict[str, str] | None = None, what: str) -> str:
    result = subprocess.run(
        cmd,
        check=False,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip())[-1500:]
        raise EngineError(f"{what} failed (exit {result.returncode}): {redact_text(detail)}")
    return result.stdout


@contextlib.contextmanager
def reaching(role: str, url: str) -> Iterator[None]:
    """A store that does not answer is one line naming its role and its URL (masked), not a driver's traceback."""
    try:
        yield
    except (psycopg.Error, PyMongoError, redis.RedisError, httpx.HTTPError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise EngineError(f"the {role} store ({mask_url(url)}) failed: {redact_text(first)}") from None


def backups_for(settings: Settings) -> BackupSet:
    """The embedded engines' backups when the relational role is the embedded PostgreSQL (profiles embedded and
    postgres-only), else those of the servers the URLs name."""
    if settings.store_url(Role.RELATIONAL).embedded is not None:
        return Backups(settings)
    return ServerBackups(settings)


class ServerBackups(BackupSet):
    """`polysocial backup create | list | verify | restore` for stores reached by URL (the `seed` profile)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.urls = {role: settings.store_url(role) for role in Role}
        relational = self.urls[Role.RELATIONAL].url
        # PostgreSQL databases to dump: the relational one, and any other role kept in a database of its own (the
        # graph excepted: it is rebuilt). A role sharing the relational database comes with it.
        self.pg_dumps: dict[str, str] = {"relational": relational}
        for role in (Role.DOCUMENTS, Role.KEYVALUE, Role.TIMESERIES):
            url = self.urls[role]
            if url.scheme in POSTGRES_SCHEMES and url.url != relational:
                self.pg_dumps[role.value] = url.url
        documents = self.urls[Role.DOCUMENTS]
        self.mongo_url = documents.url if documents.scheme.startswith("mongodb") else None
        # documents read one collection after another, not from one snapshot: counters are checked after a restore,
        # those of the posts commented on while the backup ran (``counter_posts``, from the manifest)
        self.checks_counters = self.mongo_url is not None
        self.counter_posts: list[str] = []
        timeseries = self.urls[Role.TIMESERIES]
        self.influx = timeseries if timeseries.scheme in {"http", "https"} else None
        keyvalue = self.urls[Role.KEYVALUE]
        self.redis_url = keyvalue.url if keyvalue.scheme in REDIS_SCHEMES else None
        self.bin_dir = EmbeddedPostgres(EngineLayout(settings.data_path)).bin_dir
        graph = self.urls[Role.GRAPH]
        # the graph is emptied and rebuilt on restore unless it lives in a database restored with the rest
        self.empties_graph = not (graph.scheme in POSTGRES_SCHEMES and graph.url in self.pg_dumps.values())

    # -- create ----------------------------------------------------------------------------------------------------

    def create(self) -> Manifest:
        started = time.monotonic()
        backup_id, work = self._start()
        try:
            engines: dict[str, str] = {}
            contents: dict[str, Any] = {}
            if self.mongo_url:
                with reaching("documents", self.mongo_url):
                    engines["documents"], contents["documents"] = self._dump_documents(work / "documents")
            cut: dict[str, Any] = {}
            for name, url in self.pg_dumps.items():
                with reaching(name, url):
                    version, position = self._dump_postgres(url, work / "postgres" / f"{name}.dump")
                engines[f"postgres ({name})"] = version
                if name == "relational":
                    cut = position
            if self.influx:
                with reaching("timeseries", self.influx.url):
                    engines["influxdb"] = self._backup_influx(work / "influxdb")
            if self.redis_url:
                with reaching("keyvalue", self.redis_url):
                    engines["redis"], contents["leaderboards"] = self._dump_boards(work / "redis" / "boards.jsonl.gz")
            manifest = Manifest(
                backup_id=backup_id,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                polysocial=__version__,
                profile=self.settings.profile.value,
                engines=engines,
                cut={**cut, "contents": contents},
                files=file_entries(work),
            )
            manifest.seconds = round(time.monotonic() - started, 3)
            self._seal(work, manifest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return manifest

    def _mongo(self) -> MongoClient[RawBSONDocument]:
        assert self.mongo_url is not None
        return MongoClient(
            self.mongo_url, document_class=RawBSONDocument, serverSelectionTimeoutMS=10_000, connectTimeoutMS=10_000
        )

    def _dump_documents(self, target: Path) -> tuple[str, dict[str, Any]]:
        """Every collection in mongodump's layout; returns the server's version, and per collection its count, plus
        ``recent_comment_posts``: the posts with a comment written since the dump began (less a minute for clocks
        that differ), the only ones whose comment counter can disagree with the comments read after them."""
        counts: dict[str, Any] = {}
        since = (datetime.now(UTC) - CLOCK_MARGIN).isoformat()
        recent: set[str] = set()
        with self._mongo() as client:
            db = client.get_default_database()
            info = client.server_info()
            version = str(info.get("ferretdbVersion") or info.get("version", "unknown"))
            folder = target / db.name
            folder.mkdir(parents=True)
            # The sources (documents with their events) before the collections their events fill: a comment
            # delivered while the posts are read is then in the comments read after them, not lost between the two.
            names = sorted(n for n in db.list_collection_names() if not n.startswith("system."))
            for name in sorted(names, key=lambda n: (n not in SOURCE_COLLECTIONS, n)):
                collection = db[name]
                indexes = [json.loads(json_util.dumps(dict(ix))) for ix in collection.list_indexes()]
                metadata = {"collectionName": name, "type": "collection", "options": {}, "indexes": indexes}
                with gzip.open(folder / f"{name}.metadata.json.gz", "wt") as f:
                    json.dump(metadata, f)
                n = 0
                with gzip.open(folder / f"{name}.bson.gz", "wb") as f:
                    for raw in collection.find_raw_batches(sort=[("_id", 1)], batch_size=INSERT_BATCH):
                        batch = cast(bytes, raw)  # the server's batch as it came: BSON documents end to end
                        f.write(batch)
                        docs = bson.decode_all(batch, codec_options=RAW)
                        n += len(docs)
                        if name == COMMENTS:
                            recent.update(str(d["post_id"]) for d in docs if str(d.get("created_at", "")) >= since)
                counts[name] = n
        counts["recent_comment_posts"] = sorted(recent)
        return version, counts

    def _dump_postgres(self, url: str, target: Path) -> tuple[str, dict[str, Any]]:
        """pg_dump on a snapshot this connection exported: the cut is what that snapshot saw."""
        target.parent.mkdir(parents=True, exist_ok=True)
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            row = conn.execute(
                "SELECT pg_export_snapshot(), pg_current_wal_lsn()::text, now(), current_setting('server_version'),"
                " to_regclass('outbox') IS NOT NULL"
            ).fetchone()
            assert row is not None
            snapshot, lsn, at, version, has_outbox = row
            position = 0
            if has_outbox:
                # delivered events are deleted: the identity sequence says how far the outbox has gone
                found = conn.execute(
                    "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('outbox', 'position')), 0)"
                ).fetchone()
                position = int(found[0]) if found else 0
            _tool(
                [
                    str(self.bin_dir / "pg_dump"),
                    f"--snapshot={snapshot}",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--file={target}",
                    "--dbname",
                    url,
                ],
                what="pg_dump",
            )
            conn.rollback()
        return str(version), {"lsn": lsn, "snapshot_at": at.isoformat(), "outbox_position": position}

    def _influx_address(self) -> str:
        if self.settings.timeseries_backup_address:
            return self.settings.timeseries_backup_address
        assert self.influx is not None
        return f"{urlsplit(self.influx.url).hostname or 'localhost'}:{INFLUX_RPC_PORT}"

    def _influx_database(self) -> str:
        assert self.influx is not None
        return urlsplit(self.influx.url).path.strip("/") or "polysocial"

    def _influxd(self) -> str:
        found = shutil.which("influxd")
        if not found:
            raise EngineError(
                "influxd is not installed: its `influxd backup` and `influxd restore` back up InfluxDB (Debian's "
                "influxdb package)"
            )
        return found

    def _influx_http(self) -> httpx.Client:
        assert self.influx is not None
        parts = urlsplit(self.influx.url)
        auth = (parts.username or "", parts.password or "") if parts.username else None
        base = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return httpx.Client(base_url=base, auth=auth, timeout=60)

    def _backup_influx(self, target: Path) -> str:
        target.mkdir(parents=True)
        _tool(
            [
                self._influxd(),
                "backup",
                "-portable",
                "-host",
                self._influx_address(),
                "-db",
                self._influx_database(),
                str(target),
            ],
            what="influxd backup",
        )
        with self._influx_http() as client:
            return str(client.get("/ping").headers.get("X-Influxdb-Version", "unknown"))

    def _redis(self) -> redis.Redis:
        assert self.redis_url is not None
        return redis.Redis.from_url(self.redis_url, socket_timeout=120, socket_connect_timeout=10)

    def _dump_boards(self, target: Path) -> tuple[str, int]:
        target.parent.mkdir(parents=True)
        n = 0
        with self._redis() as client, gzip.open(target, "wt") as f:
            for key in client.scan_iter(match=KEPT_KEYS, count=1000):
                value = client.dump(key)
                if value is None:  # gone since the scan
                    continue
                ttl = client.pttl(key)
                entry = {
                    "key": base64.b64encode(key).decode(),
                    "ttl_ms": max(int(ttl), 0),  # -1: no expiry; RESTORE takes 0 for that
                    "value": base64.b64encode(value).decode(),
                }
                f.write(json.dumps(entry) + "\n")
                n += 1
            version = str(client.info("server")["redis_version"])
        return version, n

    # -- verify ----------------------------------------------------------------------------------------------------

    def verify(self, backup_id: str | None = None) -> Verified:
        """Checksums; then the relational dump restored into a scratch PostgreSQL and queried, every document
        decoded and counted against the manifest, and InfluxDB's own manifest read."""
        started = time.monotonic()
        manifest = self.get(backup_id)
        folder = self.root / manifest.backup_id
        problems = self._check_files(manifest)
        users = None
        if not problems:
            contents = manifest.cut.get("contents", {})
            for collection, expected in contents.get("documents", {}).items():
                if not isinstance(expected, int):
                    continue
                found = self._count_documents(folder / "documents", collection)
                if found != expected:
                    problems.append(f"documents/{collection}: {found} documents, the manifest says {expected}")
            influx = folder / "influxdb"
            if influx.exists() and not list(influx.glob("*.manifest")):
                problems.append("influxdb: the backup has no manifest (`influxd backup -portable` writes one)")
            elif influx.exists() and list(influx.glob("*.tar.gz")):
                try:
                    self._scratch_influx(influx)
                except EngineError as exc:
                    problems.append(f"the InfluxDB backup did not restore into a scratch server: {exc}")
            try:
                users = self._scratch_restore(folder / "postgres" / "relational.dump")
            except (EngineError, psycopg.Error) as exc:
                problems.append(f"the relational dump did not restore into a scratch database: {exc}")
        return Verified(manifest.backup_id, problems, users, round(time.monotonic() - started, 3))

    @staticmethod
    def _count_documents(root: Path, collection: str) -> int:
        (path,) = root.glob(f"*/{collection}.bson.gz")
        with gzip.open(path, "rb") as f:
            return sum(1 for _ in bson.decode_file_iter(cast(IO[bytes], f), codec_options=RAW))

    def _scratch_influx(self, source: Path) -> None:
        """`influxd restore -portable` into an InfluxDB of its own, in a scratch folder, which must then list it."""
        from polysocial.engines.seed_stack import start_influxdb

        database = self._influx_database()
        with tempfile.TemporaryDirectory(prefix="polysocial-verify-influx-") as scratch:
            server = start_influxdb(Path(scratch))
            try:
                self._influxd_restore(server.admin_address, source)
                answer = httpx.post(server.url.rsplit("/", 1)[0] + "/query", data={"q": "SHOW DATABASES"}, timeout=30)
                if database not in answer.text:
                    raise EngineError(f"the restored server does not list the database {database!r}")
            finally:
                server.stop()

    def _scratch_restore(self, dump: Path) -> int:
        with tempfile.TemporaryDirectory(prefix="polysocial-verify-") as scratch:
            scratch_pg = EmbeddedPostgres(EngineLayout(Path(scratch)))
            scratch_pg.up()
            try:
                self._pg_restore(dump, scratch_pg.url)
                with psycopg.connect(scratch_pg.url, connect_timeout=10) as conn:
                    row = conn.execute("SELECT count(*) FROM users").fetchone()
                return int(row[0]) if row else 0
            finally:
                with contextlib.suppress(EngineError):
                    scratch_pg.down()

    # -- restore ---------------------------------------------------------------------------------------------------

    def restore(self, backup_id: str | None = None, *, target_time: datetime | None = None) -> Restored:
        """Put the sources of truth back as the backup has them. Stop the API servers and workers first: a server
        still connected holds locks the relational restore waits for (and gives up on after 10 s). The graph and
        the other projections are rebuilt afterwards (the command does it with the app)."""
        if target_time is not None:
            raise EngineError(
                "--to-time needs a WAL archive, which only the embedded PostgreSQL has here; a server's own "
                "point-in-time recovery is its operator's (WAL archiving)"
            )
        started = time.monotonic()
        manifest = self.get(backup_id)
        folder = self.root / manifest.backup_id
        problems = self._check_files(manifest)
        if problems:
            raise EngineError(f"backup {manifest.backup_id} is damaged: {'; '.join(problems)}")
        for name, url in self.pg_dumps.items():
            dump = folder / "postgres" / f"{name}.dump"
            if not dump.exists():
                raise EngineError(f"backup {manifest.backup_id} has no {name} database dump: it is not this profile's")
            with reaching(name, url):
                self._pg_restore(dump, url)
        if self.mongo_url and (folder / "documents").exists():
            with reaching("documents", self.mongo_url):
                self._restore_documents(folder / "documents")
        if self.influx and (folder / "influxdb").exists():
            with reaching("timeseries", self.influx.url):
                self._restore_influx(folder / "influxdb")
        if self.redis_url:
            with reaching("keyvalue", self.redis_url):
                self._restore_boards(folder / "redis" / "boards.jsonl.gz")
        self.counter_posts = list(manifest.cut.get("contents", {}).get("documents", {}).get("recent_comment_posts", []))
        seconds = round(time.monotonic() - started, 3)
        return Restored(manifest.backup_id, str(manifest.cut.get("snapshot_at", "")), 0, seconds)

    def _pg_restore(self, dump: Path, url: str) -> None:
        _tool(
            [
                str(self.bin_dir / "pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                "--dbname",
                url,
                str(dump),
            ],
            env={"PGOPTIONS": f"-c lock_timeout={RESTORE_LOCK_TIMEOUT}"},
            what="pg_restore (stop the API servers and workers first: they hold locks on the tables)",
        )

    def _restore_documents(self, root: Path) -> None:
        with self._mongo() as client:
            db = client.get_default_database()
            for data in sorted(root.glob("*/*.bson.gz")):
                name = data.name.removesuffix(".bson.gz")
                db.drop_collection(name)
                collection = db[name]
                with gzip.open(data, "rb") as f:
                    documents = bson.decode_file_iter(cast(IO[bytes], f), codec_options=RAW)
                    for batch in _batches(documents, INSERT_BATCH):
                        collection.insert_many(batch, ordered=False)
                with gzip.open(data.with_name(f"{name}.metadata.json.gz"), "rt") as f:
                    metadata = json.load(f)
                for index in metadata.get("indexes", []):
                    if index.get("name") == "_id_":
                        continue
                    options = {k: v for k, v in index.items() if k in INDEX_OPTIONS}
                    collection.create_index(list(index["key"].items()), **options)

    def _restore_influx(self, source: Path) -> None:
        database = self._influx_database()
        with self._influx_http() as client:
            answer = client.post("/query", data={"q": f'DROP DATABASE "{database}"'})
            if answer.status_code >= 400:
                raise EngineError(f"InfluxDB did not drop {database!r} before the restore: HTTP {answer.status_code}")
        if not list(source.glob("*.tar.gz")):
            # No shard: nothing had been written. InfluxDB 1.6 refuses to restore a database without shards ("DB
            # metadata not changed"); the adapter creates the database and its retention policy when it connects.
            return
        self._influxd_restore(self._influx_address(), source)

    def _influxd_restore(self, address: str, source: Path) -> None:
        database = self._influx_database()
        _tool(
            [self._influxd(), "restore", "-portable", "-host", address, "-db", database, str(source)],
            what="influxd restore",
        )

    def _restore_boards(self, source: Path) -> None:
        with self._redis() as client:
            forget_volatile_keys(client)
            for key in client.scan_iter(match=KEPT_KEYS, count=1000):
                client.unlink(key)
            if not source.exists():
                return
            with gzip.open(source, "rt") as f:
                for line in f:
                    entry = json.loads(line)
                    client.restore(
                        base64.b64decode(entry["key"]), entry["ttl_ms"], base64.b64decode(entry["value"]), replace=True
                    )


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
