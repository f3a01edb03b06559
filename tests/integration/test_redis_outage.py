"""The Redis queue when Redis misbehaves: down, hung, restarted empty, or holding poison.

Outage tests use a PRIVATE redis-server on a free port (tests/redis_server.py), never the
shared one on 6379; the poison tests only need a prefix of their own on the shared one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio

from incidentd.errors import Overloaded
from incidentd.ingest.registry import parse_webhook
from incidentd.ingest.source import RawWebhook
from incidentd.store import codec
from incidentd.store.keys import Keys
from incidentd.store.redis import RedisQueue
from tests.redis_server import RedisServer, redis_server_binary

pytestmark = pytest.mark.redis

APPEND_TIMEOUT = 0.5
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def make_webhook(*ns: int, batch: str = "b") -> RawWebhook:
    """A generic-source webhook of one alert per n, whose report ids are `<batch>-<n>`."""
    alerts = [
        {
            "name": "DiskFull",
            "severity": "error",
            "title": f"Disk full on node {n}",
            "labels": {"instance": f"node-{n}"},
            "starts_at": "2026-03-01T12:00:00Z",
            "id": f"{batch}-{n}",
        }
        for n in ns
    ]
    return RawWebhook("generic", json.dumps({"alerts": alerts}).encode(), {}, T0)


def make_alert(n: int, *, batch: str = "b") -> RawWebhook:
    return make_webhook(n, batch=batch)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        pytest.skip("needs a redis-server binary on PATH to start, stop and restart")
    with RedisServer(tmp_path) as server:
        yield server


@pytest.fixture
async def queue(private_redis: RedisServer) -> AsyncIterator[RedisQueue]:
    queue = RedisQueue.from_url(private_redis.url, prefix="outage", append_timeout=APPEND_TIMEOUT)
    await queue.start()
    yield queue
    await queue.close()


async def test_appends_answer_overloaded_fast_while_redis_is_down(
    private_redis: RedisServer, queue: RedisQueue
) -> None:
    await queue.append(make_alert(1))
    private_redis.stop()
    for call in (
        lambda: queue.append(make_alert(2)),
        queue.depth,
        queue.ping,
        lambda: queue.read("c1", count=10, block_ms=100),
        lambda: queue.reclaim("c1", idle_ms=0, count=10),
        lambda: queue.ack(["1-0"]),
    ):
        started = time.monotonic()
        with pytest.raises(Overloaded) as refused:
            await call()
        assert time.monotonic() - started < APPEND_TIMEOUT + 0.5
        assert refused.value.retry_after > 0


async def test_queue_recovers_after_restart_and_recreates_the_group(
    private_redis: RedisServer, queue: RedisQueue
) -> None:
    await queue.append(make_alert(1))
    private_redis.stop()
    with pytest.raises(Overloaded):
        await queue.append(make_alert(2))
    private_redis.start()  # same port, empty: no persistence, no group, no scripts

    entry_id = await queue.append(make_alert(3))
    assert await queue.depth() == 1
    got = await queue.read("c1", count=10, block_ms=1000)
    assert [(e.id, e.alerts) for e in got] == [(entry_id, tuple(parse_webhook(make_alert(3))))]
    await queue.ack([entry_id])
    assert await queue.depth() == 0


async def test_read_first_after_restart_recreates_the_group(
    private_redis: RedisServer, queue: RedisQueue
) -> None:
    await queue.append(make_alert(1))
    assert len(await queue.read("c1", count=10, block_ms=0)) == 1
    private_redis.stop()
    private_redis.start()

    assert await queue.reclaim("c1", idle_ms=0, count=10) == []
    assert await queue.read("c1", count=10, block_ms=100) == []
    entry_id = await queue.append(make_alert(2))
    got = await queue.read("c1", count=10, block_ms=1000)
    assert [e.id for e in got] == [entry_id]


async def test_hung_redis_gets_503_within_the_deadline_and_loses_nothing(
    private_redis: RedisServer, queue: RedisQueue
) -> None:
    """A paused server: the pipeline is in flight when the deadline passes. The entries may
    still land after it wakes (possible duplicates after the sender retries), but whole, at
    most once each, and every acknowledged append is there."""
    acked = [await queue.append(make_alert(0, batch="before"))]
    batches = {f"hung-{i}": make_webhook(*range(10), batch=f"hung-{i}") for i in range(50)}
    private_redis.pause()
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *(queue.append(batch) for batch in batches.values()), return_exceptions=True
        )
        elapsed = time.monotonic() - started
        assert all(isinstance(r, Overloaded) for r in results)
        assert elapsed < APPEND_TIMEOUT + 0.5
        with pytest.raises(Overloaded):
            await queue.ping()
    finally:
        private_redis.resume()

    acked.append(await queue.append(make_alert(0, batch="after")))
    entries = []
    while got := await queue.read("c1", count=100, block_ms=0):
        entries.extend(got)
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids))
    by_id = {e.id: e.alerts for e in entries}
    assert by_id[acked[0]] == tuple(parse_webhook(make_alert(0, batch="before")))
    assert by_id[acked[1]] == tuple(parse_webhook(make_alert(0, batch="after")))
    late = [e for e in entries if e.id not in acked]
    assert len(late) <= len(batches)
    parsed = [tuple(parse_webhook(w)) for w in batches.values()]
    assert all(e.alerts in parsed for e in late)  # each lands whole, as one of the batches
    assert len({e.alerts[0].event_id for e in late}) == len(late)


async def test_an_append_after_the_script_cache_was_flushed_lands_once(
    private_redis: RedisServer, queue: RedisQueue
) -> None:
    await queue.append(make_alert(1))
    client = redis.asyncio.Redis.from_url(private_redis.url)
    try:
        await client.script_flush()  # SCRIPT FLUSH, as an operator or a failover would
    finally:
        await client.aclose()
    entry_id = await queue.append(make_alert(2))
    got = await queue.read("c1", count=10, block_ms=0)
    assert len(got) == 2
    assert got[-1].id == entry_id


async def test_an_append_after_the_queue_connection_was_killed_lands_without_a_503(
    private_redis: RedisServer, queue: RedisQueue
) -> None:
    """The flusher's own connection dies while the queue is idle (CLIENT KILL, a proxy's idle
    timeout): the next append reconnects instead of answering 503."""
    await queue.append(make_alert(1))
    client = redis.asyncio.Redis.from_url(private_redis.url)
    try:
        killed = await client.client_kill_filter(_type="normal", skipme=True)
        assert killed >= 1
    finally:
        await client.aclose()
    entry_id = await queue.append(make_alert(2))
    got = await queue.read("c1", count=10, block_ms=0)
    assert [e.id for e in got][-1] == entry_id
    assert len(got) == 2


async def test_a_sender_posting_one_request_at_a_time_never_waits_for_the_linger(
    queue: RedisQueue,
) -> None:
    """The flusher lingers 1 ms for more appends only when appends come concurrently: one
    at a time, 100 appends could not take under 100 ms if each waited for it."""
    await queue.append(make_alert(0))
    started = time.monotonic()
    for n in range(1, 101):
        await queue.append(make_alert(n))
    assert time.monotonic() - started < 0.1


async def test_blocked_reads_do_not_delay_appends(queue: RedisQueue) -> None:
    readers = [
        asyncio.create_task(queue.read(f"c{i}", count=1000, block_ms=2000)) for i in range(3)
    ]
    await asyncio.sleep(0.05)
    started = time.monotonic()
    for n in range(50):
        await queue.append(make_alert(n))
    assert time.monotonic() - started < 1.0
    delivered = [e for entries in await asyncio.gather(*readers) for e in entries]
    assert len(delivered) + len(await queue.read("c9", count=1000, block_ms=0)) == 50


async def test_append_before_start_is_a_programming_error(private_redis: RedisServer) -> None:
    queue = RedisQueue.from_url(private_redis.url, prefix="unstarted")
    try:
        with pytest.raises(RuntimeError, match="start"):
            await queue.append(make_alert(1))
    finally:
        await queue.close()


async def test_close_answers_waiting_appends_and_does_not_hang_on_a_hung_redis(
    private_redis: RedisServer,
) -> None:
    queue = RedisQueue.from_url(private_redis.url, prefix="closing", append_timeout=5.0)
    await queue.start()
    await queue.append(make_alert(0))
    private_redis.pause()
    try:
        waiting = [asyncio.create_task(queue.append(make_alert(n))) for n in range(1, 4)]
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await queue.close()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(r, Overloaded) for r in results)
        assert time.monotonic() - started < 1.0
        with pytest.raises(Overloaded, match="closing"):
            await queue.append(make_alert(9))
    finally:
        private_redis.resume()


async def test_a_full_append_buffer_answers_overloaded_at_once(
    redis_url: str, redis_prefix: str
) -> None:
    queue = RedisQueue.from_url(redis_url, prefix=redis_prefix, max_buffered=5)
    await queue.start()
    try:
        results = await asyncio.gather(
            *(queue.append(make_alert(n)) for n in range(10)), return_exceptions=True
        )
        assert [isinstance(r, str) for r in results] == [True] * 5 + [False] * 5
        assert all(isinstance(r, Overloaded) and "busy" in r.message for r in results[5:])
        assert await queue.depth() == 5
    finally:
        await queue.close()


@pytest.fixture
async def shared_queue(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisQueue]:
    queue = RedisQueue.from_url(redis_url, prefix=redis_prefix)
    await queue.start()
    yield queue
    await queue.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_poison_entries_are_dead_lettered_and_do_not_wedge_read(
    shared_queue: RedisQueue, raw: redis.asyncio.Redis, redis_prefix: str
) -> None:
    keys = Keys(redis_prefix)
    good1 = await shared_queue.append(make_alert(1))
    header = codec.encode_webhook(RawWebhook("generic", b"", {}, T0))
    bad_json = await raw.xadd(keys.alerts, {"webhook": b"{not json\n{}"})
    bad_shape = await raw.xadd(keys.alerts, {"webhook": header + b'{"labels": 3}'})
    no_field = await raw.xadd(keys.alerts, {"other": b"1"})
    old_format = await raw.xadd(keys.alerts, {"alerts": b"[]"})  # an entry of 0.1
    good2 = await shared_queue.append(make_alert(2))

    got = await shared_queue.read("c1", count=10, block_ms=100)
    assert [e.id for e in got] == [good1, good2]
    assert await shared_queue.depth() == 2
    dead = await raw.xrange(keys.alerts_dead)
    assert [fields[b"id"] for _, fields in dead] == [bad_json, bad_shape, no_field, old_format]
    assert dead[0][1][b"webhook"] == b"{not json\n{}"
    assert b"json" in dead[0][1][b"error"].lower()
    assert b"ParseError" in dead[1][1][b"error"]
    assert dead[1][1][b"webhook"].endswith(b'{"labels": 3}')
    assert b"no 'webhook' field" in dead[2][1][b"error"]
    # The poison is neither unread nor pending any more.
    assert await shared_queue.read("c2", count=10, block_ms=0) == []
    reclaimed = await shared_queue.reclaim("c2", idle_ms=0, count=10)
    assert [e.id for e in reclaimed] == [good1, good2]


async def test_poison_left_pending_by_a_crashed_consumer_is_dead_lettered_on_reclaim(
    shared_queue: RedisQueue, raw: redis.asyncio.Redis, redis_prefix: str
) -> None:
    keys = Keys(redis_prefix)
    bad = await raw.xadd(keys.alerts, {"webhook": codec.encode_webhook(make_alert(0))[:-1]})
    good = await shared_queue.append(make_alert(1))
    # A consumer that died before it could look at what it read.
    await raw.xreadgroup("engine", "crashed", {keys.alerts: ">"}, count=10)

    got = await shared_queue.reclaim("rescuer", idle_ms=0, count=10)
    assert [(e.id, e.deliveries) for e in got] == [(good, 2)]
    assert [fields[b"id"] for _, fields in await raw.xrange(keys.alerts_dead)] == [bad]
    assert await shared_queue.depth() == 1
