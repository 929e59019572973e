"""What `polysocial bench` writes, from a run's figures (pure: no engines)."""

from __future__ import annotations

import json
from pathlib import Path

from polysocial.bench import report
from polysocial.bench.suite import GAPS, WORKLOADS, Cell, Run, Sizes


def a_run() -> Run:
    run = Run(Sizes.quick(), ("embedded", "seed", "postgres-only", "naive"), machine={"cpu": "test", "cores": "2"})
    run.cells["feed"] = {
        "embedded": Cell(0.5, 0.9, 1900.0, "300 timed"),
        "postgres-only": Cell(1.0, 1.4, 950.0),
        "naive": Cell(200.0, 260.0, 5.0),
    }
    run.gave_up["feed"] = {"seed": "given up: one operation took over 30 s"}
    run.cells["ingest"] = {"embedded": Cell(90.0, 95.0, 105_000.0), "seed": Cell(80.0, 99.0, 130_000.0)}
    run.loads = {"embedded": 12.0, "seed": 95.0, "postgres-only": 11.0}
    return run


def test_results_json_holds_measured_cells_only_in_the_documented_shape(tmp_path: Path) -> None:
    written = report.write(a_run(), tmp_path, "polysocial bench --quick")
    results = json.loads((tmp_path / "benchmarks" / "results.json").read_text())
    assert results == {
        "feed": {
            "embedded": {"p50_ms": 0.5, "p99_ms": 0.9, "ops_per_s": 1900.0},
            "postgres-only": {"p50_ms": 1.0, "p99_ms": 1.4, "ops_per_s": 950.0},
            "naive": {"p50_ms": 200.0, "p99_ms": 260.0, "ops_per_s": 5.0},
        },
        "ingest": {
            "embedded": {"p50_ms": 90.0, "p99_ms": 95.0, "ops_per_s": 105000.0},
            "seed": {"p50_ms": 80.0, "p99_ms": 99.0, "ops_per_s": 130000.0},
        },
    }
    charts = sorted(p.name for p in written if p.suffix == ".png")
    assert charts == ["feed.png", "ingest.png"]  # no chart for a workload with no figure


def test_the_report_explains_every_empty_cell_and_names_ferretdb(tmp_path: Path) -> None:
    report.write(a_run(), tmp_path, "polysocial bench --quick")
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "| seed | — | — | — | given up: one operation took over 30 s |" in text
    assert f"| postgres-only | — | — | — | {GAPS[('fanout', 'postgres-only')]} |" in text
    assert "| embedded | — | — | — | not run |" in text  # e.g. orders: nothing measured, and it says so
    assert "**FerretDB**" in text
    assert "not MongoDB's engine" in text
    assert "400x faster" in text  # the seed's feed claim, from the naive and embedded figures
    assert "Most of the gain is in not running the join" in text  # 200x of it between the join and PostgreSQL
    assert (
        "Friends of friends: natural" not in text
    )  # no suggestions figures: that claim is left out, not filled with dashes
    for workload in WORKLOADS:
        assert f"## {workload}\n" in text
    assert "polysocial bench --quick" in text


def test_ratios_are_not_invented_when_a_figure_is_missing() -> None:
    run = a_run()
    assert report.ratio(run, "feed", "naive", "seed") is None
    assert report.times(None) == "not measured in this run"
    assert report.ratio(run, "feed", "naive", "embedded") == 400.0
