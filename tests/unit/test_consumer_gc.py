"""After a round, the consumer takes what the batch left (the engine's state) out of the cyclic
collector's scans, and collects every FULL_COLLECT_EVERY seconds what may be garbage among it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from incidentd.act.outbox import MemoryOutbox
from incidentd.clock import SystemClock
from incidentd.consumer import FULL_COLLECT_EVERY, Consumer, ConsumerSettings
from incidentd.replay import BATCH, replay
from incidentd.rules.loader import load
from incidentd.rules.reload import RulesHandle
from incidentd.store.memory import MemoryQueue, MemorySilences
from incidentd.store.memory_state import MemoryState
from tests.unit.alerts import alert

RULES = load(Path(__file__).resolve().parents[1] / "scenarios" / "config", env={})


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    gc.collect()
    yield
    gc.unfreeze()


def test_settling_freezes_the_leftovers_and_collects_cycles_every_interval(
    unfrozen: None,
) -> None:
    consumer = Consumer(
        queue=MemoryQueue(max_depth=10, retry_after=1),
        store=MemoryState(MemoryOutbox()),
        silences=MemorySilences(),
        rules=RulesHandle(RULES),
        clock=SystemClock(),
        settings=ConsumerSettings(name="test"),
    )
    garbage = Node()
    probe = weakref.ref(garbage)
    del garbage
    consumer._settle()
    assert gc.get_freeze_count() > 0
    gc.collect()
    assert probe() is not None, "frozen: no collection looks at it"
    consumer._settle()  # the next round: still within the interval
    assert probe() is not None
    consumer._collected -= FULL_COLLECT_EVERY
    consumer._settle()
    assert probe() is None, "the full collection freed the cycle"
    assert gc.get_freeze_count() > 0, "and froze what is left again"


def test_replay_freezes_batch_by_batch_and_unfreezes_at_its_end(unfrozen: None) -> None:
    counts: list[int] = []
    alerts = [alert("DiskFull", minute=n / 60, report=str(n)) for n in range(BATCH + 10)]
    lines = [a.model_dump_json().encode() for a in alerts]
    _, summary = replay(lines, RULES, on_decision=lambda _: counts.append(gc.get_freeze_count()))
    assert summary.alerts == BATCH + 10
    assert counts[0] == 0, "nothing frozen before the first batch"
    assert counts[-1] > 0, "the first batch's leftovers were frozen during the second"
    assert gc.get_freeze_count() == 0, "what replay froze is unfrozen when it returns"
