"""The multiplexed Redis connection (stores/redis_mux.py) on the embedded Redis server: every reply reaches its own
caller, through errors, timeouts, cancellations, lost connections and a server that forgot its scripts."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from polysocial.config import Role, StoreURL
from polysocial.domain.errors import StoreUnavailable
from polysocial.engines.embedded import EmbeddedEngines
from polysocial.engines.redis_cluster import RedisClusterNodes
from polysocial.stores.keyvalue.redis import RedisKeyValueStore
from polysocial.stores.redis_mux import MultiplexedRedis, multiplexable
from polysocial.stores.redis_pool import cluster_url

pytestmark = pytest.mark.contract

# BLPOP on a list nobody fills holds this connection (only this one) for its timeout, in seconds, then answers nil


@pytest.fixture
def url(embedded_engines: EmbeddedEngines) -> str:
    return embedded_engines.redis.url


@pytest.fixture
async def plain(url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(url)
    yield client
    await client.aclose()


@pytest.fixture
async def mux(url: str) -> AsyncIterator[MultiplexedRedis]:
    connection = MultiplexedRedis(url, connect_s=2, command_s=2)
    yield connection
    await connection.close()


def key(name: str) -> str:
    return f"test:mux:{name}:{secrets.token_hex(4)}"


async def test_replies_are_those_redis_py_gets(mux: MultiplexedRedis, plain: Redis) -> None:
    a, b, missing = key("a"), key("b"), key("missing")
    await plain.set(a, b"\x00binary\xff")
    await plain.set(b, "text")
    assert await mux.execute("MGET", a, b, missing) == await plain.mget([a, b, missing])
    assert await mux.execute("GET", a) == b"\x00binary\xff"
    assert await mux.execute("INCRBY", key("n"), 5) == 5
    script = plain.register_script("return {KEYS[1], tonumber(ARGV[1]) + 1, false, ARGV[2]}")
    expected = await script(keys=[a], args=[41, b"raw\x00"])
    assert await mux.execute("EVALSHA", script.sha, 1, a, 41, b"raw\x00") == expected
    assert await plain.delete(a, b) == 2


async def test_many_callers_each_get_their_own_answer(mux: MultiplexedRedis, plain: Redis) -> None:
    keys = [key(f"k{i}") for i in range(500)]
    await plain.mset({k: f"value-{i}" for i, k in enumerate(keys)})
    answers = await asyncio.gather(*(mux.execute("GET", k) for k in keys))
    assert answers == [f"value-{i}".encode() for i in range(500)]
    await plain.delete(*keys)


async def test_an_error_reply_is_redis_pys_error_and_the_next_answer_is_right(mux: MultiplexedRedis) -> None:
    text = key("text")
    await mux.execute("SET", text, "not a number")
    wrong, right = await mux.execute_many([("INCR", text), ("GET", text)])
    assert isinstance(wrong, ResponseError)
    assert "not an integer" in str(wrong)
    assert right == b"not a number"
    with pytest.raises(ResponseError, match="unknown command"):
        await mux.execute("NO-SUCH-COMMAND")
    assert await mux.execute("ECHO", "still in step") == b"still in step"


async def test_a_cancelled_callers_reply_goes_to_nobody(mux: MultiplexedRedis) -> None:
    slow = asyncio.create_task(mux.execute("BLPOP", key("empty"), 0.2))
    await asyncio.sleep(0.05)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert await mux.execute("ECHO", "mine") == b"mine"


async def test_a_timeout_fails_fast_and_the_next_call_is_answered(url: str) -> None:
    connection = MultiplexedRedis(url, connect_s=2, command_s=0.5)
    try:
        with pytest.raises(RedisTimeoutError, match=r"within 0\.5 s"):
            await connection.execute("BLPOP", key("empty"), 3)
        assert await connection.execute("ECHO", "after") == b"after"  # a new connection: the late reply is gone
    finally:
        await connection.close()


async def test_a_batch_that_times_out_fails_fast_and_the_next_call_is_answered(url: str) -> None:
    connection = MultiplexedRedis(url, connect_s=2, command_s=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError, match=r"within 0\.5 s"):
            await connection.execute_many([("ECHO", "first"), ("BLPOP", key("empty"), 3)])
        assert time.monotonic() - started < 1.5
        assert await connection.execute("ECHO", "after") == b"after"
    finally:
        await connection.close()


async def test_answered_commands_never_trip_the_timeout_however_long_the_stream(url: str) -> None:
    """One timer watches the oldest command waiting; it moves on with the answers, for as long as they come."""
    connection = MultiplexedRedis(url, connect_s=2, command_s=0.2)
    try:
        deadline = time.monotonic() + 1.0  # five timeouts' worth of commands, answered in time
        answered = 0
        while time.monotonic() < deadline:
            assert await asyncio.gather(*(connection.execute("ECHO", str(i)) for i in range(20))) == [
                str(i).encode() for i in range(20)
            ]
            answered += 20
            await asyncio.sleep(0.01)
        assert answered > 500
    finally:
        await connection.close()


async def test_a_lost_connection_fails_its_callers_and_the_next_call_reconnects(
    mux: MultiplexedRedis, plain: Redis
) -> None:
    first = await mux.execute("CLIENT", "ID")
    waiting = asyncio.create_task(mux.execute("BLPOP", key("empty"), 1))
    await asyncio.sleep(0.05)
    await plain.client_kill_filter(_id=first)
    with pytest.raises(RedisConnectionError):
        await waiting
    second = await mux.execute("CLIENT", "ID")
    assert second != first


async def test_a_server_that_forgot_the_scripts_gets_them_again(url: str, plain: Redis) -> None:
    store = RedisKeyValueStore(StoreURL(Role.KEYVALUE, url))
    await store.open()
    try:
        script = store.client.register_script("return 'loaded ' .. ARGV[1]")
        assert await store.run_script(script, [], ["once"]) == b"loaded once"
        await plain.script_flush()
        assert await store.run_script(script, [], ["again"]) == b"loaded again"
    finally:
        await store.close()


async def test_a_batch_is_answered_in_order_with_errors_in_place(mux: MultiplexedRedis) -> None:
    number, text = key("number"), key("text")
    answers = await mux.execute_many([("SET", number, 1), ("SET", text, "x"), ("INCR", text), ("INCR", number)])
    assert answers[:2] == [b"OK", b"OK"]
    assert isinstance(answers[2], ResponseError)
    assert answers[3] == 2
    assert await mux.execute_many([]) == []


async def test_a_batch_on_a_server_that_forgot_the_script(url: str, plain: Redis) -> None:
    store = RedisKeyValueStore(StoreURL(Role.KEYVALUE, url))
    await store.open()
    counter = key("counter")
    try:
        script = store.client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        assert await store.run_scripts(script, [([counter], [1]), ([counter], [10])]) == [1, 11]
        await plain.script_flush()
        assert await store.run_scripts(script, [([counter], [100]), ([counter], [1000])]) == [111, 1111]
        with pytest.raises(StoreUnavailable, match="ResponseError: value is not an integer"):  # the adapter's guard
            await store.run_scripts(script, [([counter], ["nine"])])
    finally:
        await plain.delete(counter)
        await store.close()


async def test_auth_and_select_come_first(url: str, plain: Redis) -> None:
    user, password = f"mux-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    await plain.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all"])
    scheme, rest = url.split("://", 1)
    path, _, _ = rest.partition("?")
    granted = MultiplexedRedis(f"{scheme}://{user}:{password}@{path}?db=3", connect_s=2, command_s=2)
    refused = MultiplexedRedis(f"{scheme}://{user}:wrong@{path}", connect_s=2, command_s=2)
    try:
        answers = await asyncio.gather(*(granted.execute("ACL", "WHOAMI") for _ in range(20)))
        assert answers == [user.encode()] * 20  # the callers that raced the connection's opening, too
        name = key("db3")
        await granted.execute("SET", name, "in db 3")
        assert await plain.get(name) is None
        db3 = Redis.from_url(f"{url.partition('?')[0]}?db=3")
        assert await db3.get(name) == b"in db 3"
        await db3.delete(name)
        await db3.aclose()
        with pytest.raises(AuthenticationError):
            await refused.execute("PING")
    finally:
        await granted.close()
        await refused.close()
        await plain.acl_deluser(user)


async def test_a_server_over_tcp(redis_cluster: RedisClusterNodes) -> None:
    node = cluster_url(redis_cluster.url)
    assert node is not None
    assert node.startswith("redis://")
    connection = MultiplexedRedis(node, connect_s=2, command_s=2)
    try:
        assert await asyncio.gather(*(connection.execute("ECHO", str(i)) for i in range(50))) == [
            str(i).encode() for i in range(50)
        ]
    finally:
        await connection.close()


async def test_an_unreachable_server_is_a_connection_error_at_once() -> None:
    connection = MultiplexedRedis("redis://127.0.0.1:1/0", connect_s=2, command_s=2)
    with pytest.raises(RedisConnectionError, match="Error connecting"):
        await connection.execute("PING")


def test_only_plain_servers_are_multiplexed() -> None:
    assert multiplexable("redis://localhost:6379/0")
    assert multiplexable("unix:///run/redis.sock?db=1")
    assert not multiplexable("rediss://localhost:6380/0")
    assert not multiplexable("http://localhost")
