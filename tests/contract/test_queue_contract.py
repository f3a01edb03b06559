"""The AlertQueue contract: one suite, run against MemoryQueue and RedisQueue (real Redis).

What the HTTP layer and the consumers rely on: a webhook is one entry, appended whole, and
handed out parsed, exactly as its parser parses it; reads hand out entries in order, once,
and block for at most `block_ms`; unacknowledged entries stay
pending and are reclaimed after `idle_ms`; the high-water mark refuses appends and writes
nothing; concurrent appends each land exactly once under their own id.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incidentd import metrics
from incidentd.errors import Overloaded
from incidentd.ingest.registry import parse_webhook
from incidentd.ingest.source import RawWebhook, SourceOptions
from incidentd.store.base import AlertQueue, Queued
from incidentd.store.memory import MemoryQueue
from incidentd.store.redis import RedisQueue

MakeQueue = Callable[..., Awaitable[AlertQueue]]

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"
GOLDEN = sorted(PAYLOADS.glob("*/*.expected.json"))
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_webhook(n: int, *, batch: str = "b") -> RawWebhook:
    """A generic-source webhook of one alert whose report id is `<batch>-<n>`."""
    body = {
        "name": "HighErrorRate",
        "title": f"High error rate on checkout #{n}",
        "severity": "critical",
        "service": "checkout",
        "labels": {"n": str(n)},
        "annotations": {"summary": "5xx above 5% for 5 minutes"},
        "starts_at": "2026-03-01T12:00:00.123456Z",
        "url": "https://prometheus.example/graph?g0.expr=rate%28x%5B5m%5D%29",
        "id": f"{batch}-{n}",
    }
    return RawWebhook("generic", json.dumps(body).encode(), {}, T0 + timedelta(seconds=n))


def report(entry: Queued) -> str:
    """The report id of an entry made by make_webhook."""
    (alert,) = entry.alerts
    return f"b-{alert.labels['n']}"


EDGE_WEBHOOKS = [
    # Every header field at an edge: microseconds, a fractional TTL, a non-ASCII sender, a body
    # with non-ASCII text, escapes, a NUL and newlines (the header/body separator is one).
    RawWebhook(
        source="generic",
        body=json.dumps(
            {
                "alerts": [
                    {
                        "name": "Échec de paiement — 決済 ✓",
                        "title": 'quotes " and \\ backslash\nnew line\ttab \u0000 nul',
                        "status": "resolved",
                        "severity": "info",
                        "labels": {"empty": "", "ключ": "значение", "emoji": "🔥"},
                        "starts_at": "2026-03-01T14:00:00.999999+02:00",
                        "ends_at": "2026-03-01T12:05:00Z",
                    },
                    {"name": "n"},
                ]
            },
            ensure_ascii=False,
            indent=2,
        ).encode(),
        headers={},
        received_at=datetime(2026, 3, 1, 12, 5, 0, 1, tzinfo=UTC),
        options=SourceOptions(
            auto_resolve_after=timedelta(hours=4, seconds=30, microseconds=500_000),
            sender="cron@höst-1",
        ),
    ),
    RawWebhook("generic", b'{"name": "minimal"}', {}, T0),
]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_queue(request: pytest.FixtureRequest) -> AsyncIterator[MakeQueue]:
    created: list[AlertQueue] = []
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        prefix: str = request.getfixturevalue("redis_prefix")

    async def make(*, max_depth: int = 100_000) -> AlertQueue:
        queue: AlertQueue
        if request.param == "memory":
            queue = MemoryQueue(max_depth=max_depth)
        else:
            queue = RedisQueue.from_url(url, prefix=prefix, max_depth=max_depth)
        await queue.start()
        created.append(queue)
        return queue

    yield make
    for queue in created:
        await queue.close()


async def read_all(queue: AlertQueue, consumer: str = "c1") -> list[Queued]:
    out: list[Queued] = []
    while batch := await queue.read(consumer, count=250, block_ms=0):
        out.extend(batch)
    return out


def id_key(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


@pytest.mark.parametrize("webhook", EDGE_WEBHOOKS, ids=["edge", "minimal"])
async def test_an_entry_is_handed_out_as_its_parser_parses_it(
    make_queue: MakeQueue, webhook: RawWebhook
) -> None:
    queue = await make_queue()
    entry_id = await queue.append(webhook)
    got = await queue.read("c1", count=10, block_ms=100)
    assert [(e.id, e.deliveries) for e in got] == [(entry_id, 1)]
    expected = parse_webhook(webhook)
    assert got[0].alerts == tuple(expected)
    assert [a.model_dump_json() for a in got[0].alerts] == [a.model_dump_json() for a in expected]


def _golden_webhook(path: Path) -> RawWebhook:
    from tests.unit.test_payloads import _raw  # the exact webhook the golden file was made from

    return _raw(path.parent.name, path.name.removesuffix(".expected.json"))


@pytest.fixture(params=GOLDEN, ids=lambda p: f"{p.parent.name}/{p.name}")
def golden(request: pytest.FixtureRequest) -> tuple[RawWebhook, list[dict[str, object]]]:
    path: Path = request.param
    return _golden_webhook(path), json.loads(path.read_text())


async def test_golden_payloads_come_out_of_the_queue_as_expected(
    make_queue: MakeQueue, golden: tuple[RawWebhook, list[dict[str, object]]]
) -> None:
    webhook, expected = golden
    queue = await make_queue()
    await queue.append(webhook)
    (entry,) = await queue.read("c1", count=10, block_ms=100)
    assert [json.loads(a.model_dump_json()) for a in entry.alerts] == expected


async def test_a_webhook_of_many_alerts_is_one_entry_and_read_whole(
    make_queue: MakeQueue,
) -> None:
    queue = await make_queue()
    alerts = [{"name": "Disk", "labels": {"host": f"h{i}"}} for i in range(100)]
    webhook = RawWebhook("generic", json.dumps({"alerts": alerts}).encode(), {}, T0)
    await queue.append(webhook)
    assert await queue.depth() == 1
    got = await queue.read("c1", count=1, block_ms=0)
    assert len(got) == 1
    assert [a.labels["host"] for a in got[0].alerts] == [f"h{i}" for i in range(100)]


async def test_entries_are_read_in_append_order(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    ids = [await queue.append(make_webhook(i)) for i in range(20)]
    assert sorted(ids, key=id_key) == ids
    assert len(set(ids)) == 20
    got = await queue.read("c1", count=100, block_ms=0)
    assert [e.id for e in got] == ids
    assert [report(e) for e in got] == [f"b-{i}" for i in range(20)]


async def test_read_blocks_for_block_ms_then_returns_nothing(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    started = time.monotonic()
    assert await queue.read("c1", count=10, block_ms=300) == []
    assert 0.25 <= time.monotonic() - started < 2.0


async def test_read_with_block_ms_zero_does_not_wait(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    started = time.monotonic()
    assert await queue.read("c1", count=10, block_ms=0) == []
    assert time.monotonic() - started < 0.5


async def test_blocked_read_wakes_when_an_entry_arrives(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    reader = asyncio.create_task(queue.read("c1", count=10, block_ms=5000))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    entry_id = await queue.append(make_webhook(1))
    got = await asyncio.wait_for(reader, 2)
    assert [e.id for e in got] == [entry_id]
    assert time.monotonic() - started < 1.0


async def test_read_respects_count(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    ids = [await queue.append(make_webhook(i)) for i in range(5)]
    sizes = []
    seen: list[str] = []
    for _ in range(4):
        got = await queue.read("c1", count=2, block_ms=0)
        sizes.append(len(got))
        seen.extend(e.id for e in got)
    assert sizes == [2, 2, 1, 0]
    assert seen == ids


async def test_unacked_entries_are_reclaimed_after_idle_ms(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    ids = [await queue.append(make_webhook(i)) for i in range(3)]
    first = await queue.read("crashed", count=10, block_ms=0)
    assert await queue.read("other", count=10, block_ms=0) == []
    assert await queue.reclaim("rescuer", idle_ms=60_000, count=10) == []
    await asyncio.sleep(0.15)
    got = await queue.reclaim("rescuer", idle_ms=100, count=10)
    assert [e.id for e in got] == ids
    assert [e.deliveries for e in got] == [2, 2, 2]
    assert [e.alerts for e in got] == [e.alerts for e in first]
    # The claim restarted the idle time: nobody can take them at once again.
    assert await queue.reclaim("third", idle_ms=100, count=10) == []
    await asyncio.sleep(0.15)
    again = await queue.reclaim("third", idle_ms=100, count=10)
    assert [(e.id, e.deliveries) for e in again] == [(i, 3) for i in ids]


async def test_reclaim_respects_count(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    ids = [await queue.append(make_webhook(i)) for i in range(3)]
    await queue.read("crashed", count=10, block_ms=0)
    await asyncio.sleep(0.05)
    first = await queue.reclaim("rescuer", idle_ms=20, count=2)
    second = await queue.reclaim("rescuer", idle_ms=20, count=2)
    assert [e.id for e in first] == ids[:2]
    assert [e.id for e in second] == ids[2:]


async def test_acked_entries_never_come_back(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    ids = [await queue.append(make_webhook(i)) for i in range(2)]
    await queue.read("c1", count=10, block_ms=0)
    await queue.ack([ids[0]])
    await asyncio.sleep(0.01)
    reclaimed = await queue.reclaim("c2", idle_ms=0, count=10)
    assert [e.id for e in reclaimed] == [ids[1]]
    await queue.ack([ids[1]])
    await queue.ack(ids)  # acking twice is harmless
    await asyncio.sleep(0.01)
    assert await queue.reclaim("c2", idle_ms=0, count=10) == []
    assert await queue.read("c3", count=10, block_ms=0) == []
    assert await queue.depth() == 0


async def test_depth_counts_unread_and_pending(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    assert await queue.depth() == 0
    for i in range(3):
        await queue.append(make_webhook(i))
    assert await queue.depth() == 3
    got = await queue.read("c1", count=2, block_ms=0)
    assert await queue.depth() == 3
    await queue.ack([got[0].id])
    assert await queue.depth() == 2
    rest = await queue.read("c1", count=10, block_ms=0)
    await queue.ack([got[1].id, *(e.id for e in rest)])
    assert await queue.depth() == 0


async def test_high_water_mark_refuses_and_writes_nothing(make_queue: MakeQueue) -> None:
    queue = await make_queue(max_depth=3)
    for i in range(3):
        await queue.append(make_webhook(i))
    with pytest.raises(Overloaded) as refused:
        await queue.append(make_webhook(99))
    assert refused.value.status == 503
    assert refused.value.retry_after > 0
    assert await queue.depth() == 3
    got = await queue.read("c1", count=10, block_ms=0)
    assert [report(e) for e in got] == ["b-0", "b-1", "b-2"]
    # Pending entries count toward the mark until they are acknowledged.
    with pytest.raises(Overloaded):
        await queue.append(make_webhook(100))
    await queue.ack([got[0].id])
    await queue.append(make_webhook(101))
    assert await queue.depth() == 3
    assert [report(e) for e in await read_all(queue)] == ["b-101"]


async def test_concurrent_appends_respect_the_high_water_mark(make_queue: MakeQueue) -> None:
    queue = await make_queue(max_depth=10)
    results = await asyncio.gather(
        *(queue.append(make_webhook(i)) for i in range(50)), return_exceptions=True
    )
    accepted = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, Overloaded)]
    assert (len(accepted), len(refused)) == (10, 40)
    assert await queue.depth() == 10
    assert sorted(e.id for e in await read_all(queue)) == sorted(accepted)


async def test_concurrent_appends_all_land_exactly_once(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    ids = await asyncio.gather(*(queue.append(make_webhook(i)) for i in range(1000)))
    assert len(set(ids)) == 1000
    assert await queue.depth() == 1000
    entries = await read_all(queue)
    assert sorted(report(e) for e in entries) == sorted(f"b-{i}" for i in range(1000))
    # Each caller got the id of its own entry, not a neighbour's.
    by_id = {e.id: report(e) for e in entries}
    assert [by_id[entry_id] for entry_id in ids] == [f"b-{i}" for i in range(1000)]


async def test_an_entry_its_parser_refuses_is_set_aside_not_handed_out(
    make_queue: MakeQueue,
) -> None:
    """The request path checks bodies before queuing them, so this is a parser bug or an entry
    of another version: it must neither wedge the queue nor vanish without a trace."""
    queue = await make_queue()
    dead_before = metrics.QUEUE_DEAD_LETTERED._value.get()
    good1 = await queue.append(make_webhook(1))
    await queue.append(RawWebhook("generic", b'{"name": 3}', {}, T0))
    await queue.append(RawWebhook("no-such-source", b"{}", {}, T0))
    good2 = await queue.append(make_webhook(2))
    got = await queue.read("c1", count=10, block_ms=100)
    assert [e.id for e in got] == [good1, good2]
    assert metrics.QUEUE_DEAD_LETTERED._value.get() == dead_before + 2
    assert await queue.depth() == 2
    await queue.ack([good1, good2])
    assert await queue.depth() == 0
    assert await queue.reclaim("c2", idle_ms=0, count=10) == []
