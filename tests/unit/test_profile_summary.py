"""The profile summary of benchmarks/profile.md: self time per frame, and each sample to its innermost layer."""

from __future__ import annotations

import gzip
from pathlib import Path

from polysocial.bench.profile import OTHER, layer_of, summarize

MAIN = "<module> (polysocial/__main__.py:3);run (uvicorn/server.py:10)"
STACKS = (
    f"{MAIN};home_feed (polysocial/api/routes/feed.py:36);execute (psycopg/cursor_async.py:9) 6\n"
    f"{MAIN};solve_dependencies (fastapi/dependencies/utils.py:5) 3\n"
    "_run_module_as_main (/usr/lib/python3.11/runpy.py:198);select (/usr/lib/python3.11/selectors.py:468) 1\n"
)


def test_each_sample_goes_to_its_innermost_layer() -> None:
    assert layer_of(["a (polysocial/x.py:1)", "b (fastapi/routing.py:2)"]).startswith("framework")
    assert layer_of(["a (fastapi/routing.py:2)", "b (polysocial/x.py:1)"]).startswith("our code")
    assert layer_of(["x (psycopg/cursor.py:1)", "y (/usr/lib/python3.11/json/decoder.py:3)"]).startswith("response")
    assert layer_of(["select (/usr/lib/python3.11/selectors.py:468)"]) == OTHER


def test_the_summary_reads_plain_and_gzipped_profiles_alike(tmp_path: Path) -> None:
    plain, packed = tmp_path / "p.txt", tmp_path / "p.txt.gz"
    plain.write_text(STACKS)
    packed.write_bytes(gzip.compress(STACKS.encode()))
    text = summarize(plain, top=2)
    assert text == summarize(packed, top=2)
    assert text.startswith("10 samples")
    assert "| 60.0% | `execute (psycopg/cursor_async.py)` |" in text
    assert "| 30.0% | `solve_dependencies (fastapi/dependencies/utils.py)` |" in text
    assert "| 60.0% | PostgreSQL driver and pool (psycopg) |" in text
    assert f"| 10.0% | {OTHER} |" in text
