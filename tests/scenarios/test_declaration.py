"""Declaration through the engine, on virtual time, with config/example (the shop map, its
rules and declaration.yaml): what the managers receive.

T0 is Monday 2026-03-02 09:00 UTC; no silence of the example is active then.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from incidentd.declare.declarer import Command, UnknownIncident
from incidentd.declare.incident import IncidentStatus
from incidentd.declare.timeline import EntryKind, person
from incidentd.engine import Decision, Engine
from incidentd.errors import InvalidTransition
from incidentd.model import Alert, Priority, Severity, Status
from incidentd.rules.loader import RuleSet, load
from tests.unit.alerts import alert, at

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load(EXAMPLE, env={})


def db_outage(start: float = 0) -> list[Alert]:
    """orders-db goes down; checkout, then the gateway, fail above it."""
    return [
        alert(
            "PostgresDown",
            minute=start,
            severity=Severity.CRITICAL,
            labels={"job": "postgres", "cluster": "orders", "instance": "orders-db-1:9187"},
        ),
        alert(
            "CheckoutErrors",
            minute=start + 0.5,
            severity=Severity.CRITICAL,
            labels={"namespace": "shop", "app": "checkout", "pod": "checkout-7d9f-a"},
        ),
        alert(
            "CheckoutErrors",
            minute=start + 0.6,
            severity=Severity.CRITICAL,
            labels={"namespace": "shop", "app": "checkout", "pod": "checkout-7d9f-b"},
        ),
        alert(
            "GatewayUpstream5xx",
            minute=start + 1,
            severity=Severity.ERROR,
            labels={"namespace": "edge", "app": "envoy", "instance": "gw-1"},
        ),
    ]


def resolved(one: Alert, minute: float) -> Alert:
    return alert(
        one.name,
        status=Status.RESOLVED,
        minute=minute,
        starts=(one.starts_at - at(0)).total_seconds() / 60,
        labels=dict(one.labels),
        severity=one.severity,
    )


def drive(
    rules: RuleSet, alerts: list[Alert], *, batch: int = 1, until: float | None = None
) -> tuple[Engine, list[Decision]]:
    engine = Engine()
    out: list[Decision] = []
    ordered = sorted(alerts, key=lambda a: a.received_at)
    for i in range(0, len(ordered), batch):
        out += engine.process(ordered[i : i + batch], rules=rules)
    if until is not None:
        out += engine.tick(rules=rules, now=at(until))
    return engine, out


def test_a_checkout_database_outage_is_declared_once_as_p1_with_its_reasons(
    rules: RuleSet,
) -> None:
    engine, decisions = drive(rules, db_outage(), until=2)
    [incident] = engine.declarer.state.incidents.values()
    assert incident.id == "INC-1000"
    assert incident.priority is Priority.P1
    assert incident.status is IncidentStatus.DECLARED
    assert "orders-db" in incident.root_causes
    assert "checkout" in incident.capabilities
    assert "orders-db failing" in incident.title
    assert incident.title.lower().startswith("checkout")
    assert len(incident.alerts) == 4
    assert incident.rules_version == rules.version
    declared = [d for d in decisions if d.kind == "incident.declare"]
    assert [d.incident_id for d in declared] == ["INC-1000"]
    assert declared[0].rules_version == rules.version
    assert declared[0].reasons, "a declaration says why"
    assert declared[0].at == at(0), "assessed at the first instant after the first alert"
    escalated = [d for d in decisions if d.kind == "incident.escalate"]
    assert [(d.incident_id, d.at) for d in escalated] == [("INC-1000", at(0.5))]
    # Every factor of the score is there to read, with its contribution.
    names = {f.name for f in incident.score.factors}
    assert names >= {"impact.criticality", "impact.revenue", "urgency.severity"}


def test_the_incidents_do_not_depend_on_how_alerts_were_batched(rules: RuleSet) -> None:
    alerts = [*db_outage(), alert("SearchLatencyHigh", minute=0.2, severity=Severity.WARNING)]
    one_by_one, _ = drive(rules, alerts, batch=1, until=3)
    all_at_once, _ = drive(rules, alerts, batch=len(alerts), until=3)
    assert one_by_one.declarer.state.incidents == all_at_once.declarer.state.incidents


def test_a_lone_warning_on_a_minor_service_is_not_declared_and_says_why(
    rules: RuleSet,
) -> None:
    warning = alert(
        "RecommendationsSlow",
        severity=Severity.WARNING,
        labels={"namespace": "ml", "app": "recommendations"},
    )
    engine, decisions = drive(rules, [warning], until=5)
    assert engine.declarer.state.incidents == {}
    [verdict] = [d for d in decisions if d.kind.startswith("incident.")]
    assert verdict.kind == "incident.none"
    assert any("P5" in r or "P4" in r for r in verdict.reasons)


def test_alerts_that_keep_coming_join_the_incident_instead_of_declaring_again(
    rules: RuleSet,
) -> None:
    more = [
        alert(
            "CheckoutErrors",
            minute=3 + i / 10,
            severity=Severity.CRITICAL,
            labels={"namespace": "shop", "app": "checkout", "pod": f"checkout-x-{i}"},
        )
        for i in range(20)
    ]
    engine, decisions = drive(rules, db_outage() + more, until=6)
    assert list(engine.declarer.state.incidents) == ["INC-1000"]
    assert len(engine.declarer.state.incidents["INC-1000"].alerts) == 24
    assert [d.kind for d in decisions].count("incident.declare") == 1


def test_when_every_alert_resolves_the_incident_is_mitigated_after_the_quiet_period(
    rules: RuleSet,
) -> None:
    outage = db_outage()
    clears = [resolved(a, 10 + i) for i, a in enumerate(outage)]
    engine, decisions = drive(rules, outage + clears, until=13 + 14)
    assert engine.declarer.state.incidents["INC-1000"].status is IncidentStatus.DECLARED
    decisions += engine.tick(rules=rules, now=at(13 + 15))
    incident = engine.declarer.state.incidents["INC-1000"]
    assert incident.status is IncidentStatus.MITIGATED
    assert incident.mitigated_at == at(13 + 15)
    assert "incident.mitigated" in [d.kind for d in decisions]


def test_a_persons_status_is_never_overridden_by_auto_resolve(rules: RuleSet) -> None:
    outage = db_outage()
    engine, _ = drive(rules, outage, until=2)
    alice = person("alice@example.com")
    engine.command(
        Command("INC-1000", "status", alice, status=IncidentStatus.ACKNOWLEDGED),
        rules=rules,
        now=at(3),
    )
    engine.command(
        Command("INC-1000", "note", alice, text="failing over to replica"), rules=rules, now=at(4)
    )
    engine.command(
        Command("INC-1000", "status", alice, status=IncidentStatus.RESOLVED, text="failed over"),
        rules=rules,
        now=at(5),
    )
    engine.process([resolved(a, 6) for a in outage], rules=rules)
    engine.tick(rules=rules, now=at(60))
    incident = engine.declarer.state.incidents["INC-1000"]
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.status_owner == "alice@example.com"
    kinds = [e.kind for _, e in engine.take_changes().incidents.entries]
    assert EntryKind.NOTE in kinds
    with pytest.raises(InvalidTransition):
        engine.command(
            Command("INC-1000", "status", alice, status=IncidentStatus.ACKNOWLEDGED),
            rules=rules,
            now=at(61),
        )
    with pytest.raises(UnknownIncident):
        engine.command(Command("INC-9", "note", alice, text="x"), rules=rules, now=at(61))


def test_a_new_leader_resumes_without_declaring_again(rules: RuleSet) -> None:
    outage = db_outage()
    first, _ = drive(rules, outage[:2], until=1)
    assert list(first.declarer.state.incidents) == ["INC-1000"]
    first.take_changes()
    state = copy.deepcopy(first.state)
    # What the store keeps: no rebuilt indexes or timers.
    state.declare.by_group.clear()
    state.declare.due.clear()
    state.declare.scheduled.clear()
    state.declare.scores.clear()
    second = Engine.resume(state, rules)
    decisions = second.process(outage[2:], rules=rules)
    decisions += second.tick(rules=rules, now=at(3))
    assert list(second.declarer.state.incidents) == ["INC-1000"]
    assert "incident.declare" not in [d.kind for d in decisions]
    assert len(second.declarer.state.incidents["INC-1000"].alerts) == 4
    assert second.declarer.state.next_number == 1001
