"""What `polysocial bench` writes: ``benchmarks/results.json`` (the figures), one PNG chart per workload
(``benchmarks/charts/<workload>.png``: p50 and p99 per variant), and ``BENCHMARKS.md`` (tables next to the charts,
what each workload is, the data set, the machine, and the seed's claims checked against the figures)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from polysocial.bench.suite import ENGINES, VARIANTS, WORKLOADS, Cell, Run

COLORS = {"embedded": "#2f6f9f", "seed": "#7a5195", "postgres-only": "#3f8f5f", "naive": "#c8553d"}


def write(run: Run, root: Path, command: str) -> list[Path]:
    """Write the three outputs under ``root``; the paths written."""
    folder = root / "benchmarks"
    charts = folder / "charts"
    charts.mkdir(parents=True, exist_ok=True)
    results = folder / "results.json"
    results.write_text(json.dumps(run.results(), indent=2) + "\n")
    (folder / "run.json").write_text(json.dumps(run.meta(), indent=2) + "\n")
    pictures = [chart(workload, run.cells[workload], charts / f"{workload}.png") for workload in WORKLOADS]
    markdown = root / "BENCHMARKS.md"
    markdown.write_text(render(run, command))
    return [markdown, results, folder / "run.json", *(p for p in pictures if p is not None)]


def chart(workload: str, cells: dict[str, Cell], path: Path) -> Path | None:
    if not cells:
        path.unlink(missing_ok=True)
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = [v for v in VARIANTS if v in cells]
    fig, ax = plt.subplots(figsize=(6.4, 3.0), dpi=110)
    width = 0.38
    for i, variant in enumerate(variants):
        cell = cells[variant]
        for offset, value, alpha, label in ((-width / 2, cell.p50_ms, 1.0, "p50"), (width / 2, cell.p99_ms, 0.45,
                                                                                     "p99")):  # fmt: skip
            bar = ax.bar(i + offset, value, width, color=COLORS[variant], alpha=alpha, edgecolor=COLORS[variant])
            ax.bar_label(bar, labels=[f"{label}\n{figure(value)}"], fontsize=7, padding=2)
    ax.set_xticks(range(len(variants)), variants)
    values = [v for c in cells.values() for v in (c.p50_ms, c.p99_ms) if v > 0]
    if values and max(values) / min(values) > 30:
        ax.set_yscale("log")
        ax.set_ylim(min(values) / 2, max(values) * 8)
    else:
        ax.set_ylim(0, max(values, default=1) * 1.35)
    ax.set_ylabel("ms (lower is better)")
    ax.set_title(f"{workload}: p50 (solid) and p99 (light) per variant", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def figure(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def table(run: Run, workload: str) -> str:
    lines = ["| variant | p50 ms | p99 ms | ops/s | notes |", "|---|---:|---:|---:|---|"]
    for variant in run.variants:
        cell = run.cells[workload].get(variant)
        if cell is None:
            lines.append(f"| {variant} | — | — | — | {run.gap(workload, variant)} |")
        else:
            lines.append(f"| {variant} | {figure(cell.p50_ms)} | {figure(cell.p99_ms)} | {rate(cell.ops_per_s)} | "
                         f"{cell.note} |")  # fmt: skip
    return "\n".join(lines)


def ratio(run: Run, workload: str, slow: str, fast: str, *, of: str = "p50_ms") -> float | None:
    cells = run.cells[workload]
    if slow not in cells or fast not in cells:
        return None
    a, b = getattr(cells[slow], of), getattr(cells[fast], of)
    return a / b if b else math.inf


def times(value: float | None) -> str:
    if value is None:
        return "not measured in this run"
    return f"{value:,.0f}x" if value >= 10 else f"{value:.1f}x"


def claims(run: Run) -> list[str]:
    """The seed's claims, each next to what this run measured."""
    c = run.cells
    out = []

    def p50(workload: str, variant: str) -> str:
        cell = c[workload].get(variant)
        return f"{figure(cell.p50_ms)} ms" if cell else "—"

    out.append(
        f'**"Feed load times dropped from 2 seconds to 50 milliseconds."** The seed\'s 6-table join: '
        f"{p50('feed', 'naive')} at p50; the embedded feed (Redis timelines, fan-out on write): "
        f"{p50('feed', 'embedded')}, {times(ratio(run, 'feed', 'naive', 'embedded'))} faster; on the seed's stack "
        f"{p50('feed', 'seed')}; PostgreSQL alone, done right (one index probe per followee): "
        f"{p50('feed', 'postgres-only')}, {times(ratio(run, 'feed', 'naive', 'postgres-only'))} faster than the "
        f"join. Most of the seed's gain comes from not running the join, not from leaving PostgreSQL."
    )
    out.append(
        f'**"Friends of friends: natural in a graph DB, a nightmare in SQL."** Suggestions at p50: FalkorDB '
        f"{p50('suggestions', 'embedded')}, Neo4j {p50('suggestions', 'seed')}, PostgreSQL "
        f"(a two-hop join on the follows table) {p50('suggestions', 'postgres-only')}; the article's own "
        f"Cypher on FalkorDB {p50('suggestions', 'naive')}."
    )
    ingest = {v: cell.ops_per_s for v, cell in c["ingest"].items()}
    if ingest:
        shown = ", ".join(f"{v} {rate(r)} views/s" for v, r in ingest.items())
        out.append(
            f'**"Analytics would slow down operational tables" / "InfluxDB\'s specialty".** Ingest through the '
            f"buffer: {shown}. Trending at p50: "
            + ", ".join(f"{v} {p50('trending', v)}" for v in c["trending"])
            + ". Batching matters more than the engine: the seed's one write per view is the naive row."
        )
    money = []
    for workload in ("orders", "transfers"):
        if "naive" in c[workload]:
            money.append(f"{workload}: the seed's sketch gave `{c[workload]['naive'].note}`")
        if "embedded" in c[workload]:
            money.append(f"ours gave `{c[workload]['embedded'].note}`")
    if money:
        out.append(
            '**Money: "transactions ensure either everything succeeds or nothing does".** True, and not enough: '
            + "; ".join(money)
            + ". The seed's SERIALIZABLE order has no retry, so a serialization failure reaches the customer; its "
            "transfer locks rows in call order (deadlocks) and checks no balance (it goes negative). Ours retry "
            "40001/40P01, lock in id order and keep every rule in the database."
        )
    return out


def render(run: Run, command: str) -> str:
    s = run.sizes
    parts = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {run.started} ({run.seconds / 60:.1f} minutes). Do not edit by hand: run it "
        "again. The figures are in [benchmarks/results.json](benchmarks/results.json), shaped "
        '`{"<workload>": {"<variant>": {"p50_ms", "p99_ms", "ops_per_s"}}}`; sizes and machine in '
        "[benchmarks/run.json](benchmarks/run.json).",
        "",
        f"**Data set** (one, generated once, loaded into every variant): {s.users:,} users following {s.avg_follows} "
        f"others each with skewed popularity (a few accounts have thousands of followers), {s.posts:,} posts with "
        f"likes and comments, {s.products:,} products, a funded wallet per user; seed {s.seed}. Loading took "
        + ", ".join(f"{v} {sec:.0f} s" for v, sec in run.loads.items())
        + ".",
        "",
        f"**Machine**: {run.machine.get('cpu', '?')}, {run.machine.get('cores', '?')} cores, "
        f"{run.machine.get('memory', '?')}, {run.machine.get('system', '?')}, Python {run.machine.get('python', '?')}. "
        "The machine is shared and small: compare variants within this run (ratios), not with other machines.",
        "",
        "**Variants**",
        "",
        *(f"- `{v}`: {ENGINES[v]}" for v in run.variants),
        "",
        "> The `seed` variant's MongoDB figures come from **FerretDB**, which speaks MongoDB's wire protocol but "
        "stores documents in SQLite: it is not MongoDB's engine. It pushes only a plain `{_id: x}` down to SQLite; "
        "any other read (`$in` on ids, a filter plus a sort) decodes every document of the collection in FerretDB, so "
        "its read latency grows with the collection, where MongoDB would use an index. Every figure that reads posts "
        "in the `seed` column (feed, mixed) measures FerretDB, not MongoDB. Neo4j and InfluxDB are the real servers, "
        "run as test servers (small heaps, one node).",
        "",
        "## The seed's claims, measured",
        "",
        *(f"- {claim}" for claim in claims(run)),
        "",
    ]
    for workload, what in WORKLOADS.items():
        parts += [f"## {workload}", "", what[0].upper() + what[1:] + ".", ""]
        if run.cells[workload]:
            parts += [f"![{workload}: p50 and p99 per variant](benchmarks/charts/{workload}.png)", ""]
        parts += [table(run, workload), ""]
    parts += [
        "## Reproduce",
        "",
        "```",
        "pip install -e '.[bench]'",
        "polysocial seed-stack build   # once: the seed variant's servers (Go, Maven, Debian packages)",
        command,
        "```",
        "",
        "Each capability also has its own deeper benchmark (`python -m polysocial.bench.home_feed`, `.commerce`, "
        "`.analytics`, `.graph_queries`, `.signup_to_graph`, `.document_feed`, `.mixed`), described in the README.",
        "",
    ]
    return "\n".join(parts)
