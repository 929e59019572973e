"""`polysocial bench`: every workload on one data set per variant, written as BENCHMARKS.md, benchmarks/results.json
and one chart per workload. Run here with --quick (the report's shape; its figures are not ones to quote)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from polysocial.bench.http import generators_missing
from polysocial.bench.suite import GAPS, HTTP_ENDPOINTS, WORKLOADS
from tests.support.cli import run_cli

PNG = b"\x89PNG\r\n\x1a\n"
# A workload's figures beyond the three.
# Cells whose figures are in another unit than their workload's others (charts draw them apart).
OTHER_UNITS = {("ingest", "naive"): "per view"}
EXTRA = {
    "http": ("workers", "ratio_to_ceiling", "home_page_p50_to_feed", "endpoints", "rounds_per_s"),
    "mixed": ("workers", "errors"),
}


@pytest.mark.slow
@pytest.mark.timeout(900)  # three variants, each with three HTTP workloads against servers it starts
def test_bench_measures_every_workload_per_variant_and_writes_the_report(tmp_path: Path) -> None:
    missing = generators_missing()
    if missing:  # the HTTP workloads need wrk and vegeta; .ci/run installs them and requires them
        if os.environ.get("POLYSOCIAL_REQUIRE_LOAD_GENERATORS") == "1":
            pytest.fail("; ".join(missing))
        pytest.skip("; ".join(missing))
    variants = ("embedded", "postgres-only", "naive")
    result = run_cli("bench", "--quick", "--variants", ",".join(variants), "--output-dir", str(tmp_path), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    results = json.loads((tmp_path / "benchmarks" / "results.json").read_text())
    assert set(results) == set(WORKLOADS)
    for workload in WORKLOADS:
        expected = {v for v in variants if (workload, v) not in GAPS}
        assert set(results[workload]) == expected, workload
        for variant, figures in results[workload].items():
            base = {k: figures[k] for k in ("p50_ms", "p99_ms", "ops_per_s")}
            assert figures.get("errors", 0) == 0, (workload, variant, figures)
            if workload == "capacity":  # no rate may have held on a busy machine: 0 is then the honest figure
                assert figures["max_sustained_per_s"] == figures["ops_per_s"] >= 0, (variant, figures)
                steps = figures["steps"]
                assert [st["offered_per_s"] for st in steps] == [50, 100][: len(steps)], (variant, steps)
                assert all(st["requests"] > 0 and st["generator_cpu_cores"] > 0 for st in steps), (variant, steps)
                base.pop("ops_per_s")
            else:
                unit = {"unit"} if (workload, variant) in OTHER_UNITS else set()
                assert set(figures) == set(base) | set(EXTRA.get(workload, ())) | unit, (workload, variant)
                assert figures.get("unit") == OTHER_UNITS.get((workload, variant)), (workload, variant)
            assert all(math.isfinite(v) and v > 0 for v in base.values()), (workload, variant, figures)
            assert figures["p99_ms"] >= figures["p50_ms"], (workload, variant, figures)
        if workload == "http":
            for variant, figures in results[workload].items():
                endpoints = figures["endpoints"]
                assert set(endpoints) == {*HTTP_ENDPOINTS, "ceiling"}, variant
                assert all(e["errors"] == 0 and e["ops_per_s"] > 0 for e in endpoints.values()), (variant, endpoints)
                # how busy the whole machine was: the server's processes are part of it
                cores = os.cpu_count() or 1
                assert all(
                    0.9 * e["server_cpu_cores"] <= e["machine_busy_cores"] <= cores + 0.05 for e in endpoints.values()
                ), (variant, endpoints)
                # --quick runs one round: each endpoint's figure is that round's
                rounds = figures["rounds_per_s"]
                assert set(rounds) == set(endpoints), variant
                assert all(rounds[e] == [endpoints[e]["ops_per_s"]] for e in endpoints), (variant, rounds)
                # The framework answering a fixed page outruns the feed that reads three stores.
                assert endpoints["ceiling"]["ops_per_s"] > endpoints["feed"]["ops_per_s"], (variant, endpoints)
                assert figures["ratio_to_ceiling"] == pytest.approx(
                    endpoints["feed"]["ops_per_s"] / endpoints["ceiling"]["ops_per_s"], abs=0.001
                )
                # the web client's home page: the same feed, rendered as HTML, measured in the same run
                assert figures["home_page_p50_to_feed"] == pytest.approx(
                    endpoints["home page"]["p50_ms"] / endpoints["feed"]["p50_ms"], abs=0.001
                )

    report = (tmp_path / "BENCHMARKS.md").read_text()
    for workload in WORKLOADS:
        assert f"## {workload}\n" in report
        chart = tmp_path / "benchmarks" / "charts" / f"{workload}.png"
        assert chart.read_bytes().startswith(PNG), workload
        assert f"](benchmarks/charts/{workload}.png)" in report
    # A cell without a figure says why, in the table.
    assert GAPS[("fanout", "postgres-only")] in report
    assert "polysocial bench --quick --variants embedded,postgres-only,naive" in report
    assert "| no-store ceiling (fixed page) |" in report
    assert "highest rate held (p99 <= 50 ms, no error)" in report
    # The seed's feed join is slower than the embedded feed even on a tiny network.
    assert results["feed"]["naive"]["p50_ms"] > results["feed"]["embedded"]["p50_ms"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--variants", "embedded,mongo"], "--variants: unknown ['mongo']"),
        (["--variants", ","], "--variants: unknown none given"),
        (["--users", "100", "--avg-follows", "100"], "--avg-follows must be below --users (100)"),
        (["--users", "5"], "Invalid value for '--users'"),
    ],
)
def test_bench_refuses_bad_options_before_starting_anything(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli("bench", *args, "--output-dir", str(tmp_path), timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "benchmarks").exists()
