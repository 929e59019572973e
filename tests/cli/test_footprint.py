"""`python -m polysocial.bench.footprint`: the per-unit sizes docs/CAPACITY.md is built from, measured on a small
network (the figures' shape and sanity here; their values at 20,000 users are in benchmarks/footprint.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_python_module


@pytest.mark.slow
def test_every_capacity_input_is_measured(tmp_path: Path) -> None:
    output = tmp_path / "footprint.json"
    done = run_python_module(
        "polysocial.bench.footprint", "--users", "600", "--posts", "6000", "--output", str(output), timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(output.read_text())
    assert figures["network"]["users"] == 600
    assert 300 < figures["postgres_bytes_per_account"] < 20_000
    assert 20 < figures["postgres_bytes_per_recorded_follow"] < 1_000
    assert 100 < figures["postgres_bytes_per_post"] < 20_000
    assert 50 < figures["postgres_bytes_per_comment"] < 20_000
    assert figures["falkordb_bytes_per_follow_edge"] > 0
    assert 16 < figures["redis_bytes_per_timeline_entry"] < 400  # a 16-byte id and the skiplist around it
    assert figures["fanout_inserts_per_post_mean"] >= 1  # the author's own timeline at least
    assert figures["relay_events_per_s"] > 0
