"""The outbox workers when a target misbehaves: a target that raises (a bug) is an attempt
that failed, retried with backoff and in the end dead-lettered; never a loop without end."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

import aiohttp

from incidentd.act.dispatch import Dispatcher
from incidentd.act.outbox import ActionState, MemoryOutbox
from incidentd.act.plan import plan_batch
from incidentd.act.routing import RoutingFile
from incidentd.act.target import ActionRequest, Outcome, Target
from incidentd.clock import SystemClock
from incidentd.engine import Engine
from incidentd.rules.loader import RuleSet, load
from incidentd.rules.reload import RulesHandle
from incidentd.store.commands import MemoryCommands
from incidentd.store.memory_state import MemoryState
from tests.scenarios.test_declaration import EXAMPLE, db_outage
from tests.unit.alerts import at


class Broken:
    """A target with a bug: every call raises."""

    name = "broken"

    def __init__(self) -> None:
        self.calls = 0

    async def send(
        self, request: ActionRequest, session: aiohttp.ClientSession, refs: Mapping[str, str]
    ) -> Outcome:
        self.calls += 1
        raise KeyError("a bug")


class WithBroken(Dispatcher):
    def __init__(self, broken: Broken, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.broken = broken

    def targets(self, rules: RuleSet) -> dict[str, Target]:
        return {"broken": self.broken}


async def test_a_target_that_raises_is_retried_then_dead_lettered() -> None:
    rules = dataclasses.replace(
        load(EXAMPLE, env={}),
        routing=RoutingFile.model_validate(
            {
                "routes": [{"name": "r", "events": ["declared"], "targets": ["broken"]}],
                "outbox": {"max_attempts": 3, "backoff": {"initial": 0.05, "max": 0.1}},
            }
        ),
    )
    engine = Engine()
    engine.process(db_outage()[:1], rules=rules)
    engine.tick(rules=rules, now=at(1))
    changes = engine.take_changes()
    outbox = MemoryOutbox()
    state = MemoryState(outbox)
    now = SystemClock().now()
    actions = plan_batch(
        changes.incidents.entries,
        engine.state.declare.incidents,
        rules,
        now=now,
    )
    assert len(actions) == 1
    await state.commit("test", changes, [], actions)
    broken = Broken()
    commands = MemoryCommands()
    dispatcher = WithBroken(
        broken,
        outbox=outbox,
        state=state,
        commands=commands,
        rules=RulesHandle(rules),
        clock=SystemClock(),
        name="test",
    )
    task = asyncio.create_task(dispatcher.run())
    try:
        for _ in range(100):
            found = await outbox.get(actions[0].key)
            if found is not None and found.state is ActionState.DEAD:
                break
            await asyncio.sleep(0.05)
    finally:
        dispatcher.stopping.set()
        await asyncio.wait_for(task, 5)
    assert found is not None
    assert (found.state, found.attempts) == (ActionState.DEAD, 3)
    assert found.last_reason == "internal error: KeyError"
    assert broken.calls == 3
    recorded = [s.command.outcome for s in await commands.take("test")]
    assert recorded == ["retry", "dead"], "the first retry and the dead letter on the timeline"
