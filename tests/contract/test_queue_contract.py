"""The AlertQueue contract: one suite, run against MemoryQueue and RedisQueue (real Redis).

What the HTTP layer and the consumers rely on: a batch is one entry, appended whole; reads
hand out entries in order, once, and block for at most `block_ms`; unacknowledged entries stay
pending and are reclaimed after `idle_ms`; the high-water mark refuses appends and writes
nothing; concurrent appends each land exactly once under their own id.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from incidentd.errors import Overloaded
from incidentd.model import Alert, Severity, Status
from incidentd.store.base import AlertQueue, Queued
from incidentd.store.memory import MemoryQueue
from incidentd.store.redis import RedisQueue

MakeQueue = Callable[..., Awaitable[AlertQueue]]

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"
GOLDEN = sorted(PAYLOADS.glob("*/*.expected.json"))
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_alert(n: int, *, batch: str = "b") -> Alert:
    return Alert(
        source="alertmanager",
        fingerprint=f"fp-{n}",
        event_id=f"{batch}-{n}",
        status=Status.FIRING,
        severity=Severity.CRITICAL,
        name="HighErrorRate",
        title=f"High error rate on checkout #{n}",
        service="checkout",
        labels={"alertname": "HighErrorRate", "n": str(n)},
        annotations={"summary": "5xx above 5% for 5 minutes"},
        starts_at=T0,
        received_at=T0 + timedelta(seconds=n),
        url="https://prometheus.example/graph?g0.expr=rate%28x%5B5m%5D%29",
        group_key='{}/{severity="critical"}:{alertname="HighErrorRate"}',
    )


EDGE_BATCH = [
    Alert(
        source="splunk",
        fingerprint="f" * 64,
        event_id="e" * 32,
        status=Status.RESOLVED,
        severity=Severity.INFO,
        name="Échec de paiement — 決済 ✓",
        title='quotes " and \\ backslash\nnew line\ttab \u0000 nul',
        service=None,
        labels={"empty": "", "ключ": "значение", "emoji": "🔥"},
        annotations={"runbook": "https://runbooks.example/x?a=1&b=2"},
        starts_at=datetime(2026, 3, 1, 14, 0, 0, 999999, tzinfo=timezone(timedelta(hours=2))),
        ends_at=datetime(2026, 3, 1, 12, 5, tzinfo=UTC),
        received_at=datetime(2026, 3, 1, 12, 5, 0, 1, tzinfo=UTC),
        url=None,
        group_key=None,
        auto_resolve_after=timedelta(hours=4, seconds=30),
    ),
    Alert(
        source="generic",
        fingerprint="minimal",
        event_id="minimal-1",
        status=Status.FIRING,
        severity=Severity.WARNING,
        name="n",
        title="t",
        starts_at=datetime(1, 1, 1, tzinfo=UTC),
        received_at=T0,
    ),
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


async def test_round_trip_preserves_every_field(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    entry_id = await queue.append(EDGE_BATCH)
    got = await queue.read("c1", count=10, block_ms=100)
    assert [(e.id, e.deliveries) for e in got] == [(entry_id, 1)]
    assert got[0].alerts == tuple(EDGE_BATCH)
    assert [a.model_dump_json() for a in got[0].alerts] == [a.model_dump_json() for a in EDGE_BATCH]


@pytest.fixture(params=GOLDEN, ids=lambda p: f"{p.parent.name}/{p.name}")
def golden_alerts(request: pytest.FixtureRequest) -> list[Alert]:
    path: Path = request.param
    return [Alert.model_validate(item) for item in json.loads(path.read_text())]


async def test_golden_alerts_survive_the_queue(
    make_queue: MakeQueue, golden_alerts: list[Alert]
) -> None:
    queue = await make_queue()
    await queue.append(golden_alerts)
    (entry,) = await queue.read("c1", count=10, block_ms=100)
    assert entry.alerts == tuple(golden_alerts)


async def test_a_batch_is_one_entry_and_read_whole(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    batch = [make_alert(i) for i in range(100)]
    await queue.append(batch)
    assert await queue.depth() == 1
    got = await queue.read("c1", count=1, block_ms=0)
    assert len(got) == 1
    assert got[0].alerts == tuple(batch)


async def test_entries_are_read_in_append_order(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    ids = [await queue.append([make_alert(i)]) for i in range(20)]
    assert sorted(ids, key=id_key) == ids
    assert len(set(ids)) == 20
    got = await queue.read("c1", count=100, block_ms=0)
    assert [e.id for e in got] == ids
    assert [e.alerts[0].event_id for e in got] == [f"b-{i}" for i in range(20)]


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
    entry_id = await queue.append([make_alert(1)])
    got = await asyncio.wait_for(reader, 2)
    assert [e.id for e in got] == [entry_id]
    assert time.monotonic() - started < 1.0


async def test_read_respects_count(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    ids = [await queue.append([make_alert(i)]) for i in range(5)]
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
    ids = [await queue.append([make_alert(i)]) for i in range(3)]
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
    ids = [await queue.append([make_alert(i)]) for i in range(3)]
    await queue.read("crashed", count=10, block_ms=0)
    await asyncio.sleep(0.05)
    first = await queue.reclaim("rescuer", idle_ms=20, count=2)
    second = await queue.reclaim("rescuer", idle_ms=20, count=2)
    assert [e.id for e in first] == ids[:2]
    assert [e.id for e in second] == ids[2:]


async def test_acked_entries_never_come_back(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    ids = [await queue.append([make_alert(i)]) for i in range(2)]
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
        await queue.append([make_alert(i)])
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
        await queue.append([make_alert(i)])
    with pytest.raises(Overloaded) as refused:
        await queue.append([make_alert(99)])
    assert refused.value.status == 503
    assert refused.value.retry_after > 0
    assert await queue.depth() == 3
    got = await queue.read("c1", count=10, block_ms=0)
    assert [e.alerts[0].event_id for e in got] == ["b-0", "b-1", "b-2"]
    # Pending entries count toward the mark until they are acknowledged.
    with pytest.raises(Overloaded):
        await queue.append([make_alert(100)])
    await queue.ack([got[0].id])
    await queue.append([make_alert(101)])
    assert await queue.depth() == 3
    assert [e.alerts[0].event_id for e in await read_all(queue)] == ["b-101"]


async def test_concurrent_appends_respect_the_high_water_mark(make_queue: MakeQueue) -> None:
    queue = await make_queue(max_depth=10)
    results = await asyncio.gather(
        *(queue.append([make_alert(i)]) for i in range(50)), return_exceptions=True
    )
    accepted = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, Overloaded)]
    assert (len(accepted), len(refused)) == (10, 40)
    assert await queue.depth() == 10
    assert sorted(e.id for e in await read_all(queue)) == sorted(accepted)


async def test_concurrent_appends_all_land_exactly_once(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    ids = await asyncio.gather(*(queue.append([make_alert(i)]) for i in range(1000)))
    assert len(set(ids)) == 1000
    assert await queue.depth() == 1000
    entries = await read_all(queue)
    assert sorted(e.alerts[0].event_id for e in entries) == sorted(f"b-{i}" for i in range(1000))
    # Each caller got the id of its own entry, not a neighbour's.
    by_id = {e.id: e.alerts[0].event_id for e in entries}
    assert [by_id[entry_id] for entry_id in ids] == [f"b-{i}" for i in range(1000)]
