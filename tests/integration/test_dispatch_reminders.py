"""Status-update reminders through the real outbox workers (memory store, manual clock) to a
signed webhook receiver on 127.0.0.1: a reminder goes out when the commander has been quiet
for the priority's interval, a status update pushes it back, and a resolution ends it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from incidentd.act.config import TargetsFile
from incidentd.act.dispatch import Dispatcher
from incidentd.act.outbox import ActionState, MemoryOutbox
from incidentd.act.plan import plan_batch
from incidentd.act.routing import RoutingFile
from incidentd.clock import ManualClock
from incidentd.declare.declarer import Command
from incidentd.declare.incident import IncidentStatus
from incidentd.declare.timeline import person
from incidentd.engine import Engine
from incidentd.rules.loader import RuleSet, load
from incidentd.rules.reload import RulesHandle
from incidentd.store.commands import MemoryCommands
from incidentd.store.memory_state import MemoryState
from tests.fakes.base import serve
from tests.fakes.receiver import PATH, FakeReceiver
from tests.scenarios.test_declaration import EXAMPLE, db_outage
from tests.unit.alerts import at

SECRET = "reminder-test-secret"  # noqa: S105 (the test's)
KEY = "INC-1000:reminder:0:hook"


class World:
    def __init__(self, rules: RuleSet, receiver: FakeReceiver) -> None:
        self.rules = rules
        self.receiver = receiver
        self.engine = Engine()
        self.outbox = MemoryOutbox()
        self.state = MemoryState(self.outbox)
        self.clock = ManualClock(at(0))
        self.dispatcher = Dispatcher(
            outbox=self.outbox,
            state=self.state,
            commands=MemoryCommands(),
            rules=RulesHandle(rules),
            clock=self.clock,
            name="test",
        )

    async def commit(self, now: datetime) -> None:
        changes = self.engine.take_changes()
        actions = plan_batch(
            changes.incidents.entries,
            self.engine.state.declare.incidents,
            self.rules,
            now=now,
        )
        await self.state.commit("test", changes, [], actions)

    def reminders(self) -> list[object]:
        return [body for key, body in self.receiver.processed.items() if "reminder" in key]

    async def at_minute(self, minute: float, *, sent: int) -> None:
        """Move the clock; wait until `sent` reminders arrived (and stay so for a moment)."""
        self.clock.set(at(minute))
        for _ in range(60):
            await asyncio.sleep(0.05)
            if len(self.reminders()) >= sent:
                break
        await asyncio.sleep(1.2)  # past the worker's longest idle wait: it looked
        assert len(self.reminders()) == sent, f"minute {minute}: {self.receiver.processed}"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    receiver = FakeReceiver(SECRET, datetime.now(UTC), max_skew=3600)
    async with serve(receiver):
        base = load(EXAMPLE, env={})
        rules = dataclasses.replace(
            base,
            targets=TargetsFile.model_validate(
                {
                    "targets": {
                        "hook": {"type": "webhook", "url": receiver.url + PATH, "secret": SECRET}
                    }
                },
                context={"secrets": lambda ref: ref},
            ),
            routing=RoutingFile.model_validate(
                {
                    "routes": [{"name": "remind", "events": ["reminder"], "targets": ["hook"]}],
                    "reminders": {"P1": "30m"},
                }
            ),
        )
        w = World(rules, receiver)
        task = asyncio.create_task(w.dispatcher.run())
        try:
            yield w
        finally:
            w.dispatcher.stopping.set()
            await asyncio.wait_for(task, 5)


async def test_reminders_follow_the_commanders_updates_and_stop_at_resolution(
    world: World,
) -> None:
    for one in sorted(db_outage(), key=lambda a: a.received_at):
        world.engine.process([one], rules=world.rules)
    await world.commit(at(1))
    armed = await world.outbox.get(KEY)
    assert armed is not None
    assert armed.due_at == at(30)

    await world.at_minute(29, sent=0)
    await world.at_minute(31, sent=1)
    # alice posts an update at minute 40: the next reminder is due at 70, not 61.
    note = Command("INC-1000", "note", person("alice"), text="replica promoted")
    world.engine.command(note, rules=world.rules, now=at(40))
    await world.commit(at(40))
    await world.at_minute(62, sent=1)
    for _ in range(40):  # the worker looked at 62 (due at 61) and re-armed from the update
        found = await world.outbox.get(KEY)
        if found is not None and found.due_at == at(70):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"not re-armed from the update: {found}")
    await world.at_minute(71, sent=2)
    resolve = Command("INC-1000", "status", person("alice"), IncidentStatus.RESOLVED)
    world.engine.command(resolve, rules=world.rules, now=at(80))
    await world.commit(at(80))
    await world.at_minute(120, sent=2)
    done = await world.outbox.get(KEY)
    for _ in range(40):  # the worker looks at least once a second
        if done is not None and done.state is not ActionState.PENDING:
            break
        await asyncio.sleep(0.1)
        done = await world.outbox.get(KEY)
    assert done is not None
    assert (done.state, done.last_outcome, done.last_reason) == (
        ActionState.SENT,
        "skipped",
        "resolved",
    )
    assert world.receiver.violations == []
