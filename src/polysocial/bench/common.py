"""Shared helpers for the benchmarks: engines for a profile, percentiles, a printed table."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from polysocial.config import EMBEDDED_DATABASE, Role, Settings
from polysocial.engines.embedded import EmbeddedEngines, EmbeddedPostgres
from polysocial.engines.layout import EngineLayout
from polysocial.engines.redis_cluster import RedisClusterNodes
from polysocial.engines.seed_stack import SeedStack, missing_tools

console = Console()


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": statistics.median(values),
        "p90_ms": percentile(values, 90),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values),
    }


@contextlib.contextmanager
def profile_settings(profile: str, workdir: Path | None = None) -> Iterator[Settings]:
    """Settings for ``profile`` on engines started here (and stopped after): the embedded pair, plus the seed
    stack's servers for ``seed``."""
    with contextlib.ExitStack() as stack:
        root = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="polysocial-bench-")))
        engines = EmbeddedEngines(Settings(data_dir=root / "engines"))
        engines.up(only_needed=False)
        stack.callback(engines.down)
        if profile == "embedded":
            yield Settings(data_dir=root / "engines").for_bulk_work()
        elif profile == "postgres-only":
            yield Settings(profile="postgres-only", data_dir=root / "engines").for_bulk_work()
        elif profile == "seed":
            missing = missing_tools()
            if missing:
                raise SystemExit(f"the seed stack cannot run here: {missing}")
            seed = SeedStack(root / "seed").start()
            stack.callback(seed.stop)
            yield Settings(
                profile="seed",
                relational_url=engines.postgres.url,
                documents_url=seed.urls["ferretdb"],
                graph_url=seed.urls["neo4j"],
                keyvalue_url=engines.redis.url,
                timeseries_url=seed.urls["influxdb"],
                sessions_url=seed.urls["cassandra"],
            ).for_bulk_work()
        elif profile == "cluster":
            # The embedded engines for the graph (FalkorDB) and the primary; the key-value role on a Redis Cluster of
            # 3 masters and 3 replicas; a streaming replica of the primary for stale-ok reads.
            cluster = RedisClusterNodes(root / "redis-cluster").up()
            stack.callback(cluster.down)
            replica = EmbeddedPostgres(EngineLayout(root / "replica"), primary=engines.postgres)
            replica.up()
            stack.callback(replica.down)
            base = Settings(data_dir=root / "engines")
            yield base.model_copy(
                update={
                    "keyvalue_url": SecretStr(cluster.url),
                    "graph_url": SecretStr(base.store_url(Role.GRAPH).url),
                    "relational_replica_urls": SecretStr(replica.layout.postgres_url(EMBEDDED_DATABASE)),
                }
            ).for_bulk_work()
        else:
            raise SystemExit(f"unknown profile {profile!r}")


def print_table(title: str, rows: dict[str, dict[str, float]], note: str = "") -> None:
    table = Table(title=title)
    columns = ["variant", *next(iter(rows.values())).keys()]
    for column in columns:
        table.add_column(column, justify="right" if column != "variant" else "left")
    for variant, numbers in rows.items():
        table.add_row(variant, *(f"{v:.2f}" if isinstance(v, float) else str(v) for v in numbers.values()))
    console.print(table)
    if note:
        console.print(note)
