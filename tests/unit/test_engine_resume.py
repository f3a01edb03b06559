"""State written by the codec and read back resumes the engine exactly where it was.

This is what a new leader does after a failover: load everything, rebuild indexes and timers,
and go on. The run that stops and resumes half-way must end with the same groups as the run
that never stopped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from incidentd.declare.declarer import meta_view
from incidentd.engine import Engine, EngineState
from incidentd.model import Alert, Status
from incidentd.rules.loader import RuleSet, load
from incidentd.store import codec
from tests.unit.alerts import alert, at

CONFIG = Path(__file__).resolve().parents[1] / "scenarios" / "config"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load(CONFIG, env={})


def _storm() -> list[Alert]:
    return [
        alert("PostgresDown", minute=0, labels={"job": "postgres"}),
        alert("ConnectionPoolExhausted", minute=1, labels={"app": "orders-api"}),
        alert("SearchLatencyHigh", minute=2, service="search"),
        alert("SearchLatencyHigh", status=Status.RESOLVED, minute=4, starts=2, service="search"),
        alert("CheckoutErrors", minute=5, service="checkout-web"),
        alert("Watchdog", minute=6),
        alert("SearchLatencyHigh", minute=12, service="search"),
        alert(
            "PostgresDown", status=Status.RESOLVED, minute=14, starts=0, labels={"job": "postgres"}
        ),
    ]


def _through_codec(state: EngineState) -> EngineState:
    copy = EngineState()
    for fingerprint, one in state.alerts.items():
        copy.alerts[fingerprint] = codec.decode_alert(codec.encode_alert(one))
    for gid, group in state.groups.items():
        members = {f: codec.decode_member(codec.encode_member(m)) for f, m in group.members.items()}
        copy.groups[gid] = codec.decode_group(codec.encode_group(group), members)
    incidents = [
        codec.decode_incident(codec.encode_incident(i)) for i in state.declare.incidents.values()
    ]
    meta = codec.encode_declare_meta(meta_view(state.declare))
    copy.declare = codec.declare_state(incidents, meta)
    return copy


def _shape(engine: Engine) -> list[tuple[object, ...]]:
    return sorted(
        (g.id, g.state, g.firing, tuple(sorted(g.members)), g.root_causes, g.quiet_since)
        for g in engine.state.groups.values()
    )


def test_codec_round_trips_alerts_and_groups_exactly(rules: RuleSet) -> None:
    engine = Engine()
    engine.process(_storm(), rules=rules)
    copy = _through_codec(engine.state)
    assert copy.alerts == engine.state.alerts
    assert copy.groups == engine.state.groups
    assert engine.state.declare.incidents, "the storm declares an incident"
    assert copy.declare.incidents == engine.state.declare.incidents
    assert meta_view(copy.declare) == meta_view(engine.state.declare)


@pytest.mark.parametrize("cut", [1, 3, 5, 7])
def test_resumed_engine_ends_with_the_same_groups(rules: RuleSet, cut: int) -> None:
    storm = _storm()
    straight = Engine()
    straight.process(storm, rules=rules)
    straight.tick(rules=rules, now=at(30))

    first = Engine()
    first.process(storm[:cut], rules=rules)
    resumed = Engine.resume(_through_codec(first.state), rules)
    resumed.process(storm[cut:], rules=rules)
    resumed.tick(rules=rules, now=at(30))
    assert _shape(resumed) == _shape(straight)
    assert resumed.declarer.state.incidents == straight.declarer.state.incidents
    assert {f: a.count for f, a in resumed.state.alerts.items()} == {
        f: a.count for f, a in straight.state.alerts.items()
    }


def test_redelivery_after_resume_counts_nothing_twice(rules: RuleSet) -> None:
    storm = _storm()
    first = Engine()
    first.process(storm[:5], rules=rules)
    first.tick(rules=rules, now=at(5))  # the assessments that batch left due
    resumed = Engine.resume(_through_codec(first.state), rules)
    decisions = resumed.process(storm[3:5], rules=rules)  # the unacknowledged batch, again
    assert {d.kind for d in decisions} == {"alert.duplicate"}
