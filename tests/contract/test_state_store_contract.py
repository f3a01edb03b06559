"""One contract for the engine's state store, over memory and a real Redis.

The engine runs on a store's state, commits its changes, and a new leader resumes from what
was committed. Both stores must give the engine (and the read API) the same picture.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from incidentd.correlate.grouping import GroupState
from incidentd.declare.declarer import Command
from incidentd.declare.timeline import person
from incidentd.engine import Engine
from incidentd.errors import LeaseLost
from incidentd.model import Priority, Status
from incidentd.rules.loader import RuleSet, load
from incidentd.store.base import StateStore
from incidentd.store.memory_state import MemoryState
from incidentd.store.redis_state import RedisState
from tests.unit.alerts import alert

CONFIG = Path(__file__).resolve().parents[1] / "scenarios" / "config"
MakeStore = Callable[[], StateStore]


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load(CONFIG, env={})


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[MakeStore]:
    created: list[StateStore] = []
    shared = MemoryState()
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        prefix: str = request.getfixturevalue("redis_prefix")

    def make() -> StateStore:
        store: StateStore
        # Two handles on one memory store are the same object: memory state lives in-process.
        store = shared if request.param == "memory" else RedisState.from_url(url, prefix=prefix)
        created.append(store)
        return store

    yield make
    for store in created:
        await store.close()


async def _run(store: StateStore, rules: RuleSet, owner: str = "a") -> Engine:
    assert await store.acquire(owner, ttl_ms=5000)
    engine = Engine.resume(await store.load(), rules)
    decisions = engine.process(
        [
            alert("PostgresDown", minute=0, labels={"job": "postgres"}),
            alert("CheckoutErrors", minute=1, service="checkout-web"),
            alert("SearchSlow", minute=2, service="search"),
            alert("SearchSlow", status=Status.RESOLVED, minute=3, starts=2, service="search"),
        ],
        rules=rules,
    )
    decisions += engine.tick(rules=rules, now=alert(minute=20).received_at)
    await store.commit(owner, engine.take_changes(), decisions)
    return engine


async def test_committed_state_is_what_a_new_leader_loads(
    make_store: MakeStore, rules: RuleSet
) -> None:
    engine = await _run(make_store(), rules)
    loaded = await make_store().load()
    assert loaded.alerts == engine.state.alerts
    assert loaded.groups.keys() == engine.state.groups.keys()
    for gid, group in engine.state.groups.items():
        assert loaded.groups[gid] == group


async def test_read_api_lists_groups_newest_first_and_by_state(
    make_store: MakeStore, rules: RuleSet
) -> None:
    engine = await _run(make_store(), rules)
    reader = make_store()
    groups = await reader.groups()
    assert [g.id for g in groups] == [
        g.id for g in sorted(engine.state.groups.values(), key=lambda g: g.last_seen, reverse=True)
    ]
    resolved = await reader.groups(state=GroupState.RESOLVED)
    assert [g.rule for g in resolved] == ["by-service"]
    assert all(g.state is GroupState.OPEN for g in await reader.groups(state=GroupState.OPEN))
    assert len(await reader.groups(limit=1)) == 1


async def test_one_group_with_its_alerts(make_store: MakeStore, rules: RuleSet) -> None:
    engine = await _run(make_store(), rules)
    [cascade] = [g for g in engine.state.groups.values() if g.rule == "shop-cascade"]
    found = await make_store().group(cascade.id)
    assert found is not None
    group, alerts = found
    assert group.members == cascade.members
    assert {a.name for a in alerts} == {"PostgresDown", "CheckoutErrors"}
    assert await make_store().group("G-nope") is None


async def test_decisions_newest_first(make_store: MakeStore, rules: RuleSet) -> None:
    await _run(make_store(), rules)
    decisions = await make_store().recent_decisions(limit=3)
    assert len(decisions) == 3
    everything = await make_store().recent_decisions(limit=1000)
    assert decisions == everything[:3]
    times = [str(d["at"]) for d in everything]
    assert times == sorted(times, reverse=True), "newest first"
    assert "group.resolved" in [d["kind"] for d in everything]


async def test_removed_alerts_and_groups_are_gone_after_commit(
    make_store: MakeStore, rules: RuleSet
) -> None:
    store = make_store()
    engine = await _run(store, rules)
    engine.tick(rules=rules, now=alert(minute=60 * 25).received_at)  # past the retention
    changes = engine.take_changes()
    assert changes.removed_groups
    await store.commit("a", changes, [])
    loaded = await make_store().load()
    assert set(loaded.groups) == set(engine.state.groups)
    assert set(loaded.alerts) == set(engine.state.alerts)


async def test_a_large_batch_with_hostile_strings_is_loaded_as_committed(
    make_store: MakeStore, rules: RuleSet
) -> None:
    """A batch of 5,000 alerts in one group (the Redis store writes a batch as one payload,
    in slices) whose labels hold quotes, backslashes, control and non-ASCII characters."""
    store = make_store()
    assert await store.acquire("a", ttl_ms=5000)
    engine = Engine.resume(await store.load(), rules)
    odd = 'quote " backslash \\ nul \u0000 tab \t é 漢字 🔥 \ud7ff'
    engine.process(
        [
            alert("PostgresDown", minute=0, labels={"job": "postgres", "pod": f"{odd} {n}"})
            for n in range(5000)
        ],
        rules=rules,
    )
    await store.commit("a", engine.take_changes(), [])
    loaded = await make_store().load()
    assert loaded.alerts == engine.state.alerts
    [group] = engine.state.groups.values()
    assert len(group.members) == 5000
    assert loaded.groups[group.id] == group


@pytest.mark.redis
async def test_only_one_leader_and_a_stale_leader_cannot_commit(
    redis_url: str, redis_prefix: str, rules: RuleSet
) -> None:
    first = RedisState.from_url(redis_url, prefix=redis_prefix)
    second = RedisState.from_url(redis_url, prefix=redis_prefix)
    try:
        assert await first.acquire("a", ttl_ms=200)
        assert not await second.acquire("b", ttl_ms=200)
        assert await first.acquire("a", ttl_ms=200), "the holder renews"
        engine = Engine.resume(await first.load(), rules)
        engine.process([alert("PostgresDown", minute=0, labels={"job": "postgres"})], rules=rules)
        await asyncio.sleep(0.3)  # the lease expires: "a" is paused, "b" takes over
        assert await second.acquire("b", ttl_ms=5000)
        with pytest.raises(LeaseLost):
            await first.commit("a", engine.take_changes(), [])
        assert (await second.load()).alerts == {}, "nothing of the stale leader was written"
    finally:
        await first.close()
        await second.close()


async def test_decisions_of_several_commits_newest_first_without_quiet_ones(
    make_store: MakeStore, rules: RuleSet
) -> None:
    store = make_store()
    engine = await _run(store, rules)
    more = engine.process(
        [
            alert("PostgresDown", minute=30, starts=0, labels={"job": "postgres"}, report="r"),
            alert("Watchdog", minute=31),
        ],
        rules=rules,
    )
    assert {d.kind for d in more} >= {"alert.repeat", "alert.new", "group.opened"}
    await store.commit("a", engine.take_changes(), more)
    decisions = await make_store().recent_decisions(limit=1000)
    kinds = [d["kind"] for d in decisions]
    assert "alert.repeat" not in kinds, "repeats are counted, not kept"
    assert kinds[:2] == ["group.opened", "alert.new"]
    assert kinds[-2:] == ["group.opened", "alert.new"], "the first commit's decisions come last"


async def test_incidents_and_their_timelines_are_committed_and_resumed(
    make_store: MakeStore, rules: RuleSet
) -> None:
    """The storm of `_run` declares the orders-db cascade; a new leader must know the
    incident (no second declaration) and the counter; readers see it with its timeline."""
    engine = await _run(make_store(), rules)
    declared = dict(engine.state.declare.incidents)
    assert declared, "the cascade is declared (default declaration policy)"
    reader = make_store()
    listed = await reader.incidents()
    assert [i.id for i in listed] == sorted(declared, reverse=True)
    for incident_id, incident in declared.items():
        found = await reader.incident(incident_id)
        assert found is not None
        record, timeline = found
        assert record == incident
        assert [e.seq for e in timeline] == list(range(incident.timeline_size))
        assert timeline[0].kind == "declared"
    assert await reader.incident("INC-1") is None

    loaded = await make_store().load()
    assert loaded.declare.incidents == declared
    assert loaded.declare.next_number == engine.state.declare.next_number
    assert loaded.declare.assessed == engine.state.declare.assessed
    resumed = Engine.resume(loaded, rules)
    again = resumed.process(
        [alert("PostgresDown", minute=21, starts=0, labels={"job": "postgres"}, report="r2")],
        rules=rules,
    )
    again += resumed.tick(rules=rules, now=alert(minute=22).received_at)
    assert "incident.declare" not in [d.kind for d in again]


async def test_open_incidents_only(make_store: MakeStore, rules: RuleSet) -> None:
    engine = await _run(make_store(), rules)
    open_ids = {i.id for i in engine.state.declare.incidents.values() if i.open}
    assert {i.id for i in await make_store().incidents(open_only=True)} == open_ids


async def test_incidents_page_newest_first_below_a_number(
    make_store: MakeStore, rules: RuleSet
) -> None:
    store = make_store()
    assert await store.acquire("a", ttl_ms=5000)
    engine = Engine.resume(await store.load(), rules)
    now = alert(minute=0).received_at
    for n in range(5):
        cmd = Command("", "declare", person("alice"), title=f"by hand {n}", priority=Priority.P2)
        engine.command(cmd, rules=rules, now=now)
    await store.commit("a", engine.take_changes(), [])
    numbers = sorted((i.number for i in engine.state.declare.incidents.values()), reverse=True)
    reader = make_store()
    pages: list[list[int]] = []
    before = None
    while True:
        page = [i.number for i in await reader.incidents(limit=2, before=before)]
        if not page:
            break
        pages.append(page)
        before = page[-1]
    assert pages == [numbers[0:2], numbers[2:4], numbers[4:5]]
    assert await reader.incidents(limit=10, before=numbers[-1]) == []
