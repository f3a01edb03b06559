"""The SilenceStore contract: one suite, run against MemorySilences and RedisSilences (real Redis).

What the API and the engine rely on: a silence comes back exactly as it was added (matchers,
schedule, every field); `expire` ends it at `now` and keeps it, and says whether it existed;
`purge` forgets only silences that ended before the cutoff; concurrent expiries and adds
lose nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from incidentd.correlate.matchers import parse
from incidentd.correlate.silences import Silence, is_active
from incidentd.errors import Overloaded
from incidentd.rules.schema import Recurring
from incidentd.store.base import SilenceStore
from incidentd.store.keys import Keys
from incidentd.store.memory import MemorySilences
from incidentd.store.redis_silences import RedisSilences

MakeStore = Callable[[], Awaitable[SilenceStore]]

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def silence(n: int, *, starts: datetime | None = None, ends: datetime | None = None) -> Silence:
    return Silence(
        id=f"00000000-0000-4000-8000-{n:012d}",
        origin="api",
        matchers=(parse('service="orders-db"'), parse('instance=~"db-[0-9]+"')),
        comment=f"migration #{n}",
        created_by="ops@example.com",
        starts=NOW - HOUR if starts is None else starts,
        ends=NOW + HOUR if ends is None else ends,
        created_at=NOW - HOUR,
    )


RICH = Silence(
    id="a3c1e2b0-9f7d-4c1e-8a55-0d2f3b4c5d6e",
    origin="api",
    matchers=(
        parse('service="orders-db"'),
        parse('labels.service!~"a|b"'),
        parse('msg="quote \\" and backslash \\\\"'),
        parse('region="Île-de-France — ✓"'),
    ),
    name="weekly vacuum",
    comment="Wöchentliche Wartung 🔧\nsecond line",
    created_by="dba@example.com",
    starts=datetime(2026, 1, 1, tzinfo=UTC),
    ends=datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    every=Recurring(days=("sat", "sun"), start="22:00", end="06:00", timezone="Europe/Paris"),
    created_at=datetime(2025, 12, 31, 12, 0, 0, 123456, tzinfo=UTC),
)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[MakeStore]:
    created: list[SilenceStore] = []
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        prefix: str = request.getfixturevalue("redis_prefix")

    async def make() -> SilenceStore:
        store: SilenceStore
        if request.param == "memory":
            store = MemorySilences() if not created else created[0]  # one process, one store
        else:
            store = RedisSilences.from_url(url, prefix=prefix)
        created.append(store)
        return store

    yield make
    for store in {id(s): s for s in created}.values():
        await store.close()


async def test_a_silence_comes_back_exactly_as_added(make_store: MakeStore) -> None:
    store = await make_store()
    await store.add(RICH)
    got = await store.get(RICH.id)
    assert got == RICH
    assert got is not None
    assert [str(m) for m in got.matchers] == [str(m) for m in RICH.matchers]
    assert got.matchers[1].matches_value("c")
    assert not got.matchers[1].matches_value("a")
    assert await store.list() == [RICH]


async def test_get_unknown_is_none(make_store: MakeStore) -> None:
    store = await make_store()
    assert await store.get("nope") is None
    assert await store.list() == []


async def test_list_returns_every_silence(make_store: MakeStore) -> None:
    store = await make_store()
    for n in range(25):
        await store.add(silence(n))
    got = await store.list()
    assert sorted(s.id for s in got) == sorted(silence(n).id for n in range(25))
    assert {s.comment for s in got} == {f"migration #{n}" for n in range(25)}


async def test_add_with_the_same_id_replaces(make_store: MakeStore) -> None:
    store = await make_store()
    await store.add(silence(1))
    replacement = silence(1).model_copy(update={"comment": "changed"})
    await store.add(replacement)
    assert await store.list() == [replacement]


async def test_expire_ends_the_silence_now_and_keeps_it(make_store: MakeStore) -> None:
    store = await make_store()
    await store.add(silence(1))
    await store.add(silence(2))
    assert await store.expire(silence(1).id, NOW) is True
    got = await store.get(silence(1).id)
    assert got is not None
    assert (got.starts, got.ends) == (NOW - HOUR, NOW)
    assert not is_active(got, NOW)
    assert got.matchers == silence(1).matchers
    assert got.comment == "migration #1"
    assert await store.get(silence(2).id) == silence(2)  # the other one is untouched
    assert len(await store.list()) == 2


async def test_expire_of_a_pending_silence_starts_and_ends_it_now(make_store: MakeStore) -> None:
    store = await make_store()
    await store.add(silence(1, starts=NOW + HOUR, ends=NOW + 2 * HOUR))
    assert await store.expire(silence(1).id, NOW)
    got = await store.get(silence(1).id)
    assert got is not None
    assert (got.starts, got.ends) == (NOW, NOW)


async def test_expire_twice_keeps_the_first_end(make_store: MakeStore) -> None:
    store = await make_store()
    await store.add(silence(1))
    assert await store.expire(silence(1).id, NOW)
    assert await store.expire(silence(1).id, NOW + timedelta(minutes=5))
    got = await store.get(silence(1).id)
    assert got is not None
    assert got.ends == NOW


async def test_expire_unknown_is_false_and_creates_nothing(make_store: MakeStore) -> None:
    store = await make_store()
    assert await store.expire("nope", NOW) is False
    assert await store.list() == []


async def test_purge_forgets_only_silences_that_ended_before_the_cutoff(
    make_store: MakeStore,
) -> None:
    store = await make_store()
    old = silence(1, starts=NOW - 10 * HOUR, ends=NOW - 5 * HOUR)
    recent = silence(2, starts=NOW - 10 * HOUR, ends=NOW - HOUR)
    running = silence(3)
    recurring = RICH.model_copy(update={"ends": None})
    for s in (old, recent, running, recurring):
        await store.add(s)
    assert await store.purge(NOW - 2 * HOUR) == 1
    assert sorted(s.id for s in await store.list()) == sorted(
        s.id for s in (recent, running, recurring)
    )
    assert await store.purge(NOW - 2 * HOUR) == 0


async def test_concurrent_expiries_and_adds_lose_nothing(make_store: MakeStore) -> None:
    stores = [await make_store() for _ in range(3)]  # three replicas on one Redis
    for n in range(30):
        await stores[0].add(silence(n))
    jobs = [stores[n % 3].expire(silence(n).id, NOW) for n in range(0, 30, 2)]
    jobs += [stores[n % 3].add(silence(n)) for n in range(30, 60)]
    await asyncio.gather(*jobs)
    got = {s.id: s for s in await stores[1].list()}
    assert len(got) == 60
    assert [n for n in range(60) if got[silence(n).id].ends == NOW] == list(range(0, 30, 2))


@pytest.mark.redis
async def test_redis_keeps_silences_in_one_hash_under_the_hash_tag(
    redis_url: str, redis_prefix: str
) -> None:
    store = RedisSilences.from_url(redis_url, prefix=redis_prefix)
    client = aioredis.Redis.from_url(redis_url)
    try:
        await store.add(RICH)
        key = Keys(redis_prefix).silences
        assert key == "{" + redis_prefix + "}:silences"
        assert await client.type(key) == b"hash"
        assert await client.hkeys(key) == [RICH.id.encode()]
        stored = await client.hget(key, RICH.id)
        assert stored is not None
        assert b'"service=\\"orders-db\\""' in stored  # matchers stored as their text
    finally:
        await store.close()
        await client.aclose()


@pytest.mark.redis
async def test_redis_skips_an_undecodable_entry_and_keeps_it(
    redis_url: str, redis_prefix: str
) -> None:
    store = RedisSilences.from_url(redis_url, prefix=redis_prefix)
    client = aioredis.Redis.from_url(redis_url)
    key = Keys(redis_prefix).silences
    try:
        await store.add(silence(1))
        await client.hset(key, "future", b'{"id": "future", "new_field": 1}')
        assert await store.list() == [silence(1)]
        assert await store.get("future") is None
        assert await store.expire("future", NOW) is False
        assert await store.purge(NOW + 100 * HOUR) == 1  # silence(1); "future" is left alone
        assert await client.hkeys(key) == [b"future"]
    finally:
        await store.close()
        await client.aclose()


async def test_redis_unreachable_is_overloaded() -> None:
    store = RedisSilences.from_url("redis://127.0.0.1:1/0", prefix="nobody", timeout=0.5)
    try:
        calls: list[Callable[[], Awaitable[object]]] = [
            store.list,
            lambda: store.get("x"),
            lambda: store.add(silence(1)),
            lambda: store.expire("x", NOW),
            lambda: store.purge(NOW),
        ]
        for call in calls:
            with pytest.raises(Overloaded) as refused:
                await call()
            assert refused.value.status == 503
    finally:
        await store.close()
