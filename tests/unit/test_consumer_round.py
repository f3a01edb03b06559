"""After a round the consumer counts its alerts and decisions in metrics; replay takes what
each batch left (the engine's state) out of the cyclic collector's scans, until it returns."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from incidentd.consumer import Consumer
from incidentd.engine import Decision
from incidentd.replay import BATCH, replay
from incidentd.rules.loader import load
from tests.unit.alerts import alert

RULES = load(Path(__file__).resolve().parents[1] / "scenarios" / "config", env={})


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    gc.collect()
    yield
    gc.unfreeze()


def test_replay_freezes_batch_by_batch_and_unfreezes_at_its_end(unfrozen: None) -> None:
    counts: list[int] = []
    alerts = [alert("DiskFull", minute=n / 60, report=str(n)) for n in range(BATCH + 10)]
    lines = [a.model_dump_json().encode() for a in alerts]
    _, summary = replay(lines, RULES, on_decision=lambda _: counts.append(gc.get_freeze_count()))
    assert summary.alerts == BATCH + 10
    assert counts[0] == 0, "nothing frozen before the first batch"
    assert counts[-1] > 0, "the first batch's leftovers were frozen during the second"
    assert gc.get_freeze_count() == 0, "what replay froze is unfrozen when it returns"


def test_a_round_counts_its_alerts_and_each_kind_of_decision() -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    at = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    kinds = ["alert.new"] * 3 + ["alert.duplicate"] * 2 + ["incident.sla_breached"]
    decisions = [
        Decision(kind, at, "v1", detail="declare/P1" if kind.startswith("incident") else None)
        for kind in kinds
    ]
    before = {
        "new": sample("incidentd_engine_decisions_total", kind="alert.new"),
        "dup": sample("incidentd_engine_decisions_total", kind="alert.duplicate"),
        "sla": sample("incidentd_sla_breaches_total", clock="declare", priority="P1"),
        "alerts": sample("incidentd_engine_alerts_total"),
    }
    Consumer._count([object()] * 5, decisions, 0.01)
    assert sample("incidentd_engine_decisions_total", kind="alert.new") == before["new"] + 3
    assert sample("incidentd_engine_decisions_total", kind="alert.duplicate") == before["dup"] + 2
    assert sample("incidentd_sla_breaches_total", clock="declare", priority="P1") == (
        before["sla"] + 1
    )
    assert sample("incidentd_engine_alerts_total") == before["alerts"] + 5
