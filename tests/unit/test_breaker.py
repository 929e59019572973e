"""The circuit breaker's states on a fake clock, and which driver errors count as the engine not answering."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest
import redis.exceptions
from psycopg import errors
from psycopg_pool import PoolTimeout

from polysocial.config import Role, StoreURL
from polysocial.domain.errors import Conflict, StoreUnavailable
from polysocial.stores.base import guarded, is_transport_failure
from polysocial.stores.breaker import BreakerPolicy, BreakerState, CircuitBreaker, CircuitOpen, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state_of(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # read afresh each time (mypy would narrow a repeated attribute read)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(BreakerPolicy(failures=3, open_s=2.0), clock=clock)


def test_it_opens_after_the_set_number_of_failures_in_a_row(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        assert breaker.before() is False
        breaker.failure("refused")
    breaker.success()  # an answer in between starts the count again
    for _ in range(2):
        breaker.failure("refused")
    assert state_of(breaker) is BreakerState.CLOSED
    breaker.failure("refused")
    assert state_of(breaker) is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as refused:
        breaker.before()
    assert refused.value.retry_after_s == pytest.approx(2.0)
    assert "refused" in str(refused.value)


def test_half_open_lets_one_probe_through_and_its_outcome_decides(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(3):
        breaker.failure("reset")
    clock.now += 2.0
    assert state_of(breaker) is BreakerState.HALF_OPEN
    assert breaker.before() is True  # the probe
    with pytest.raises(CircuitOpen):
        breaker.before()  # only one at a time
    breaker.failure("reset")  # the probe failed: open for another period at once
    assert state_of(breaker) is BreakerState.OPEN
    clock.now += 1.9
    with pytest.raises(CircuitOpen):
        breaker.before()
    clock.now += 0.1
    assert breaker.before() is True
    breaker.success()
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.before() is False


def test_a_cancelled_probe_hands_the_probe_to_the_next_call(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(3):
        breaker.failure("timeout")
    clock.now += 2.0
    assert breaker.before() is True
    breaker.cancel_probe()
    assert breaker.before() is True


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    assert retry_after_header(0.0) == "1"
    assert retry_after_header(0.2) == "1"
    assert retry_after_header(1.2) == "2"


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        redis.exceptions.ConnectionError("reset"),
        redis.exceptions.TimeoutError("timed out"),
        errors.AdminShutdown("terminating connection due to unexpected postmaster exit"),
        PoolTimeout("couldn't get a connection after 1.00 sec"),
        psycopg.OperationalError("connection failed"),
        httpx.ConnectError("refused"),
    ],
)
def test_transport_failures(exc: BaseException) -> None:
    assert is_transport_failure(exc)


@pytest.mark.parametrize(
    "exc",
    [
        errors.SerializationFailure("could not serialize"),
        errors.DeadlockDetected("deadlock"),
        errors.UniqueViolation("duplicate key"),
        redis.exceptions.ResponseError("WRONGTYPE"),
        ValueError("a bug"),
    ],
)
def test_answers_are_not_transport_failures(exc: BaseException) -> None:
    assert not is_transport_failure(exc)


def test_guarded_calls_feed_the_breaker_and_an_open_one_refuses_without_calling() -> None:
    breaker = CircuitBreaker(BreakerPolicy(failures=2, open_s=5.0))
    location = StoreURL(Role.KEYVALUE, "redis://127.0.0.1:1")
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise redis.exceptions.ConnectionError("Connection refused")

    async def conflict() -> None:
        raise Conflict("taken")

    async def run() -> None:
        with pytest.raises(Conflict):  # the package's own errors pass unchanged, and mean the engine answered
            await guarded(location, conflict, breaker)
        for _ in range(2):
            with pytest.raises(StoreUnavailable):
                await guarded(location, refused, breaker)
        with pytest.raises(StoreUnavailable) as refused_at_once:
            await guarded(location, refused, breaker)
        assert calls == 2
        assert refused_at_once.value.role == "keyvalue"
        assert refused_at_once.value.retry_after_s == pytest.approx(5.0, abs=0.5)

    asyncio.run(run())


def test_a_nested_guarded_call_of_the_same_role_is_decided_by_the_outer_one() -> None:
    """A half-open breaker lets one probe through; the probe's own inner calls must not be refused as a second."""
    clock = Clock()
    breaker = CircuitBreaker(BreakerPolicy(failures=1, open_s=1.0), clock=clock)
    breaker.failure("refused")
    clock.now += 1.0
    location = StoreURL(Role.GRAPH, "redis://127.0.0.1:1")

    async def inner() -> int:
        return 7

    async def outer() -> int:
        return await guarded(location, inner, breaker) + 1

    assert asyncio.run(guarded(location, outer, breaker)) == 8
    assert state_of(breaker) is BreakerState.CLOSED
