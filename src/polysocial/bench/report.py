"""What `polysocial bench` writes: ``benchmarks/results.json`` (the figures), one PNG chart per workload
(``benchmarks/charts/<workload>.png``: p50 and p99 per variant), and ``BENCHMARKS.md`` (tables next to the charts,
what each workload is, the data set, the machine, and the seed's claims checked against the figures)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from polysocial.bench.suite import ENGINES, GAPS, VARIANTS, WORKLOADS, Cell, Run

COLORS = {
    "embedded": "#2f6f9f",
    "seed": "#7a5195",
    "postgres-only": "#3f8f5f",
    "cluster": "#d08c2e",
    "naive": "#c8553d",
}


def write(run: Run, root: Path, command: str) -> list[Path]:
    """Write the three outputs under ``root``; the paths written."""
    folder = root / "benchmarks"
    charts = folder / "charts"
    charts.mkdir(parents=True, exist_ok=True)
    results = folder / "results.json"
    results.write_text(json.dumps(run.results(), indent=2) + "\n")
    (folder / "run.json").write_text(json.dumps(run.meta(), indent=2) + "\n")
    pictures = [
        chart(
            workload,
            run.cells[workload],
            charts / f"{workload}.png",
            {v: run.gap(workload, v) for v in run.variants if v not in run.cells[workload]},
        )
        for workload in WORKLOADS
    ]
    markdown = root / "BENCHMARKS.md"
    notes, recovery, sessions = folder / "profile.md", folder / "recovery.md", folder / "sessions.md"
    markdown.write_text(
        render(
            run,
            command,
            notes.read_text() if notes.exists() else None,
            recovery.read_text() if recovery.exists() else None,
            sessions.read_text() if sessions.exists() else None,
        )
    )
    return [markdown, results, folder / "run.json", *(p for p in pictures if p is not None)]


def chart(workload: str, cells: dict[str, Cell], path: Path, gaps: dict[str, str] | None = None) -> Path | None:
    """p50 and p99 per variant. A variant without figures (gave up, timed out, not run) keeps its place, marked and
    with its reason; a cell that saw errors says how many; figures in another unit (per item where the others are
    per batch) get a panel of their own; a logarithmic axis says so."""
    gaps = gaps or {}
    if not cells:
        path.unlink(missing_ok=True)
        return None
    if workload == "capacity":
        return load_chart(cells, path)
    fig = bar_figure(workload, cells, gaps)
    import matplotlib.pyplot as plt

    fig.savefig(path)
    plt.close(fig)
    return path


def bar_figure(workload: str, cells: dict[str, Cell], gaps: dict[str, str]) -> Any:
    """The figure of ``chart`` (tests read its texts and axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units: dict[str, list[str]] = {}
    for variant in (v for v in VARIANTS if v in cells or v in gaps):
        unit = str(cells[variant].extra.get("unit", "")) if variant in cells else ""
        units.setdefault(unit, []).append(variant)
    panels = sorted(units.items(), key=lambda item: item[0] != "")  # the main unit first
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(6.4 + 2.2 * (len(panels) - 1), 3.0),
        dpi=110,
        gridspec_kw={"width_ratios": [len(vs) for _, vs in panels]},
        squeeze=False,
    )
    for ax, (unit, variants) in zip(axes[0], panels, strict=True):
        _bars(ax, variants, cells, gaps, unit)
    fig.suptitle(f"{workload}: p50 (solid) and p99 (light) per variant", fontsize=10)
    fig.tight_layout()
    return fig


def _bars(ax: Any, variants: list[str], cells: dict[str, Cell], gaps: dict[str, str], unit: str) -> None:
    width = 0.38
    values = [v for name in variants if name in cells for v in (cells[name].p50_ms, cells[name].p99_ms) if v > 0]
    log = bool(values) and max(values) / min(values) > 30
    for i, variant in enumerate(variants):
        if variant not in cells:  # no figures: its place stays, with the reason
            reason = gaps.get(variant, "no figures")
            ax.text(
                i,
                0.5,
                "x\n" + _short(reason),
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="center",
                fontsize=6.5,
                color="#b00020",
            )
            continue
        cell = cells[variant]
        for offset, value, alpha, label in (
            (-width / 2, cell.p50_ms, 1.0, "p50"),
            (width / 2, cell.p99_ms, 0.45, "p99"),
        ):
            bar = ax.bar(i + offset, value, width, color=COLORS[variant], alpha=alpha, edgecolor=COLORS[variant])
            ax.bar_label(bar, labels=[f"{label}\n{figure(value)}"], fontsize=7, padding=2)
        errors = int(cell.extra.get("errors", 0) or 0)
        if errors:
            ax.text(
                i,
                0.97,
                f"{errors:,} errors",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="top",
                fontsize=7,
                color="#b00020",
                fontweight="bold",
            )
    ax.set_xticks(range(len(variants)), variants)
    if log:
        ax.set_yscale("log")
        ax.set_ylim(min(values) / 2, max(values) * 8)
    else:
        ax.set_ylim(0, max(values, default=1) * 1.35)
    scale = ", log scale" if log else ""
    ax.set_ylabel(f"ms{' ' + unit if unit else ''}{scale} (lower is better)", fontsize=8)
    if unit:
        ax.set_title(f"{unit}: not comparable", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)


def _short(reason: str, width: int = 28) -> str:
    """A reason wrapped to fit under a bar, at most three lines."""
    import textwrap

    lines = textwrap.wrap(reason, width)
    return "\n".join(lines[:3]) + ("..." if len(lines) > 3 else "")


def load_chart(cells: dict[str, Cell], path: Path) -> Path:
    """Latency (p50, p99) against the offered rate, per variant, as wrk2's plots draw it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=110)
    for variant in (v for v in VARIANTS if v in cells):
        steps = cells[variant].extra.get("steps", [])
        rates = [st["offered_per_s"] for st in steps]
        ax.plot(rates, [st["p50_ms"] for st in steps], "o-", color=COLORS[variant], label=f"{variant} p50")
        ax.plot(rates, [st["p99_ms"] for st in steps], "s--", color=COLORS[variant], alpha=0.6, label=f"{variant} p99")
        failed = [st for st in steps if st.get("errors", 0)]
        if failed:  # a rate that saw errors is marked where its p99 is drawn
            ax.scatter(
                [st["offered_per_s"] for st in failed],
                [st["p99_ms"] for st in failed],
                marker="x",
                s=60,
                color="#b00020",
                zorder=5,
                label=f"{variant}: errors at that rate",
            )
    ax.axhline(50, color="#999999", linewidth=0.8, linestyle=":")
    ax.set_yscale("log")
    ax.set_xlabel("offered requests/s (open loop)")
    ax.set_ylabel("ms, log scale (lower is better)")
    ax.set_title("capacity: latency against offered load; dotted: the 50 ms p99 target", fontsize=10)
    ax.legend(fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def busy(cores: float | None) -> str:
    return "-" if cores is None else f"{cores:.2f}"  # not measured in runs before it was


def http_details(run: Run) -> list[str]:
    """Every endpoint of the closed-loop run, per variant, with the generator's and the server's CPU."""
    out = []
    for variant, cell in run.cells["http"].items():
        endpoints = cell.extra.get("endpoints", {})
        out += [
            f"**{variant}**, {cell.extra.get('workers', '?')} server processes:",
            "",
            "| endpoint | requests/s | p50 ms | p99 ms | errors | server CPU (cores) | wrk CPU (cores) "
            "| machine busy (cores) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, f in endpoints.items():
            shown = "no-store ceiling (fixed page)" if name == "ceiling" else name
            out.append(
                f"| {shown} | {rate(f['ops_per_s'])} | {figure(f['p50_ms'])} | {figure(f['p99_ms'])} | {f['errors']} "
                f"| {f['server_cpu_cores']:.2f} | {f['generator_cpu_cores']:.2f} "
                f"| {busy(f.get('machine_busy_cores'))} |"
            )
        out.append("")
    return out


def capacity_details(run: Run) -> list[str]:
    out = []
    for variant, cell in run.cells["capacity"].items():
        out += [
            f"**{variant}**: highest rate held (p99 <= 50 ms, no error): "
            f"{rate(cell.extra.get('max_sustained_per_s', 0))} requests/s.",
            "",
            "| offered/s | achieved/s | p50 ms | p99 ms | max ms | errors | server CPU (cores) | vegeta CPU (cores) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for st in cell.extra.get("steps", []):
            out.append(
                f"| {rate(st['offered_per_s'])} | {rate(st['achieved_per_s'])} | {figure(st['p50_ms'])} "
                f"| {figure(st['p99_ms'])} | {figure(st['max_ms'])} | {st['errors']} | {st['server_cpu_cores']:.2f} "
                f"| {st['generator_cpu_cores']:.2f} |"
            )
        out.append("")
    return out


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
            lines.append(
                f"| {variant} | {figure(cell.p50_ms)} | {figure(cell.p99_ms)} | {rate(cell.ops_per_s)} | {cell.note} |"
            )
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


def _p50(run: Run, workload: str, variant: str) -> str:
    return f"{figure(run.cells[workload][variant].p50_ms)} ms"


def _have(run: Run, workload: str, *variants: str) -> bool:
    return all(v in run.cells[workload] for v in variants)


def _feed_claim(run: Run) -> str | None:
    if not _have(run, "feed", "naive", "embedded"):
        return None
    text = (
        '**"Feed load times dropped from 2 seconds to 50 milliseconds."** The seed\'s 6-table join answers in '
        f"{_p50(run, 'feed', 'naive')} at p50; the embedded feed (Redis timelines, fan-out on write) in "
        f"{_p50(run, 'feed', 'embedded')}: {times(ratio(run, 'feed', 'naive', 'embedded'))} faster."
    )
    if _have(run, "feed", "postgres-only"):
        join_vs_sql = ratio(run, "feed", "naive", "postgres-only") or 0
        sql_vs_redis = ratio(run, "feed", "postgres-only", "embedded") or 0
        text += (
            f" PostgreSQL alone, queried well (one index probe per followee, no join over likes and comments), "
            f"answers in {_p50(run, 'feed', 'postgres-only')}: {times(join_vs_sql)} faster than the join and "
            f"{times(sql_vs_redis)} the embedded feed's time."
        )
        if join_vs_sql >= 10 * max(sql_vs_redis, 1):
            text += " Most of the gain is in not running the join, not in leaving PostgreSQL."
    if _have(run, "feed", "seed"):
        text += f" On the seed's stack (documents on FerretDB): {_p50(run, 'feed', 'seed')}."
    return text


def claims(run: Run) -> list[str]:
    """The seed's claims, each next to what this run measured; a claim whose figures are missing is left out."""
    c = run.cells
    out = []

    def p50(workload: str, variant: str) -> str:
        return _p50(run, workload, variant)

    def have(workload: str, *variants: str) -> bool:
        return _have(run, workload, *variants)

    feed = _feed_claim(run)
    if feed is not None:
        out.append(feed)
    engines = {
        "embedded": "FalkorDB",
        "seed": "Neo4j",
        "postgres-only": "PostgreSQL (a two-hop join)",
        "naive": "the article's own Cypher on FalkorDB",
    }
    found = [f"{name} {p50('suggestions', v)}" for v, name in engines.items() if have("suggestions", v)]
    if len(found) > 1:
        fastest = min(c["suggestions"], key=lambda v: c["suggestions"][v].p50_ms)
        out.append(
            '**"Friends of friends: natural in a graph DB, a nightmare in SQL."** Suggestions at p50: '
            + ", ".join(found)
            + f". Fastest here: {engines[fastest]}."
        )
    if c["ingest"]:
        shown = ", ".join(f"{v} {rate(cell.ops_per_s)} views/s" for v, cell in c["ingest"].items())
        text = (
            '**"Time-based aggregation: InfluxDB\'s specialty."** Ingest (views per second, including the naive '
            f"one-write-per-view): {shown}."
        )
        if c["trending"]:
            text += " Trending at p50: " + ", ".join(f"{v} {p50('trending', v)}" for v in c["trending"]) + "."
        out.append(text)
    money = []
    for workload in ("orders", "transfers"):
        for variant, who in (("naive", "the seed's sketch"), ("embedded", "ours")):
            if have(workload, variant):
                money.append(f"{workload}, {who}: {c[workload][variant].note}")
    if money:
        out.append(
            '**"Transactions ensure either everything succeeds or nothing does."** True, and not enough under '
            "concurrency. Outcomes per run: "
            + "; ".join(money)
            + ". The seed's SERIALIZABLE order has no retry, so a serialization failure reaches the customer as an "
            "error; its transfer locks the two rows in call order (two opposite transfers can deadlock) and "
            "checks no balance (balances go negative). Ours retry 40001/40P01, lock in id order and keep every "
            "rule in the database."
        )
    return out


def render(
    run: Run, command: str, profile: str | None = None, recovery: str | None = None, sessions: str | None = None
) -> str:
    """BENCHMARKS.md; ``profile``: the hand-written profiling notes (benchmarks/profile.md), kept across runs;
    ``recovery``: the backup and recovery figures (benchmarks/recovery.md, from `python -m
    polysocial.bench.recovery`), kept across runs too; ``sessions`` likewise (benchmarks/sessions.md)."""
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
        f"others each ({run.network.get('follows', 0):,} follows), skewed: the most followed account has "
        f"{run.network.get('max_followers', 0):,} followers, {run.network.get('celebrities', 0):,} have more than "
        f"the celebrity threshold; {s.posts:,} posts with {run.network.get('likes', 0):,} likes and "
        f"{run.network.get('comments', 0):,} comments, {s.products:,} products, a funded wallet per user; seed "
        f"{s.seed}. Loading took " + ", ".join(f"{v} {sec:.0f} s" for v, sec in run.loads.items()) + ".",
        "",
        f"**Machine**: {run.machine.get('cpu', '?')}, {run.machine.get('cores', '?')} cores, "
        f"{run.machine.get('memory', '?')}, {run.machine.get('system', '?')}, Python {run.machine.get('python', '?')}. "
        "The machine is shared and small: compare variants within this run (ratios), not with other machines.",
        "",
        "**Variants**",
        "",
        *(f"- `{v}`: {ENGINES[v]}" for v in run.variants),
        "",
        "> The `seed` variant's MongoDB figures come from **FerretDB** 1.24, which speaks MongoDB's wire protocol and "
        "stores documents in PostgreSQL (a PostgreSQL of its own, not the relational one): it is not MongoDB's engine. "
        "Equality filters on plain fields, a sort on one field and a limit run in PostgreSQL. FerretDB sends an "
        "equality as jsonb containment, which the B-tree indexes it builds cannot answer; the seed stack gives each "
        "of them a GIN twin on the same field (an event trigger in FerretDB's PostgreSQL), so a lookup by `_id` or "
        "`author_id` is an index read, as in MongoDB. `$in` is evaluated in FerretDB over the whole collection: "
        "the adapter reads a page of posts by id "
        "as concurrent one-id lookups there (MongoDB answers `$in` from the `_id` index). The relay finds documents "
        "with events waiting by equality on a mark (`_outbox_due: true`), since a range filter (`pending > 0`) made "
        "FerretDB decode the whole collection at every poll. Neo4j and InfluxDB are the real "
        "servers, run as test servers (small heaps, one node).",
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
        if workload == "http":
            parts += http_details(run)
        if workload == "capacity":
            parts += capacity_details(run)
    if profile is not None:
        parts += [profile.rstrip(), ""]
    if recovery is not None:
        from polysocial.bench.recovery import BEGIN, END

        parts += [BEGIN, recovery.rstrip(), END, ""]
    if sessions is not None:
        from polysocial.bench import sessions as sessions_bench

        parts += [sessions_bench.BEGIN, sessions.rstrip(), sessions_bench.END, ""]
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
        "`.analytics`, `.graph_queries`, `.signup_to_graph`, `.document_feed`), described in the README; "
        "`python -m polysocial.bench.profile` reads a py-spy profile (see *Where a request's CPU goes*).",
        "",
    ]
    return "\n".join(parts)


def redraw_charts(root: Path) -> list[Path]:
    """The charts again from benchmarks/results.json and run.json, without measuring anything (after a change to
    how they are drawn): `python -m polysocial.bench.report [folder]`."""
    folder = root / "benchmarks"
    results = json.loads((folder / "results.json").read_text())
    meta = json.loads((folder / "run.json").read_text())
    gave_up: dict[str, dict[str, str]] = meta.get("gave_up", {})
    drawn = []
    for workload in WORKLOADS:
        found = results.get(workload, {})
        cells = {
            variant: Cell(
                figures["p50_ms"],
                figures["p99_ms"],
                figures["ops_per_s"],
                extra={k: v for k, v in figures.items() if k not in {"p50_ms", "p99_ms", "ops_per_s"}},
            )
            for variant, figures in found.items()
        }
        gaps = {
            v: gave_up.get(workload, {}).get(v) or GAPS.get((workload, v), "not run")
            for v in meta.get("variants", [])
            if v not in cells
        }
        picture = chart(workload, cells, folder / "charts" / f"{workload}.png", gaps)
        if picture is not None:
            drawn.append(picture)
    return drawn


if __name__ == "__main__":
    import sys

    for path in redraw_charts(Path(sys.argv[1] if len(sys.argv) > 1 else ".")):
        print(path)
