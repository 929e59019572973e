"""Backup and recovery figures, measured as an operator lives them. On the embedded profile:

- backup: `polysocial backup create` on a network loaded by `seed-data` (time, size);
- recovery point (RPO): how far the WAL archive trails a commit (the receiver's flush position against each commit's
  LSN, over many commits): what a server lost with its disk would take along;
- recovery time (RTO): every process SIGKILLed and the data folder deleted, then `polysocial backup restore` and
  `polysocial serve` until /health/ready answers 200.

On the seed profile (the seed stack's servers, started here; `--seed-users`, 0 for none): the backup, then `polysocial
backup restore` over the live stores (it drops and recreates what it restores, and rebuilds the Neo4j graph) and
`polysocial serve` until ready. There is no WAL archive there: the recovery point is the backup.

    python -m polysocial.bench.recovery --users 20000 --posts 200000 --users 100000 --posts 1000000 \
        --seed-users 20000

writes benchmarks/recovery.md and the section of BENCHMARKS.md between its markers (`polysocial bench` keeps it).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from polysocial.config import EMBEDDED_DATABASE, Settings
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.engines.process import read_pid, wait_until
from polysocial.engines.seed_stack import free_port

BEGIN, END = "<!-- recovery: written by python -m polysocial.bench.recovery -->", "<!-- /recovery -->"
COMMITS = 300


@dataclass(frozen=True)
class Figures:
    users: int
    posts: int
    backup_s: float
    backup_bytes: int
    rpo_p50_ms: float
    rpo_p99_ms: float
    restore_s: float
    rto_s: float


def polysocial(env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 3600) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "polysocial", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"polysocial {' '.join(args)} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def archive_lag_ms(settings: Settings, commits: int = COMMITS) -> list[float]:
    """For each of ``commits`` small commits: the time until the WAL receiver has flushed it."""
    url = EmbeddedEngines(settings).layout.postgres_url(EMBEDDED_DATABASE)
    lags = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS recovery_probe (n bigint)")
        for n in range(commits):
            conn.execute("INSERT INTO recovery_probe VALUES (%s)", (n,))
            started = time.perf_counter()
            row = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
            lsn = row[0] if row else None
            while True:
                flushed = conn.execute(
                    "SELECT flush_lsn >= %s::pg_lsn FROM pg_stat_replication WHERE application_name = 'pg_receivewal'",
                    (lsn,),
                ).fetchone()
                if flushed and flushed[0]:
                    break
                time.sleep(0.0005)
            lags.append((time.perf_counter() - started) * 1000)
        conn.execute("DROP TABLE recovery_probe")
    return lags


def measure(users: int, posts: int, workdir: Path) -> Figures:
    data, backups = workdir / "data", workdir / "backups"
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOCIAL_")}
    env |= {"POLYSOCIAL_DATA_DIR": str(data), "POLYSOCIAL_BACKUP_DIR": str(backups)}
    settings = Settings(data_dir=data, backup_dir=backups)
    engines = EmbeddedEngines(settings)
    try:
        polysocial(env, "engines", "up")
        password = secrets.token_urlsafe(12)
        polysocial(env, "seed-data", "--users", str(users), "--posts", str(posts), "--seed", "7", stdin=password)
        started = time.monotonic()
        polysocial(env, "backup", "create")
        backup_s = time.monotonic() - started
        backup_bytes = sum(p.stat().st_size for p in backups.rglob("*") if p.is_file() and "wal" not in p.parts)
        lags = archive_lag_ms(settings)
        for pidfile in (
            engines.layout.postgres_data / "postmaster.pid",
            engines.layout.redis_pidfile,
            engines.postgres.receiver_pidfile,
        ):
            pid = read_pid(pidfile)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
        wait_until(lambda: engines.postgres.pid() is None and engines.redis.pid() is None, timeout_s=30)
        shutil.rmtree(data)
        started = time.monotonic()
        polysocial(env, "backup", "restore")
        restore_s = time.monotonic() - started
        rto_s = serve_until_ready(env, started)
        quantiles = statistics.quantiles(lags, n=100)
        return Figures(users, posts, backup_s, backup_bytes, statistics.median(lags), quantiles[98], restore_s, rto_s)
    finally:
        subprocess.run(
            [sys.executable, "-m", "polysocial", "engines", "down"], env=env, capture_output=True, check=False
        )


def serve_until_ready(env: dict[str, str], started: float) -> float:
    """`polysocial serve` until /health/ready answers 200: seconds since ``started``."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "polysocial", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        if not wait_until(ready, timeout_s=300, interval_s=0.05):
            raise RuntimeError("the restored service did not become ready within 300 s")
        return time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=30)


def measure_seed(users: int, posts: int, workdir: Path) -> Figures:
    from polysocial.engines.seed_stack import running_seed_stack

    backups = workdir / "backups"
    with running_seed_stack(workdir / "seed") as seed:
        engines = EmbeddedEngines(Settings(data_dir=workdir / "engines"))
        engines.up(only_needed=False)
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSOCIAL_")}
            env |= seed.env(relational_url=engines.postgres.url, keyvalue_url=engines.redis.url)
            env |= {
                "POLYSOCIAL_BACKUP_DIR": str(backups),
                "POLYSOCIAL_DATA_DIR": str(workdir / "unused"),
            }
            password = secrets.token_urlsafe(12)
            polysocial(env, "seed-data", "--users", str(users), "--posts", str(posts), "--seed", "7", stdin=password)
            started = time.monotonic()
            polysocial(env, "backup", "create")
            backup_s = time.monotonic() - started
            backup_bytes = sum(p.stat().st_size for p in backups.rglob("*") if p.is_file())
            started = time.monotonic()
            polysocial(env, "backup", "restore")
            restore_s = time.monotonic() - started
            rto_s = serve_until_ready(env, started)
            return Figures(users, posts, backup_s, backup_bytes, 0.0, 0.0, restore_s, rto_s)
        finally:
            engines.down()


def markdown(figures: list[Figures], seed: list[Figures] | None = None) -> str:
    rows = [
        "## Backups and recovery",
        "",
        "`python -m polysocial.bench.recovery`, on the embedded profile (one machine, the same 2 shared cores): a "
        "network loaded by `seed-data`, `polysocial backup create`, then every process SIGKILLed and the data folder "
        "deleted, `polysocial backup restore`, and `polysocial serve` until `/health/ready` answers 200 (RTO). The "
        f"recovery point (RPO) is how far the streamed WAL archive trailed each of {COMMITS} commits: the changes a "
        "lost disk takes along are at most those of that window.",
        "",
        "| users | posts | backup | backup size | RPO p50 / p99 | restore | RTO (restore + start to ready) |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        rows.append(
            f"| {f.users:,} | {f.posts:,} | {f.backup_s:.1f} s | {f.backup_bytes / 1e6:,.0f} MB | "
            f"{f.rpo_p50_ms:.1f} / {f.rpo_p99_ms:.1f} ms | {f.restore_s:.1f} s | {f.rto_s:.1f} s |"
        )
    if seed:
        rows += [
            "",
            "On the seed profile (PostgreSQL and Redis embedded, FerretDB, Neo4j and InfluxDB from the seed stack): "
            "`pg_dump` on an exported snapshot, the documents in mongodump's layout, `influxd backup -portable`, the "
            "leaderboards; `backup restore` puts each back and rebuilds the Neo4j graph from the follow record. No WAL "
            "archive: the recovery point is the backup itself.",
            "",
            "| users | posts | backup | backup size | restore, graph rebuilt | RTO (restore + start to ready) |",
            "|---|---|---|---|---|---|",
        ]
        for f in seed:
            rows.append(
                f"| {f.users:,} | {f.posts:,} | {f.backup_s:.1f} s | {f.backup_bytes / 1e6:,.0f} MB | "
                f"{f.restore_s:.1f} s | {f.rto_s:.1f} s |"
            )
    return "\n".join(rows) + "\n"


def splice(benchmarks: Path, section: str, begin: str = BEGIN, end: str = END) -> None:
    """Put the section into BENCHMARKS.md between its markers (appended the first time)."""
    if not benchmarks.exists():
        return
    text = benchmarks.read_text()
    block = f"{begin}\n{section}{end}\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    benchmarks.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, action="append", help="accounts (repeat for more sizes)")
    parser.add_argument("--posts", type=int, action="append", help="posts, one per --users")
    parser.add_argument("--seed-users", type=int, action="append", help="accounts on the seed profile (0: none)")
    parser.add_argument("--output-dir", type=Path, default=Path("."))
    args = parser.parse_args()
    users = args.users or [20_000]
    posts = args.posts or [u * 10 for u in users]
    if len(posts) != len(users):
        parser.error("give one --posts per --users")
    figures = []
    for n, p in zip(users, posts, strict=True):
        with tempfile.TemporaryDirectory(prefix="polysocial-recovery-") as workdir:
            figures.append(measure(n, p, Path(workdir)))
            Path(args.output_dir / "benchmarks").mkdir(parents=True, exist_ok=True)
            (args.output_dir / "benchmarks" / "recovery.partial.md").write_text(
                markdown(figures)
            )  # kept if a later size fails
            f = figures[-1]
            print(
                f"{n:,} users: backup {f.backup_s:.1f} s ({f.backup_bytes / 1e6:,.0f} MB), RPO p50 "
                f"{f.rpo_p50_ms:.1f} ms p99 {f.rpo_p99_ms:.1f} ms, restore {f.restore_s:.1f} s, RTO {f.rto_s:.1f} s"
            )
    seed = []
    for n in [u for u in (args.seed_users if args.seed_users is not None else [20_000]) if u > 0]:
        with tempfile.TemporaryDirectory(prefix="polysocial-recovery-seed-") as workdir:
            try:
                seed.append(measure_seed(n, n * 10, Path(workdir)))
            except RuntimeError as exc:  # the embedded figures still get written
                print(f"seed profile, {n:,} users: failed: {str(exc)[-600:]}", file=sys.stderr)
                continue
            f = seed[-1]
            print(
                f"seed profile, {n:,} users: backup {f.backup_s:.1f} s ({f.backup_bytes / 1e6:,.0f} MB), "
                f"restore {f.restore_s:.1f} s, RTO {f.rto_s:.1f} s"
            )
    section = markdown(figures, seed)
    notes = args.output_dir / "benchmarks" / "recovery.md"
    notes.parent.mkdir(parents=True, exist_ok=True)
    notes.write_text(section)
    splice(args.output_dir / "BENCHMARKS.md", section)
    print(section)


if __name__ == "__main__":
    main()
