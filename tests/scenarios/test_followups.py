"""Follow-up actions through the engine, on virtual time, with config/example: people's
commands add and change them; the engine's timers record an open one overdue once, at its due
date, which plans a `followup_overdue` action; an incident with open follow-ups outlives its
retention, and one forgotten is taken back for a follow-up command.

T0 is Monday 2026-03-02 09:00 UTC.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta

import pytest

from incidentd.act.plan import plan_batch
from incidentd.act.routing import RoutingFile
from incidentd.act.target import ActionEvent
from incidentd.declare.declarer import Command, UnknownIncident
from incidentd.declare.followup import FollowUpEdit, FollowUpStatus, UnknownFollowUp
from incidentd.declare.incident import Incident, IncidentStatus
from incidentd.declare.timeline import EntryKind, TimelineEntry, person
from incidentd.engine import Engine
from incidentd.rules.loader import RuleSet, load
from tests.scenarios.test_declaration import EXAMPLE, db_outage, drive
from tests.unit.alerts import at

ALICE = person("alice")
DAY = 24 * 60


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load(EXAMPLE, env={})


def add(engine: Engine, rules: RuleSet, minute: float, title: str, due: float | None) -> Incident:
    edit = FollowUpEdit(
        frozenset({"title", "owner", "due"}),
        title=title,
        owner="bob",
        due=None if due is None else at(due),
    )
    return engine.command(
        Command("INC-1000", "followup", ALICE, edit=edit), rules=rules, now=at(minute)
    )


def change(engine: Engine, rules: RuleSet, minute: float, fid: str, **values: object) -> Incident:
    edit = FollowUpEdit(frozenset(values), **values)
    command = Command("INC-1000", "followup_update", ALICE, followup=fid, edit=edit)
    return engine.command(command, rules=rules, now=at(minute))


def resolved_outage(rules: RuleSet, retention: timedelta = timedelta(hours=24)) -> Engine:
    """INC-1000 declared for the database outage, resolved by alice at 10 minutes."""
    engine = Engine(retention=retention)
    for one in sorted(db_outage(), key=lambda a: a.received_at):
        engine.process([one], rules=rules)
    engine.tick(rules=rules, now=at(2))
    engine.command(
        Command("INC-1000", "status", ALICE, status=IncidentStatus.RESOLVED),
        rules=rules,
        now=at(10),
    )
    return engine


def entries(engine: Engine, kind: EntryKind) -> list[TimelineEntry]:
    return [e for _, e in engine.take_changes().incidents.entries if e.kind is kind]


def test_an_open_follow_up_is_recorded_overdue_once_at_its_due_date(rules: RuleSet) -> None:
    engine = resolved_outage(rules)
    add(engine, rules, 20, "Alert on replica lag", due=DAY)
    engine.take_changes()
    decisions = engine.tick(rules=rules, now=at(DAY - 1))
    assert "incident.followup_overdue" not in [d.kind for d in decisions]
    decisions = engine.tick(rules=rules, now=at(DAY + 30))
    [late] = [d for d in decisions if d.kind == "incident.followup_overdue"]
    assert (late.incident_id, late.at) == ("INC-1000", at(DAY))
    assert "F1" in late.reasons[0]
    [entry] = entries(engine, EntryKind.FOLLOWUP_OVERDUE)
    assert (entry.at, entry.details["followup"], entry.details["owner"]) == (at(DAY), "F1", "bob")
    incident = engine.declarer.state.incidents["INC-1000"]
    assert incident.followups[0].overdue_at == at(DAY)
    # once: later ticks, and a new leader resuming the state, do not record it again
    assert "incident.followup_overdue" not in [
        d.kind for d in engine.tick(rules=rules, now=at(3 * DAY))
    ]
    again = Engine.resume(copy.deepcopy(engine.state), rules)
    assert "incident.followup_overdue" not in [
        d.kind for d in again.tick(rules=rules, now=at(4 * DAY))
    ]


def test_a_follow_up_done_in_time_is_never_overdue(rules: RuleSet) -> None:
    engine = resolved_outage(rules)
    add(engine, rules, 20, "Alert on replica lag", due=DAY)
    done = change(engine, rules, 60, "F1", status=FollowUpStatus.DONE)
    assert done.followups[0].status is FollowUpStatus.DONE
    decisions = engine.tick(rules=rules, now=at(2 * DAY))
    assert "incident.followup_overdue" not in [d.kind for d in decisions]
    assert entries(engine, EntryKind.FOLLOWUP_OVERDUE) == []


def test_a_later_due_date_moves_the_overdue_check(rules: RuleSet) -> None:
    engine = resolved_outage(rules)
    add(engine, rules, 20, "Alert on replica lag", due=DAY)
    change(engine, rules, 60, "F1", due=at(3 * DAY))
    engine.take_changes()
    engine.tick(rules=rules, now=at(2 * DAY))
    assert entries(engine, EntryKind.FOLLOWUP_OVERDUE) == []
    engine.tick(rules=rules, now=at(3 * DAY + 1))
    [entry] = entries(engine, EntryKind.FOLLOWUP_OVERDUE)
    assert entry.at == at(3 * DAY)


def test_a_new_leader_keeps_watching_the_due_dates(rules: RuleSet) -> None:
    """The timers are not stored: a leader that loads the state rebuilds them."""
    engine = resolved_outage(rules)
    add(engine, rules, 20, "Alert on replica lag", due=DAY)
    engine.take_changes()
    leader = Engine.resume(copy.deepcopy(engine.state), rules)
    decisions = leader.tick(rules=rules, now=at(DAY + 1))
    late = [d for d in decisions if d.kind == "incident.followup_overdue"]
    assert [d.at for d in late] == [at(DAY)]


def test_the_overdue_entry_plans_an_action_for_the_routed_targets(rules: RuleSet) -> None:
    routed = dataclasses.replace(
        rules,
        routing=RoutingFile.model_validate(
            {
                "routes": [
                    {"name": "page", "events": ["declared"], "targets": ["pagerduty-orders"]},
                    {"name": "chat", "targets": ["slack-incidents"]},
                ]
            }
        ),
    )
    engine = resolved_outage(routed)
    add(engine, routed, 20, "Alert on replica lag", due=DAY)
    engine.take_changes()
    engine.tick(rules=routed, now=at(DAY + 1))
    changes = engine.take_changes()
    actions = plan_batch(
        changes.incidents.entries,
        engine.state.declare.incidents,
        routed,
        now=at(DAY + 1),
    )
    [action] = actions
    [(_, entry)] = changes.incidents.entries
    assert (action.event, action.target) == (ActionEvent.FOLLOWUP_OVERDUE, "slack-incidents")
    assert action.key == f"INC-1000:followup_overdue:{entry.seq}:slack-incidents"
    assert action.note == (
        f"follow-up F1 overdue (owner bob, due {at(DAY).isoformat()}): Alert on replica lag"
    )


def test_an_incident_with_an_open_follow_up_outlives_its_retention(rules: RuleSet) -> None:
    engine = resolved_outage(rules, retention=timedelta(hours=1))
    add(engine, rules, 20, "Alert on replica lag", due=5 * DAY)
    engine.tick(rules=rules, now=at(2 * DAY))
    assert "INC-1000" in engine.declarer.state.incidents
    assert engine.take_changes().incidents.forgotten == ()
    decisions = engine.tick(rules=rules, now=at(5 * DAY + 1))
    assert "incident.followup_overdue" in [d.kind for d in decisions]
    change(engine, rules, 5 * DAY + 10, "F1", status=FollowUpStatus.DONE)
    engine.tick(rules=rules, now=at(5 * DAY + 11))
    assert "INC-1000" not in engine.declarer.state.incidents
    assert engine.take_changes().incidents.forgotten == ("INC-1000",)


def test_a_forgotten_incident_is_taken_back_for_a_follow_up(rules: RuleSet) -> None:
    """Reviews happen days later, when the engine has forgotten the incident: the consumer
    loads it from the store (`readmit`) before it applies the command."""
    engine = resolved_outage(rules, retention=timedelta(hours=1))
    record = engine.declarer.state.incidents["INC-1000"]  # what the store keeps
    engine.tick(rules=rules, now=at(2 * DAY))
    assert engine.take_changes().incidents.forgotten == ("INC-1000",)
    with pytest.raises(UnknownIncident):
        add(engine, rules, 2 * DAY, "Alert on replica lag", due=None)
    engine.declarer.readmit(record, rules.declaration)
    made = add(engine, rules, 2 * DAY, "Alert on replica lag", due=None)
    assert [f.id for f in made.followups] == ["F1"]
    changes = engine.take_changes().incidents
    assert [i.id for i in changes.incidents] == ["INC-1000"]  # live again in the store
    [entry] = [e for _, e in changes.entries]
    assert entry.seq == record.timeline_size  # numbered on from the stored timeline
    engine.tick(rules=rules, now=at(3 * DAY))
    assert "INC-1000" in engine.declarer.state.incidents  # an open follow-up holds it
    change(engine, rules, 3 * DAY, "F1", status=FollowUpStatus.CANCELLED)
    engine.tick(rules=rules, now=at(3 * DAY + 1))
    assert engine.take_changes().incidents.forgotten == ("INC-1000",)


def test_unknown_incidents_and_follow_ups_are_refused(rules: RuleSet) -> None:
    engine, _ = drive(rules, db_outage(), until=2)
    with pytest.raises(UnknownIncident):
        engine.command(
            Command("INC-9", "followup", ALICE, edit=FollowUpEdit(frozenset({"title"}), title="x")),
            rules=rules,
            now=at(3),
        )
    with pytest.raises(UnknownFollowUp):
        change(engine, rules, 3, "F1", status=FollowUpStatus.DONE)
