"""A server process's collector (api/server.tune_collector): what lives as long as the process is frozen out of
its sight, and the young generation is collected at GC_YOUNG_THRESHOLD, not Python's 700."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from polysocial.api.server import GC_YOUNG_THRESHOLD, tune_collector


@pytest.fixture
def collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector")
def test_a_tuned_collector_freezes_what_exists_and_collects_the_young_generation_less_often() -> None:
    lives_long: list[list[int]] = [[] for _ in range(10)]  # containers: the collector tracks them
    gc.set_threshold(700, 10, 10)
    tune_collector()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)
    assert GC_YOUNG_THRESHOLD > 700
    assert gc.get_freeze_count() > len(lives_long)
