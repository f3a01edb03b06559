"""One contract for the outbox, over memory and a real Redis.

What the workers rely on: only the head of a chain is due; a claim is exclusive until it
expires; a settle by a worker whose claim was taken over is refused; a sent or dead action
releases the next one of its chain; a dead action waits for a person's retry; an action
added twice (a commit replayed) exists once; refs come back with the next claim.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from incidentd.act.outbox import Action, ActionState, Claimed, MemoryOutbox, Outbox
from incidentd.act.target import ActionEvent, idempotency_key
from incidentd.store.redis_outbox import RedisOutbox

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CLAIM = timedelta(minutes=3)


class Box:
    """An outbox and the way its commit adds actions (sync for memory, a script for Redis)."""

    def __init__(self, outbox: Outbox, add: object) -> None:
        self.outbox = outbox
        self._add = add

    async def add(self, actions: Sequence[Action]) -> None:
        if isinstance(self.outbox, MemoryOutbox):
            self.outbox.enqueue(actions)
        else:
            assert isinstance(self.outbox, RedisOutbox)
            await self.outbox.enqueue(actions)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def box(request: pytest.FixtureRequest) -> AsyncIterator[Box]:
    if request.param == "memory":
        yield Box(MemoryOutbox(), None)
        return
    url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    outbox = RedisOutbox.from_url(url, prefix=prefix)
    yield Box(outbox, None)
    await outbox.close()


def action(
    event: ActionEvent = ActionEvent.DECLARED,
    *,
    target: str = "pagerduty",
    seq: int = 0,
    incident: str = "INC-1001",
    due: datetime = T0,
) -> Action:
    return Action(
        key=idempotency_key(incident, event, target, seq),
        incident_id=incident,
        target=target,
        event=event,
        seq=seq,
        created_at=T0,
        due_at=due,
        people=("alice",),
    )


def sent(claimed: Claimed) -> Action:
    return replace(claimed.action, state=ActionState.SENT, attempts=1, last_outcome="sent")


async def test_only_due_actions_are_claimed_and_each_once(box: Box) -> None:
    later = action(target="slack", due=T0 + timedelta(minutes=1))
    await box.add([action(), later])
    first = await box.outbox.claim("w1", T0, count=10, claim_for=CLAIM)
    assert [c.action.key for c in first] == [action().key]
    assert first[0].action == action()
    assert await box.outbox.claim("w2", T0, count=10, claim_for=CLAIM) == []
    due = await box.outbox.claim("w2", T0 + timedelta(minutes=1), count=10, claim_for=CLAIM)
    assert [c.action.key for c in due] == [later.key]


async def test_an_action_added_twice_exists_once(box: Box) -> None:
    await box.add([action()])
    await box.add([action()])
    claimed = await box.outbox.claim("w1", T0, count=10, claim_for=CLAIM)
    assert len(claimed) == 1
    assert len(await box.outbox.list(incident_id="INC-1001")) == 1


async def test_a_chain_is_sent_in_order_one_at_a_time(box: Box) -> None:
    trigger = action(ActionEvent.DECLARED, seq=0)
    resolve = action(ActionEvent.RESOLVED, seq=5)
    other = action(ActionEvent.DECLARED, target="slack")
    await box.add([trigger, resolve, other])
    claimed = await box.outbox.claim("w1", T0, count=10, claim_for=CLAIM)
    assert sorted(c.action.key for c in claimed) == sorted([trigger.key, other.key])
    head = next(c for c in claimed if c.action.key == trigger.key)
    # The trigger retries: the resolve must not overtake it.
    retry = replace(head.action, attempts=1, due_at=T0 + timedelta(seconds=30))
    assert await box.outbox.settle(head, retry, {"dedup_key": "INC-1001"}, now=T0)
    assert await box.outbox.claim("w1", T0 + timedelta(seconds=10), count=10, claim_for=CLAIM) == []
    again = await box.outbox.claim("w1", T0 + timedelta(seconds=30), count=10, claim_for=CLAIM)
    assert [c.action.key for c in again] == [trigger.key]
    assert again[0].refs == {"dedup_key": "INC-1001"}
    assert again[0].action.attempts == 1
    now = T0 + timedelta(seconds=31)
    assert await box.outbox.settle(again[0], sent(again[0]), again[0].refs, now=now)
    nxt = await box.outbox.claim("w1", now, count=10, claim_for=CLAIM)
    assert [c.action.key for c in nxt] == [resolve.key]
    assert nxt[0].refs == {"dedup_key": "INC-1001"}


async def test_an_expired_claim_is_taken_over_and_the_late_settle_is_refused(box: Box) -> None:
    await box.add([action()])
    (first,) = await box.outbox.claim("w1", T0, count=10, claim_for=CLAIM)
    assert await box.outbox.claim("w2", T0 + timedelta(minutes=2), count=10, claim_for=CLAIM) == []
    (second,) = await box.outbox.claim("w2", T0 + CLAIM, count=10, claim_for=CLAIM)
    assert second.action.key == first.action.key
    assert not await box.outbox.settle(first, sent(first), {"x": "1"}, now=T0 + CLAIM)
    assert await box.outbox.settle(second, sent(second), {"y": "2"}, now=T0 + CLAIM)
    found = await box.outbox.get(first.action.key)
    assert found is not None
    assert found.state is ActionState.SENT
    assert await box.outbox.refs("INC-1001") == {"pagerduty": {"y": "2"}}


async def test_a_dead_action_releases_its_chain_and_waits_for_a_person(box: Box) -> None:
    trigger = action(ActionEvent.DECLARED, seq=0)
    ack = action(ActionEvent.ACKNOWLEDGED, seq=3)
    await box.add([trigger, ack])
    (head,) = await box.outbox.claim("w1", T0, count=10, claim_for=CLAIM)
    dead = replace(head.action, state=ActionState.DEAD, attempts=12, last_reason="400 bad key")
    assert await box.outbox.settle(head, dead, {}, now=T0)
    (nxt,) = await box.outbox.claim("w1", T0, count=10, claim_for=CLAIM)
    assert nxt.action.key == ack.key
    listed = await box.outbox.list(state=ActionState.DEAD)
    assert [a.key for a in listed] == [trigger.key]
    assert (await box.outbox.counts())["dead"] == 1
    with pytest.raises(ValueError, match="not dead"):
        await box.outbox.retry(ack.key, T0)
    assert await box.outbox.settle(nxt, sent(nxt), {}, now=T0)
    assert await box.outbox.retry("INC-9:declared:0:nope", T0) is None
    later = T0 + timedelta(minutes=10)
    again = await box.outbox.retry(trigger.key, later)
    assert again is not None
    assert (again.state, again.attempts, again.due_at) == (ActionState.PENDING, 0, later)
    (retried,) = await box.outbox.claim("w1", later, count=10, claim_for=CLAIM)
    assert retried.action.key == trigger.key
    assert await box.outbox.list(state=ActionState.DEAD) == []


async def test_settled_actions_are_purged_after_their_time(box: Box) -> None:
    await box.add([action(), action(target="slack")])
    claimed = await box.outbox.claim("w1", T0, count=10, claim_for=CLAIM)
    for one in claimed:
        assert await box.outbox.settle(one, sent(one), {}, now=T0)
    assert await box.outbox.purge(T0) == 0
    assert await box.outbox.purge(T0 + timedelta(seconds=1)) == 2
    assert await box.outbox.list(incident_id="INC-1001") == []
    assert await box.outbox.get(action().key) is None


async def test_list_is_newest_first_per_incident(box: Box) -> None:
    a = action(ActionEvent.DECLARED, seq=0)
    b = replace(action(ActionEvent.RESOLVED, seq=9), created_at=T0 + timedelta(minutes=1))
    c = action(incident="INC-1002")
    await box.add([a, b, c])
    assert [x.key for x in await box.outbox.list(incident_id="INC-1001")] == [b.key, a.key]
    assert {x.key for x in await box.outbox.list()} == {a.key, b.key, c.key}


async def test_wait_returns_when_an_action_is_added(box: Box) -> None:
    waiter = asyncio.create_task(box.outbox.wait(5.0))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await box.add([action()])
    await asyncio.wait_for(waiter, 2.0)
    assert time.monotonic() - started < 2.0
    assert await box.outbox.next_due() == T0
