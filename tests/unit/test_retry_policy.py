"""The relay's retry policy: pure, so its arithmetic is checked without an engine (the jitter is injected)."""

from __future__ import annotations

import pytest

from polysocial.domain.errors import StoreUnavailable
from polysocial.events.retry import RetryPolicy

DOWN = StoreUnavailable("keyvalue", "redis://127.0.0.1:1", "connection refused")


def test_backoff_doubles_from_the_base_and_stops_at_the_cap() -> None:
    policy = RetryPolicy(max_attempts=20, base_s=1, max_s=30, jitter=lambda: 1.0)
    assert [policy.backoff_s(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


@pytest.mark.parametrize("factor", [0.5, 1.0, 1.5])
def test_jitter_scales_the_delay(factor: float) -> None:
    policy = RetryPolicy(base_s=2, max_s=300, jitter=lambda: factor)
    assert policy.backoff_s(3) == 8 * factor


def test_the_default_jitter_stays_within_half_and_one_and_a_half() -> None:
    policy = RetryPolicy(base_s=1, max_s=30)
    for failures in range(1, 9):
        expected = min(30, 2 ** (failures - 1))
        for _ in range(50):
            assert 0.5 * expected <= policy.backoff_s(failures) <= 1.5 * expected


def test_an_event_goes_to_the_dead_letters_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3, jitter=lambda: 1.0)
    assert policy.retry_in(1, RuntimeError("a bug")) == 0.5
    assert policy.retry_in(2, RuntimeError("a bug")) == 1.0
    assert policy.retry_in(3, RuntimeError("a bug")) is None
    assert policy.retry_in(3) is None


def test_a_store_outage_is_retried_for_as_long_as_it_lasts_at_the_capped_delay() -> None:
    policy = RetryPolicy(max_attempts=3, base_s=1, max_s=30, jitter=lambda: 1.0)
    assert policy.retry_in(1, DOWN) == 1
    assert policy.retry_in(3, DOWN) == 4
    assert policy.retry_in(1_000_000, DOWN) == 30  # never given up, never overflows
