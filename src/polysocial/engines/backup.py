"""Backups of the embedded engines, and restores that bring back a service that agrees with itself.

What is backed up, and why (docs/ARCHITECTURE.md, "Backups"):
- PostgreSQL is the source of truth: accounts, money, orders, seats, the follow record, the outbox, and on the
  embedded and postgres-only profiles the documents (posts, comments) and the analytics too. A backup is a base
  backup (`pg_basebackup`, compressed tar, with the WAL it needs), plus the WAL archive, streamed from the first
  backup on by `pg_receivewal` through a replication slot (engines/embedded.py): a restore replays it to the last
  change received (its `.partial` segment included), or to a given time.
- Redis+FalkorDB holds projections (timelines, caches, the graph's user nodes and edges, live carts), sessions, rate
  limits and the leaderboards. Its snapshot (RDB) is kept for the leaderboards, the one thing there that is nobody's
  projection; everything else is rebuilt on restore from PostgreSQL, by the same code as `polysocial reconcile`.

The cut: the base backup's start LSN and the outbox's last event id when it began. Events after the cut are in the
archived WAL and are replayed with it; the relay then delivers those not yet delivered (its handlers are idempotent).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis

from polysocial import __version__
from polysocial.config import EMBEDDED_DATABASE, EmbeddedEngine, Settings
from polysocial.domain.errors import EngineError
from polysocial.engines.embedded import EmbeddedEngines, EmbeddedPostgres
from polysocial.engines.layout import EngineLayout
from polysocial.engines.process import wait_until
from polysocial.logging import get_logger

log = get_logger(__name__)

MANIFEST = "manifest.json"
BACKUP_ID = re.compile(r"^\d{8}T\d{6}Z$")
KEEP = 3  # backups kept; WAL older than the oldest kept one is deleted with it
RECOVERY_TIMEOUT_S = 600.0
# Redis keys that are projections or short-lived, deleted after a restore: rebuilt from PostgreSQL (timelines, caches,
# cards), or not to be brought back from the past (sessions, rate limits, locks). The graph and the live carts are
# repaired by reconcile; the leaderboards are kept as the snapshot has them.
VOLATILE_KEYS = (
    "session:*",
    "user-sessions:*",
    "timeline:*",
    "cache:*",
    "cachegen:*",
    "feeditem:*",
    "feedpost:*",  # the feed's post cache before it held rendered items
    "profile:*",
    "card:*",
    "ratelimit:*",
    "lock:*",
)


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str  # relative to the backup's folder
    bytes: int
    sha256: str


@dataclass
class Manifest:
    backup_id: str
    created_at: str
    polysocial: str
    profile: str
    engines: dict[str, str]
    cut: dict[str, Any]
    files: list[FileEntry] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def size(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def cut_lsn(self) -> str:
        """Where the cut is in PostgreSQL's WAL: a base backup's start, or a dump's snapshot."""
        return str(self.cut.get("start_lsn") or self.cut.get("lsn") or "")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        raw = json.loads((folder / MANIFEST).read_text())
        raw["files"] = [FileEntry(**f) for f in raw.get("files", [])]
        return cls(**raw)


@dataclass(frozen=True, slots=True)
class Verified:
    backup_id: str
    problems: list[str]
    users: int | None
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class Restored:
    backup_id: str
    recovered_to: str  # the last commit replayed (UTC), from PostgreSQL
    wal_segments: int
    seconds: float


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


Problems = list[str]


def file_entries(work: Path) -> list[FileEntry]:
    """Every file under a backup's folder, with its size and checksum, for the manifest."""
    found = sorted(p for p in work.rglob("*") if p.is_file())
    return [FileEntry(str(p.relative_to(work)), p.stat().st_size, _sha256(p)) for p in found]


class BackupSet:
    """The backups folder: one folder per backup, named by its UTC time, each with its manifest. A backup is written
    into a hidden ``.<id>.part`` folder and renamed when complete, so a crash never leaves a half backup listed."""

    # Point-in-time recovery from a WAL archive (the embedded PostgreSQL); without it, a restore is the backup itself.
    streams_wal = False
    # After the restore: empty the graph before it is rebuilt (it was not restored with the follow record), and
    # check the posts' counters against their likes and comments (the documents were not one snapshot).
    empties_graph = False
    checks_counters = False
    counter_posts: list[str] | None = None  # after a restore: only these posts' counters (None: every post's)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.backup_path

    def list(self) -> list[Manifest]:
        if not self.root.exists():
            return []
        found = []
        for folder in sorted(self.root.iterdir()):
            if BACKUP_ID.match(folder.name) and (folder / MANIFEST).exists():
                found.append(Manifest.load(folder))
        return found

    def get(self, backup_id: str | None) -> Manifest:
        backups = self.list()
        if not backups:
            raise EngineError(f"no backups in {self.root}: `polysocial backup create` makes one")
        if backup_id is None:
            return backups[-1]
        for manifest in backups:
            if manifest.backup_id == backup_id:
                return manifest
        raise EngineError(f"no backup {backup_id!r} in {self.root} (`polysocial backup list`)")

    def _start(self) -> tuple[str, Path]:
        """A new backup's id and the folder it is written in."""
        backup_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        if (self.root / backup_id).exists():
            raise EngineError(f"a backup named {backup_id} exists already: wait a second and try again")
        work = self.root / f".{backup_id}.part"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        return backup_id, work

    def _seal(self, work: Path, manifest: Manifest) -> None:
        (work / MANIFEST).write_text(manifest.to_json())
        work.rename(self.root / manifest.backup_id)
        for old in self.list()[:-KEEP]:
            shutil.rmtree(self.root / old.backup_id, ignore_errors=True)

    def _check_files(self, manifest: Manifest) -> Problems:
        folder = self.root / manifest.backup_id
        problems: Problems = []
        for entry in manifest.files:
            path = folder / entry.path
            if not path.exists():
                problems.append(f"{entry.path}: missing")
            elif path.stat().st_size != entry.bytes or _sha256(path) != entry.sha256:
                problems.append(f"{entry.path}: checksum does not match the manifest")
        return problems

    def archived_segments(self) -> int:
        return 0

    def streaming(self) -> bool:
        return False


class Backups(BackupSet):
    """`polysocial backup create | list | verify | restore` for the embedded engines."""

    streams_wal = True

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.engines = EmbeddedEngines(settings)
        self.wal = self.root / "wal"
        needed = settings.embedded_engines_needed()
        if EmbeddedEngine.POSTGRES not in needed:
            raise EngineError(
                "backups cover the embedded PostgreSQL (profiles embedded and postgres-only); this profile's "
                "relational role is an external server: back it up with its own tools (pg_basebackup, WAL archiving)"
            )
        self.with_redis = EmbeddedEngine.REDIS in needed

    # -- create ----------------------------------------------------------------------------------------------------

    def create(self) -> Manifest:
        started = time.monotonic()
        self.engines.up()
        self.engines.postgres.prepare_archive()  # streaming starts before the base backup: no gap after it
        backup_id, work = self._start()
        try:
            outbox_position = self._outbox_position()
            self._base_backup(work / "postgres")
            files = list((work / "postgres").iterdir())
            if self.with_redis:
                files.append(self._redis_snapshot(work / "redis"))
            manifest = Manifest(
                backup_id=backup_id,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                polysocial=__version__,
                profile=self.settings.profile.value,
                engines=self._versions(),
                cut={**self._backup_label(work / "postgres" / "base.tar.gz"), "outbox_position": outbox_position},
                files=file_entries(work),
            )
            manifest.seconds = round(time.monotonic() - started, 3)
            self._seal(work, manifest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self._prune_wal()
        return manifest

    def _connect(self, layout: EngineLayout | None = None) -> psycopg.Connection[Any]:
        url = (layout or self.engines.layout).postgres_url(EMBEDDED_DATABASE)
        return psycopg.connect(url, autocommit=True, connect_timeout=10)

    def _outbox_position(self) -> int:
        with self._connect() as conn:
            # delivered events are deleted: the identity sequence says how far the outbox has gone
            row = conn.execute(
                "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('outbox', 'position')), 0)"
            ).fetchone()
        return int(row[0]) if row else 0

    def _base_backup(self, target: Path) -> None:
        postgres = self.engines.postgres
        result = subprocess.run(
            [
                str(postgres.bin_dir / "pg_basebackup"),
                "-d",
                self.engines.layout.postgres_url("postgres"),
                "-D",
                str(target),
                "--format=tar",
                "--gzip",
                "--wal-method=stream",
                "--checkpoint=fast",
                "--label=polysocial backup",
                "--no-password",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if result.returncode != 0:
            raise EngineError(f"pg_basebackup failed: {result.stderr.strip()}")

    @staticmethod
    def _backup_label(base: Path) -> dict[str, Any]:
        with tarfile.open(base) as tar:
            member = tar.extractfile("backup_label")
            label = member.read().decode() if member else ""
        found = dict(line.split(": ", 1) for line in label.splitlines() if ": " in line)
        lsn = found.get("START WAL LOCATION", "").split(" ", 1)[0]
        return {"start_lsn": lsn, "start_time": found.get("START TIME", ""), "timeline": found.get("START TIMELINE")}

    def _redis_client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.engines.layout.redis_socket), socket_timeout=120)

    def _redis_snapshot(self, target: Path) -> Path:
        target.mkdir(parents=True)
        with self._redis_client() as client:
            before = client.lastsave()
            client.bgsave()
            if not wait_until(lambda: client.lastsave() != before, timeout_s=600, interval_s=0.05):
                raise EngineError("Redis did not finish its snapshot (BGSAVE) within 10 minutes")
            folder = Path(client.config_get("dir")["dir"])
            name = client.config_get("dbfilename")["dbfilename"]
        copied = target / "dump.rdb"
        shutil.copyfile(folder / name, copied)
        return copied

    def _versions(self) -> dict[str, str]:
        versions = {"postgres": (self.engines.layout.postgres_data / "PG_VERSION").read_text().strip()}
        if self.with_redis:
            with self._redis_client() as client:
                versions["redis"] = str(client.info("server")["redis_version"])
        return versions

    def _prune_wal(self) -> None:
        """Keep the archived WAL from the oldest kept backup's start on."""
        kept = self.list()
        if not kept:
            return
        oldest = kept[0].cut.get("start_lsn", "")
        first_segment = self._segment_of(oldest, int(kept[0].cut.get("timeline") or 1))
        for segment in self.wal.iterdir():
            name = segment.name
            if len(name) == 24 and name.isalnum() and name < first_segment:
                segment.unlink(missing_ok=True)

    @staticmethod
    def _segment_of(lsn: str, timeline: int, segment_bytes: int = 16 << 20) -> str:
        high, low = (int(part, 16) for part in lsn.split("/"))
        position = (high << 32) | low
        number = position // segment_bytes
        per_xlogid = (1 << 32) // segment_bytes
        return f"{timeline:08X}{number // per_xlogid:08X}{number % per_xlogid:08X}"

    def archived_segments(self) -> int:
        return len([p for p in self.wal.iterdir() if len(p.name) >= 24]) if self.wal.exists() else 0

    def streaming(self) -> bool:
        return self.engines.postgres.receiver_pid() is not None

    # -- verify ----------------------------------------------------------------------------------------------------

    def verify(self, backup_id: str | None = None) -> Verified:
        """Checksums, then a restore into a scratch folder: PostgreSQL must recover to the backup's end and answer."""
        started = time.monotonic()
        manifest = self.get(backup_id)
        folder = self.root / manifest.backup_id
        problems = self._check_files(manifest)
        users = None
        if not problems:
            with tempfile.TemporaryDirectory(prefix="polysocial-verify-") as scratch:
                layout = EngineLayout(Path(scratch))
                scratch_pg = EmbeddedPostgres(layout)
                self._unpack(folder / "postgres", layout.postgres_data, scratch_pg)
                self._recovery_settings(layout.postgres_data, until_consistent=True)
                try:
                    scratch_pg.up()
                    self._wait_recovered(layout)
                    with self._connect(layout) as conn:
                        row = conn.execute("SELECT count(*) FROM users").fetchone()
                        users = int(row[0]) if row else 0
                except (EngineError, psycopg.Error) as exc:
                    problems.append(f"the backup did not restore into a scratch folder: {exc}")
                finally:
                    with contextlib.suppress(EngineError):
                        scratch_pg.down()
        return Verified(manifest.backup_id, problems, users, round(time.monotonic() - started, 3))

    # -- restore ---------------------------------------------------------------------------------------------------

    def restore(self, backup_id: str | None = None, *, target_time: datetime | None = None) -> Restored:
        """Put the sources of truth back as of the latest archived point (or ``target_time``), with the engines
        stopped. The data folder's current PostgreSQL and Redis folders are moved aside, never deleted. The
        projections are rebuilt afterwards (``rebuild_projections``: the command does it with the app)."""
        started = time.monotonic()
        manifest = self.get(backup_id)
        folder = self.root / manifest.backup_id
        layout = self.engines.layout
        postgres = self.engines.postgres
        if postgres.pid() is not None or self.engines.redis.pid() is not None or postgres.receiver_pid() is not None:
            raise EngineError("the engines are running: stop the servers, then `polysocial engines down`")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        for current in (layout.postgres_data, layout.redis_dir):
            if current.exists():
                aside = current.with_name(f"{current.name}.before-restore-{stamp}")
                current.rename(aside)
                log.warning("moved the current folder aside", folder=str(current), to=str(aside))
        self._unpack(folder / "postgres", layout.postgres_data, self.engines.postgres)
        self._take_partial_segment(layout.postgres_data / "pg_wal")
        self.engines.postgres.hand_over(layout.postgres_data / "pg_wal")
        self._recovery_settings(layout.postgres_data, target_time=target_time)
        if self.with_redis and (folder / "redis" / "dump.rdb").exists():
            layout.redis_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / "redis" / "dump.rdb", layout.redis_dir / "dump.rdb")
        self.engines.postgres.up()
        self._wait_recovered(layout)
        with self._connect() as conn:
            conn.execute("ALTER SYSTEM RESET restore_command")
            conn.execute("ALTER SYSTEM RESET recovery_target_time")
            conn.execute("ALTER SYSTEM RESET recovery_target_action")
            conn.execute("SELECT pg_reload_conf()")
        recovered_to = self._last_replayed_commit()
        if self.with_redis:
            self.engines.redis.up(from_snapshot=True)
            with self._redis_client() as client:
                forget_volatile_keys(client)
        return Restored(
            manifest.backup_id, recovered_to, self.archived_segments(), round(time.monotonic() - started, 3)
        )

    def _last_replayed_commit(self) -> str:
        """PostgreSQL's own account of where recovery stopped ("last completed transaction was at log time ...")."""
        try:
            text = self.engines.postgres.log_file.read_text(errors="replace")
        except OSError:
            return ""
        found = re.findall(r"last completed transaction was at log time ([0-9: .+-]+)", text)
        return found[-1].strip() if found else ""

    def _take_partial_segment(self, pg_wal: Path) -> None:
        """The segment the receiver was writing when the server stopped is `<name>.partial` in the archive: recovery
        reads it from pg_wal under its own name, so the changes in it are not lost."""
        partials = sorted(self.wal.glob("*.partial")) if self.wal.exists() else []
        if partials:
            newest = partials[-1]
            shutil.copyfile(newest, pg_wal / newest.name.removesuffix(".partial"))

    def _unpack(self, source: Path, data: Path, postgres: EmbeddedPostgres) -> None:
        data.mkdir(parents=True)
        data.chmod(0o700)
        with tarfile.open(source / "base.tar.gz") as tar:
            tar.extractall(data, filter="data")
        (data / "pg_wal").mkdir(exist_ok=True)
        with tarfile.open(source / "pg_wal.tar.gz") as tar:
            tar.extractall(data / "pg_wal", filter="data")
        postgres.hand_over(data)

    def _recovery_settings(
        self, data: Path, *, target_time: datetime | None = None, until_consistent: bool = False
    ) -> None:
        """Archive recovery: replay the archived WAL (to its end, to a time, or only to the backup's end)."""
        lines = [f'restore_command = \'cp "{self.wal}/%f" "%p"\'']
        if until_consistent:
            lines += ["recovery_target = 'immediate'", "recovery_target_action = 'promote'"]
        elif target_time is not None:
            lines += [f"recovery_target_time = '{target_time.isoformat()}'", "recovery_target_action = 'promote'"]
        with (data / "postgresql.auto.conf").open("a") as f:
            f.write("\n# written by polysocial backup restore\n" + "\n".join(lines) + "\n")
        (data / "recovery.signal").write_text("")

    def _wait_recovered(self, layout: EngineLayout) -> None:
        def promoted() -> bool:
            try:
                with self._connect(layout) as conn:
                    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                    return row is not None and not row[0]
            except psycopg.Error:
                return False

        if not wait_until(promoted, timeout_s=RECOVERY_TIMEOUT_S, interval_s=0.2):
            raise EngineError(f"PostgreSQL did not finish recovery within {RECOVERY_TIMEOUT_S:.0f} s")


def forget_volatile_keys(client: redis.Redis) -> int:
    """Delete the keys a restore must not bring back (VOLATILE_KEYS); returns how many went."""
    gone = 0
    for pattern in VOLATILE_KEYS:
        batch = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                gone += client.unlink(*batch)
                batch.clear()
        if batch:
            gone += client.unlink(*batch)
    return gone
