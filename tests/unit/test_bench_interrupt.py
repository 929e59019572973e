"""Ctrl-C during an HTTP workload of `polysocial bench`: the workload runs in a thread, which cannot be cancelled, so
cancelling its task must end the load generator it is running and keep a new one from starting."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from polysocial.bench import http, suite

LONG = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture(autouse=True)
def not_stopped() -> Iterator[None]:
    http.STOP.clear()
    yield
    http.STOP.clear()


async def test_cancelling_a_workload_ends_its_generator_at_once_and_no_other_starts() -> None:
    outcome: list[BaseException] = []
    ended = threading.Event()

    def workload() -> str:  # as the http workloads do: one generator after another, in a thread
        try:
            for _ in range(3):
                http.run_tool(LONG)
        except BaseException as exc:
            outcome.append(exc)
            ended.set()
            raise
        return "all rounds ran"

    task = asyncio.ensure_future(suite.in_thread(workload))
    for _ in range(1_000):  # up to 10 s for the first generator to start
        if http._RUNNING:
            break
        await asyncio.sleep(0.01)
    assert http._RUNNING, "the generator never started"
    cancelled_at = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(ended.wait, 10), "the workload's thread is still running its rounds"
    assert isinstance(outcome[0], http.Interrupted)
    assert time.monotonic() - cancelled_at < 5
    assert not http._RUNNING
    with pytest.raises(http.Interrupted):
        http.run_tool([sys.executable, "-c", "pass"])


def test_a_tool_answers_as_subprocess_run_would() -> None:
    assert http.run_tool([sys.executable, "-c", "print('ok')"]).stdout == "ok\n"
    with pytest.raises(subprocess.CalledProcessError) as caught:
        http.run_tool([sys.executable, "-c", "import sys; print('out'); sys.exit(3)"])
    assert (caught.value.returncode, caught.value.output) == (3, "out\n")


def test_waiting_for_the_relay_ends_at_its_deadline_when_the_count_itself_is_slow() -> None:
    """The seed stack's outbox count can take longer than the wait has left: that is "still pending", not an error
    that fails the whole workload (it did, in a full run: TimeoutError out of the http workload)."""

    class SlowSource:
        async def pending(self) -> int:
            await asyncio.sleep(30)
            return 0

    class Relay:
        sources = (SlowSource(),)

    class App:
        relay = Relay()

    class Ctx:
        app = App()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        assert suite.relay_caught_up(Ctx(), loop, timeout_s=0.3) is False  # type: ignore[arg-type]
        assert time.monotonic() - started < 5
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(asyncio.sleep(0.01))  # the cancelled count finishes cancelling
        loop.close()
