"""What `polysocial bench` writes, from a run's figures (pure: no engines)."""

from __future__ import annotations

import json
from pathlib import Path

from polysocial.bench import report
from polysocial.bench.http import Closed
from polysocial.bench.suite import GAPS, WORKLOADS, Cell, Run, Sizes, median_run


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


def texts(fig: object) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]  # type: ignore[attr-defined]


def test_a_chart_keeps_a_place_for_what_gave_up_marks_errors_and_says_log_scale() -> None:
    cells = {
        "embedded": Cell(0.5, 0.9, 1900.0),
        "postgres-only": Cell(60.0, 90.0, 15.0, extra={"errors": 3}),
    }
    fig = report.bar_figure("feed", cells, {"seed": "given up: one operation took over 30 s"})
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["embedded", "seed", "postgres-only"]
    shown = texts(fig)
    assert any(t.startswith("x\ngiven up: one operation") for t in shown), shown
    assert "3 errors" in shown
    assert "log scale" in ax.get_ylabel()  # 0.5 to 90 ms: drawn on a log axis, and it says so


def test_per_item_figures_get_a_panel_of_their_own() -> None:
    cells = {
        "embedded": Cell(90.0, 95.0, 105_000.0),
        "naive": Cell(0.2, 0.4, 4_000.0, extra={"unit": "per view"}),
    }
    fig = report.bar_figure("ingest", cells, {})
    main, apart = fig.axes
    assert [t.get_text() for t in main.get_xticklabels()] == ["embedded"]
    assert [t.get_text() for t in apart.get_xticklabels()] == ["naive"]
    assert "per view" in apart.get_ylabel()
    assert apart.get_title() == "per view: not comparable"
    assert "log scale" not in main.get_ylabel()


def test_the_http_figure_is_the_round_with_the_median_rate() -> None:
    runs = [Closed(1.0, 2.0, 3.0, 100, 0, 0.1, 1.0, per_s=rate) for rate in (900.0, 2_000.0, 1_500.0)]
    assert median_run(runs).per_s == 1_500.0
    assert median_run(runs[:2]).per_s == 900.0  # an even count: the lower middle one
    assert median_run(runs[:1]) is runs[0]
