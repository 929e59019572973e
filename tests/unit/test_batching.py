"""Natural batching (stores/batching.py): what waits, what goes together, and who hears about a failure."""

from __future__ import annotations

import asyncio

import pytest

from polysocial.stores.batching import Batcher


class Recorder:
    def __init__(self, delay_s: float = 0.01, fail_on: object = None) -> None:
        self.batches: list[list[int]] = []
        self.delay_s = delay_s
        self.fail_on = fail_on

    async def __call__(self, queries: list[int]) -> list[int]:
        self.batches.append(queries)
        await asyncio.sleep(self.delay_s)
        if self.fail_on in queries:
            raise RuntimeError(f"store down while answering {queries}")
        return [q * 10 for q in queries]


async def test_one_call_alone_leaves_at_once_in_a_batch_of_its_own() -> None:
    run = Recorder()
    batcher = Batcher(run)
    assert await batcher(1) == 10
    assert run.batches == [[1]]


async def test_calls_of_one_turn_go_together_and_each_gets_its_own_answer() -> None:
    run = Recorder()
    batcher = Batcher(run)
    assert await asyncio.gather(*(batcher(n) for n in range(5))) == [0, 10, 20, 30, 40]
    assert run.batches == [[0, 1, 2, 3, 4]]


async def test_calls_made_while_batches_are_in_flight_wait_and_leave_as_the_next_batch() -> None:
    run = Recorder(delay_s=0.05)
    batcher = Batcher(run, max_in_flight=1)
    first = asyncio.ensure_future(batcher(1))
    await asyncio.sleep(0.01)  # the first batch is on the wire
    later = [asyncio.ensure_future(batcher(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0.01)
    assert len(run.batches) == 1  # they wait for it
    assert await asyncio.gather(first, *later) == [10, 20, 30, 40]
    assert run.batches == [[1], [2, 3, 4]]


async def test_batches_are_capped() -> None:
    run = Recorder()
    batcher = Batcher(run, max_in_flight=1, max_batch=3)
    assert await asyncio.gather(*(batcher(n) for n in range(7))) == [n * 10 for n in range(7)]
    assert run.batches == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_failed_batch_fails_its_calls_and_not_the_next_batch() -> None:
    run = Recorder(delay_s=0.05, fail_on=2)
    batcher = Batcher(run, max_in_flight=1)
    failing = [asyncio.ensure_future(batcher(n)) for n in (1, 2)]
    await asyncio.sleep(0.01)
    fine = asyncio.ensure_future(batcher(3))
    for call in failing:
        with pytest.raises(RuntimeError, match="store down"):
            await call
    assert await fine == 30


async def test_a_caller_that_gives_up_leaves_the_others_their_answers() -> None:
    run = Recorder(delay_s=0.05)
    batcher = Batcher(run, max_in_flight=1)
    busy = asyncio.ensure_future(batcher(1))
    await asyncio.sleep(0.01)
    quitter = asyncio.ensure_future(batcher(2))
    stayer = asyncio.ensure_future(batcher(3))
    await asyncio.sleep(0)
    quitter.cancel()
    assert await busy == 10
    assert await stayer == 30
    assert run.batches == [[1], [3]]  # the one that gave up was not asked for
