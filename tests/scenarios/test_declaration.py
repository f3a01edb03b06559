"""Declaration through the engine, on virtual time, with config/example (the shop map, its
rules and declaration.yaml): what the managers receive.

T0 is Monday 2026-03-02 09:00 UTC; no silence of the example is active then.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incidentd.declare.declarer import Command, UnknownIncident, sla_view
from incidentd.declare.incident import IncidentStatus
from incidentd.declare.timeline import EntryKind, person
from incidentd.engine import Decision, Engine
from incidentd.errors import InvalidTransition, WrongShape
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


def auth_outage() -> list[Alert]:
    """auth fails on three pods, unrelated to the database: its own failure."""
    return [
        alert(
            "AuthErrors",
            minute=0.1 + i,
            severity=Severity.CRITICAL,
            labels={"namespace": "identity", "app": "auth", "pod": f"auth-{i}"},
        )
        for i in range(3)
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


def _search(name: str, minute: float, severity: Severity, n: int = 0) -> Alert:
    labels = {"job": "elasticsearch", "cluster": "search", "instance": f"es-{n}"}
    return alert(name, minute=minute, severity=severity, labels=labels)


def _verdicts(decisions: list[Decision]) -> list[tuple[str, str | None]]:
    return [(d.kind, d.incident_id) for d in decisions if d.kind.startswith("incident.")]


def test_a_slow_burn_is_declared_when_it_escalates_to_the_threshold_and_held_for_sustain(
    rules: RuleSet,
) -> None:
    """Search warnings on more and more hosts: P3 at first (not declared), P2 as it grows;
    the example's 2-minute sustain then holds it before the declaration."""
    burn = [_search("SearchLatencyHigh", m, Severity.WARNING, n=m) for m in range(0, 20, 2)]
    engine, decisions = drive(rules, burn, until=25)
    kinds = [d.kind for d in decisions if d.kind.startswith("incident.")]
    assert kinds[:3] == ["incident.none", "incident.hold", "incident.declare"]
    first = next(d for d in decisions if d.kind == "incident.none")
    assert "P3" in first.reasons[0]
    held = next(d for d in decisions if d.kind == "incident.hold")
    declared = next(d for d in decisions if d.kind == "incident.declare")
    assert "P2" in held.reasons[0]
    assert declared.at - held.at == timedelta(minutes=2), "declared when the sustain time is met"
    [incident] = engine.declarer.state.incidents.values()
    assert incident.declared_at == declared.at


def test_a_spike_shorter_than_the_sustain_time_declares_nothing(rules: RuleSet) -> None:
    spike = _search("SearchErrors", 0, Severity.ERROR)
    gone = alert(
        "SearchErrors",
        status=Status.RESOLVED,
        minute=1,
        starts=0,
        severity=Severity.ERROR,
        labels=dict(spike.labels),
    )
    engine, decisions = drive(rules, [spike, gone], until=10)
    assert engine.declarer.state.incidents == {}
    assert "incident.hold" in [d.kind for d in decisions], "it was held, then forgotten"
    assert engine.declarer.state.pending == {}


def test_a_flapping_non_critical_alert_declares_nothing(rules: RuleSet) -> None:
    reports: list[Alert] = []
    for i in range(8):  # a warning that fires and clears every 4 minutes, for half an hour
        fired = alert(
            "SearchHeapHigh",
            minute=i * 4,
            severity=Severity.WARNING,
            labels={"job": "elasticsearch", "cluster": "search", "instance": "es-1"},
            report=str(i),
        )
        reports.append(fired)
        reports.append(
            alert(
                "SearchHeapHigh",
                status=Status.RESOLVED,
                minute=i * 4 + 2.5,
                starts=i * 4,
                severity=Severity.WARNING,
                labels=dict(fired.labels),
                report=str(i),
            )
        )
    engine, _ = drive(rules, reports, until=40)
    assert engine.declarer.state.incidents == {}


def test_two_independent_failures_at_once_are_two_incidents(rules: RuleSet) -> None:
    engine, _ = drive(rules, db_outage() + auth_outage(), until=6)
    incidents = sorted(engine.declarer.state.incidents.values(), key=lambda i: i.number)
    assert len(incidents) == 2
    assert {tuple(i.root_causes) for i in incidents} == {("orders-db",), ("auth",)}
    assert all(not set(a.alerts) & set(b.alerts) for a in incidents for b in incidents if a != b)


def test_alerts_in_a_maintenance_window_declare_nothing(rules: RuleSet) -> None:
    """The weekly orders-db maintenance (Sundays 02:00-04:00 Paris): its alerts are silenced."""
    sunday = datetime(2026, 3, 1, 1, 30, tzinfo=UTC)  # 02:30 in Paris (UTC+1 in March)
    base = (sunday - at(0)).total_seconds() / 60
    during = [
        alert(
            "PostgresDown",
            minute=base + i,
            severity=Severity.CRITICAL,
            labels={"job": "postgres", "cluster": "orders", "instance": f"orders-db-{i}:9187"},
        )
        for i in range(3)
    ]
    engine, decisions = drive(rules, during, until=base + 10)
    assert engine.declarer.state.incidents == {}
    assert all("silenced" in " ".join(d.reasons) for d in decisions if d.kind == "alert.new")


@pytest.fixture(scope="module")
def forty_services(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    """The example's rules and declaration policy over 40 independent critical services
    (no dependencies: nothing correlates them), so that a storm makes 40 groups."""
    target = tmp_path_factory.mktemp("forty") / "config"
    shutil.copytree(EXAMPLE, target)
    (target / "silences.yaml").write_text("silences: []\n")
    services = {
        f"svc-{i}": {
            "owner": "team",
            "criticality": "critical",
            "customer_facing": True,
            "users_per_minute": 2000,
            "match": [f'app="svc-{i}"'],
        }
        for i in range(40)
    }
    (target / "services.yaml").write_text(
        json.dumps(
            {
                "capabilities": {"checkout": {}},
                "services": {**services, "payments": {"owner": "team"}},
            }
        )
    )
    return load(target, env={})


def test_a_storm_across_the_map_is_one_storm_incident_not_dozens(
    forty_services: RuleSet,
) -> None:
    """3,000 critical alerts in five minutes on 40 unrelated services: the example's 2-minute
    sustain holds each group, by then the storm is plain, and one storm incident takes them
    all instead of 40 pages."""
    storm = [
        alert(
            "Errors",
            minute=i / 600,
            severity=Severity.CRITICAL,
            labels={"app": f"svc-{i % 40}", "pod": f"p-{i % 7}", "n": str(i)},
        )
        for i in range(3000)
    ]
    engine, decisions = drive(forty_services, storm, batch=200, until=6)
    incidents = list(engine.declarer.state.incidents.values())
    assert len(engine.state.groups) == 40  # payments (kept for the example's policy) is quiet
    [storm_incident] = incidents
    assert storm_incident.storm
    assert storm_incident.title.startswith("Alert storm")
    assert len(storm_incident.groups) == 40
    assert [d.kind for d in decisions].count("incident.absorb_into_storm") == 40


def test_an_unacknowledged_p1_breaches_its_acknowledge_sla_once(rules: RuleSet) -> None:
    """P1: acknowledge within 5 minutes (the default SLA). Nobody does: one breach, on the
    timeline and as a decision; then a person acknowledges, and resolve's clock runs on."""
    engine, decisions = drive(rules, db_outage(), until=4)
    assert "incident.sla_breached" not in [d.kind for d in decisions]
    decisions = engine.tick(rules=rules, now=at(5))
    decisions += engine.tick(rules=rules, now=at(30))
    [breach] = [d for d in decisions if d.kind == "incident.sla_breached"]
    assert (breach.incident_id, breach.detail, breach.at) == ("INC-1000", "acknowledge/P1", at(5))
    incident = engine.declarer.state.incidents["INC-1000"]
    assert incident.breached == ("acknowledge",)
    entries = [e for _, e in engine.take_changes().incidents.entries]
    assert [e.details["clock"] for e in entries if e.kind == EntryKind.SLA_BREACHED] == [
        "acknowledge"
    ]
    view = sla_view(incident, rules.declaration, at(30))
    assert view["acknowledge"]["state"] == "breached"
    assert view["declare"]["state"] == "met"
    assert view["resolve"]["state"] == "running"


def test_an_acknowledged_incident_does_not_breach_acknowledge(rules: RuleSet) -> None:
    engine, _ = drive(rules, db_outage(), until=2)
    engine.command(
        Command("INC-1000", "status", person("alice"), status=IncidentStatus.ACKNOWLEDGED),
        rules=rules,
        now=at(3),
    )
    decisions = engine.tick(rules=rules, now=at(60))
    assert "incident.sla_breached" not in [d.kind for d in decisions]
    view = sla_view(engine.declarer.state.incidents["INC-1000"], rules.declaration, at(60))
    assert view["acknowledge"] == {
        "target_seconds": 300.0,
        "due": at(5).isoformat(),
        "state": "met",
        "took_seconds": 180.0,
    }


def test_a_slow_declaration_breaches_the_declare_sla(tmp_path: Path) -> None:
    """The slow burn above is declared 4 minutes after its first alert; with a 3-minute
    declare target for P2 that is a breach, recorded at the declaration."""
    config = tmp_path / "config"
    shutil.copytree(EXAMPLE, config)
    policy = config / "declaration.yaml"
    text = policy.read_text()
    policy.write_text(
        text[: text.index("\nsla:")] + "\nsla:\n  P2: {declare: 3m, acknowledge: 1h}\n"
    )
    strict = load(config, env={})
    burn = [_search("SearchLatencyHigh", m, Severity.WARNING, n=m) for m in range(0, 20, 2)]
    engine, decisions = drive(strict, burn, until=5)
    [declared] = [d for d in decisions if d.kind == "incident.declare"]
    [breach] = [d for d in decisions if d.kind == "incident.sla_breached"]
    assert (breach.detail, breach.at) == ("declare/P2", declared.at)
    incident = engine.declarer.state.incidents["INC-1000"]
    assert incident.started_at == at(0)
    assert sla_view(incident, strict.declaration, at(5))["declare"]["took_seconds"] == 240.0


def test_a_person_declares_what_no_alert_shows_and_the_alerts_join_it_later(
    rules: RuleSet,
) -> None:
    engine = Engine()
    made = engine.command(
        Command(
            "",
            "declare",
            person("alice"),
            text="customers report failed payments",
            title="Payments failing for some customers",
            priority=Priority.P1,
            services=("orders-db",),
        ),
        rules=rules,
        now=at(0),
        command_id="c-1",
    )
    assert (made.id, made.priority, made.root_causes) == ("INC-1000", Priority.P1, ("orders-db",))
    assert "checkout" in made.capabilities, "the impact is the blast radius of orders-db"
    again = engine.command(
        Command("", "declare", person("alice"), title="x", services=("orders-db",)),
        rules=rules,
        now=at(0),
        command_id="c-1",
    )
    assert again.id == "INC-1000", "a command delivered twice declares once"
    engine.process(db_outage(start=1), rules=rules)
    engine.tick(rules=rules, now=at(3))
    assert list(engine.declarer.state.incidents) == ["INC-1000"], "the outage joins it"
    assert len(engine.declarer.state.incidents["INC-1000"].alerts) == 4
    with pytest.raises(WrongShape):
        engine.command(
            Command("", "declare", person("a"), title="t", services=("nope",)),
            rules=rules,
            now=at(4),
        )


def test_two_incidents_merged_by_a_person_become_one(rules: RuleSet) -> None:
    engine, _ = drive(rules, db_outage() + auth_outage(), until=6)
    first, second = sorted(engine.declarer.state.incidents.values(), key=lambda i: i.number)
    merged = engine.command(
        Command(second.id, "merge", person("bob"), into=first.id, text="one root cause"),
        rules=rules,
        now=at(7),
    )
    gone = engine.declarer.state.incidents[second.id]
    assert gone.status is IncidentStatus.RESOLVED
    assert merged.id == first.id
    assert set(merged.alerts) == set(first.alerts) | set(second.alerts)
    assert set(merged.groups) == set(first.groups) | set(second.groups)
    # The merged group's later alerts go to the surviving incident.
    engine.process(
        [
            alert(
                "AuthErrors",
                minute=8,
                severity=Severity.CRITICAL,
                labels={"namespace": "identity", "app": "auth", "pod": "auth-9"},
            )
        ],
        rules=rules,
    )
    engine.tick(rules=rules, now=at(9))
    assert len(engine.declarer.state.incidents[first.id].alerts) == len(merged.alerts) + 1
    with pytest.raises(InvalidTransition):
        engine.command(
            Command(first.id, "merge", person("bob"), into=first.id), rules=rules, now=at(10)
        )


def test_learned_transient_odds_are_named_in_the_score_and_change_nothing_else(
    rules: RuleSet,
) -> None:
    """declaration.yaml `scoring.transient` (what `incidentd suggest` learns): the database
    alert is named as likely transient in the incident's explanation, with no points; the
    incident, its priority and its score are what they are without it."""
    plain, _ = drive(rules, db_outage(), until=2)
    scoring = rules.declaration.scoring.model_copy(
        update={"transient": {"orders-db/PostgresDown": 0.8, "search/Other": 0.9}}
    )
    learned = dataclasses.replace(
        rules, declaration=rules.declaration.model_copy(update={"scoring": scoring})
    )
    engine, _ = drive(learned, db_outage(), until=2)
    [before] = plain.declarer.state.incidents.values()
    [after] = engine.declarer.state.incidents.values()
    notes = {f.name: f for f in after.score.factors}
    transient = notes["urgency.transient"]
    assert transient.contribution == 0.0
    assert "orders-db/PostgresDown (80%)" in transient.note
    assert "search/Other" not in transient.note, "only the driving alerts are named"
    assert (after.priority, after.score.value) == (before.priority, before.score.value)
    assert "urgency.transient" not in {f.name for f in before.score.factors}
