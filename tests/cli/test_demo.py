"""`polysocial demo`: every scenario of the seed, on engines of its own, in under a minute."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import seed_stack_required
from tests.support.cli import run_cli

pytestmark = pytest.mark.slow


def test_the_demo_runs_every_scenario_and_cleans_up() -> None:
    # Where the seed stack is built (CI), the demo adds Cassandra's AP scenario: three nodes, one killed.
    with_cassandra = seed_stack_required()
    result = run_cli("demo", "--cassandra" if with_cassandra else "--no-cassandra", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.search(r"(\d+) of (\d+) scenarios as expected in ([\d.]+) s", result.stdout)
    assert found is not None, result.stdout
    done, total, seconds = int(found[1]), int(found[2]), float(found[3])
    assert done == total == (12 if with_cassandra else 11)
    assert seconds < (150 if with_cassandra else 60)
    if with_cassandra:
        assert "one SIGKILLed: sign-in at ONE" in " ".join(result.stdout.split()), result.stdout
    for scenario in ("the last-item race", "a cart that survives losing Redis", "rate limiting", "home feed"):
        assert scenario in result.stdout
    folder = re.search(r"polysocial demo \((/[^)]+)\)", result.stdout)
    assert folder is not None
    assert not Path(folder[1]).exists()  # the engines stopped and the folder went
