"""Pure rules: adulthood, email normalisation, the GCRA reference arithmetic, failpoint names."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polysocial import failpoints
from polysocial.domain.accounts import is_adult, normalise_email
from polysocial.domain.limits import RateLimit, RateStatus, gcra


@pytest.mark.parametrize(
    ("birthdate", "today", "adult"),
    [
        (date(2000, 6, 1), date(2018, 6, 1), True),  # the 18th birthday itself
        (date(2000, 6, 2), date(2018, 6, 1), False),
        # as PostgreSQL's date - interval '18 years' has it (the CHECK constraint): a 29 February birth comes of
        # age on 1 March in a common year
        (date(2000, 2, 29), date(2018, 2, 28), False),
        (date(2000, 2, 29), date(2018, 3, 1), True),
        (date(2002, 2, 28), date(2020, 2, 29), True),
        (date(2002, 3, 1), date(2020, 2, 29), False),
    ],
)
def test_adulthood_counts_calendar_years(birthdate: date, today: date, adult: bool) -> None:
    assert is_adult(birthdate, today) is adult


def test_emails_compare_in_lower_case_without_surrounding_space() -> None:
    assert normalise_email("  Ada@Example.COM ") == "ada@example.com"


def test_gcra_allows_the_burst_then_one_request_per_interval() -> None:
    rule = RateLimit(limit=5, period_s=60)
    tat = None
    decisions = []
    for _ in range(6):
        decision, tat = gcra(tat, 0.0, rule, cost=1)
        decisions.append(decision)
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert decisions[-1].retry_after_s == pytest.approx(12.0)
    later, _ = gcra(tat, 12_000.0, rule, cost=1)
    assert later.allowed


@given(st.lists(st.floats(min_value=0, max_value=120_000), min_size=1, max_size=60))
def test_gcra_never_allows_more_than_limit_in_any_window(arrivals: list[float]) -> None:
    rule = RateLimit(limit=5, period_s=60)
    tat = None
    allowed: list[float] = []
    for now in sorted(arrivals):
        decision, tat = gcra(tat, now, rule, cost=1)
        if decision.allowed:
            allowed.append(now)
    for start in allowed:  # any 60 s window holds at most the burst of 5 plus what refilled meanwhile
        in_window = [t for t in allowed if start <= t < start + 60_000]
        assert len(in_window) <= rule.limit + 5


def test_a_peek_never_changes_the_state() -> None:
    rule = RateLimit(limit=2, period_s=10)
    decision, tat = gcra(None, 1000.0, rule, cost=0)
    assert decision.allowed
    assert tat == 1000.0


def test_failpoint_names_are_unique() -> None:
    assert len(set(failpoints.ALL)) == len(failpoints.ALL)


@given(st.lists(st.floats(min_value=0, max_value=120_000), min_size=1, max_size=40))
def test_ratelimit_reset_is_never_earlier_than_the_allowance_is_whole_again(arrivals: list[float]) -> None:
    """RateLimit-Reset promises the full allowance back after that many seconds: check it against the GCRA itself."""
    rule = RateLimit(limit=5, period_s=60)
    tat = None
    for now in sorted(arrivals):
        decision, tat = gcra(tat, now, rule, cost=1)
        status = RateStatus.of(rule, decision)
        assert status.limit == 5
        assert status.remaining == decision.remaining
        # The allowance is whole once the theoretical arrival time is no later than now. Within 1 ms: at an exact
        # boundary the GCRA's floating-point floor (the stores compute it the same way) may count one unit more.
        assert tat is not None
        assert tat <= now + status.reset_s * 1000 + 1, (now, tat, status)


def test_the_tightest_limit_is_the_one_with_least_left() -> None:
    tight, loose = RateStatus(5, 1, 48), RateStatus(25, 20, 60)
    assert RateStatus.tightest([loose, tight]) is tight
    assert tight.headers() == {"RateLimit-Limit": "5", "RateLimit-Remaining": "1", "RateLimit-Reset": "48"}
