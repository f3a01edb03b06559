"""Which actions the engine's decisions cause (act/plan.py), through the real engine over
config/example and a routing.yaml written here: a checkout database outage declared (P2 at
once, P1 half a minute later), then acknowledged, noted, resolved and reopened by people.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from incidentd.act.outbox import Action
from incidentd.act.plan import plan
from incidentd.act.routing import RoutingFile
from incidentd.act.target import ActionEvent
from incidentd.declare.declarer import Command
from incidentd.declare.incident import IncidentStatus
from incidentd.declare.timeline import person
from incidentd.engine import Engine
from incidentd.rules.loader import RuleSet, load
from tests.scenarios.test_declaration import EXAMPLE, db_outage
from tests.unit.alerts import at

NOW = at(2)


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load(EXAMPLE, env={})


def routed(rules: RuleSet, routing: dict[str, Any]) -> RuleSet:
    return dataclasses.replace(rules, routing=RoutingFile.model_validate(routing))


def run(
    rules: RuleSet, *, oncall: dict[str, list[str]] | None = None, until: float = 2
) -> tuple[Engine, list[Action]]:
    """The outage through the engine, one alert at a time, planning after each batch as the
    consumer does."""
    engine = Engine()
    actions: list[Action] = []
    for one in sorted(db_outage(), key=lambda a: a.received_at):
        engine.process([one], rules=rules)
        actions += _plan(engine, rules, oncall)
    engine.tick(rules=rules, now=at(until))
    actions += _plan(engine, rules, oncall)
    return engine, actions


def _plan(engine: Engine, rules: RuleSet, oncall: dict[str, list[str]] | None) -> list[Action]:
    changes = engine.take_changes()

    def who(team: str, when: datetime) -> Sequence[str]:
        return (oncall or {}).get(team, [])

    return plan(
        changes.incidents.entries,
        engine.state.declare.incidents,
        routing=rules.routing,
        services=rules.services,
        now=NOW,
        oncall=who if oncall is not None else None,
    )


def person_does(engine: Engine, rules: RuleSet, command: Command, minute: float) -> list[Action]:
    engine.command(command, rules=rules, now=at(minute))
    return _plan(engine, rules, None)


def test_no_routes_no_actions(rules: RuleSet) -> None:
    _, actions = run(rules)
    assert actions == []


def test_the_declaration_and_the_escalation_page_with_one_key_each(rules: RuleSet) -> None:
    r = routed(rules, {"routes": [{"name": "all", "targets": ["pd", "slack"]}]})
    _, actions = run(r)
    assert [(a.event, a.target) for a in actions] == [
        (ActionEvent.DECLARED, "pd"),
        (ActionEvent.DECLARED, "slack"),
        (ActionEvent.ESCALATED, "pd"),
        (ActionEvent.ESCALATED, "slack"),
    ]
    assert actions[0].key == "INC-1000:declared:0:pd"
    assert len({a.key for a in actions}) == 4
    assert all(a.due_at == NOW and a.incident_id == "INC-1000" for a in actions)


def test_a_route_for_p1_only_waits_for_the_escalation(rules: RuleSet) -> None:
    r = routed(rules, {"routes": [{"name": "p1", "priorities": ["P1"], "targets": ["pd"]}]})
    _, actions = run(r)
    assert [(a.event, a.target) for a in actions] == [(ActionEvent.ESCALATED, "pd")]


def test_routes_match_on_the_owner_teams_of_the_impacted_services(rules: RuleSet) -> None:
    owner = rules.services.services["orders-db"].owner
    routes = [
        {"name": "db-team", "teams": [owner], "events": ["declared"], "targets": ["dba-pd"]},
        {"name": "nobody", "teams": ["no-such-team"], "targets": ["never"]},
        {"name": "db", "services": ["orders-db"], "events": ["declared"], "targets": ["s"]},
    ]
    _, actions = run(routed(rules, {"routes": routes}))
    assert [a.target for a in actions] == ["dba-pd", "s"]


def test_stop_ends_the_walk_and_targets_come_once(rules: RuleSet) -> None:
    routes = [
        {"name": "a", "events": ["declared"], "targets": ["pd", "slack"]},
        {"name": "b", "events": ["declared"], "targets": ["slack", "teams"], "stop": True},
        {"name": "c", "events": ["declared"], "targets": ["never"]},
    ]
    _, actions = run(routed(rules, {"routes": routes}))
    assert [a.target for a in actions] == ["pd", "slack", "teams"]


def test_people_follow_the_status_and_each_change_is_its_own_action(rules: RuleSet) -> None:
    r = routed(rules, {"routes": [{"name": "all", "targets": ["pd"]}]})
    engine, _ = run(r)
    alice = person("alice")
    acked = person_does(
        engine, r, Command("INC-1000", "status", alice, IncidentStatus.ACKNOWLEDGED), 3
    )
    noted = person_does(engine, r, Command("INC-1000", "note", alice, text="failing over"), 4)
    done = person_does(engine, r, Command("INC-1000", "status", alice, IncidentStatus.RESOLVED), 5)
    again = person_does(engine, r, Command("INC-1000", "reopen", alice, text="back"), 6)
    assert [a.event for a in acked + noted + done + again] == [
        ActionEvent.ACKNOWLEDGED,
        ActionEvent.UPDATED,
        ActionEvent.RESOLVED,
        ActionEvent.REOPENED,
    ]
    assert noted[0].note == "failing over"
    assert len({a.key for a in acked + noted + done + again}) == 4


def test_the_commander_and_the_people_on_call_are_involved(rules: RuleSet) -> None:
    r = routed(rules, {"routes": [{"name": "all", "events": ["declared"], "targets": ["pd"]}]})
    owner = rules.services.services["orders-db"].owner
    _, actions = run(r, oncall={owner: ["dora", "dan"], "web": ["wes"]})
    [declared] = actions
    assert declared.people[:2] == ("dora", "dan"), "the root cause's team first"
    engine, _ = run(r, oncall={owner: ["dora"]})
    cmd = Command("INC-1000", "commander", person("bob"), commander="carol")
    person_does(engine, r, cmd, 3)
    cmd = Command("INC-1000", "status", person("carol"), IncidentStatus.RESOLVED)
    engine.command(cmd, rules=r, now=at(4))
    cmd = Command("INC-1000", "reopen", person("carol"), text="again")
    engine.command(cmd, rules=r, now=at(5))
    changes = engine.take_changes()
    [reopened] = plan(
        changes.incidents.entries,
        engine.state.declare.incidents,
        routing=RoutingFile.model_validate(
            {"routes": [{"name": "all", "events": ["reopened"], "targets": ["pd"]}]}
        ),
        services=r.services,
        now=NOW,
        oncall=lambda team, when: ["dora"] if team == owner else [],
    )
    assert reopened.people[0] == "carol", "the commander first"
    assert "dora" in reopened.people


@pytest.mark.parametrize(
    ("reminders", "due"),
    [({"P1": "30m", "P3": "2h"}, 30), ({"P2": "1h", "P1": "15m"}, 60), ({}, None)],
)
def test_a_declaration_arms_a_reminder(
    rules: RuleSet, reminders: dict[str, str], due: int | None
) -> None:
    """Declared as P2: the P2 interval when there is one, else the shortest (the worker reads
    the priority's interval at each due time: the escalation to P1 is seen then)."""
    r = routed(
        rules,
        {
            "routes": [{"name": "chat", "events": ["reminder"], "targets": ["slack"]}],
            "reminders": reminders,
        },
    )
    _, actions = run(r)
    found = [a for a in actions if a.event is ActionEvent.REMINDER]
    if due is None:
        assert found == []
        return
    [one] = found
    assert one.recurring
    assert one.key == "INC-1000:reminder:0:slack"
    assert one.due_at == at(0) + timedelta(minutes=due)


def test_messages_of_an_event_wait_for_the_bridge_routed_with_them(rules: RuleSet) -> None:
    r = routed(rules, {"routes": [{"name": "all", "targets": ["zoom", "pd", "slack"]}]})
    engine = Engine()
    engine.process(db_outage()[:1], rules=r)
    engine.tick(rules=r, now=at(1))
    changes = engine.take_changes()
    actions = plan(
        changes.incidents.entries,
        engine.state.declare.incidents,
        routing=r.routing,
        services=r.services,
        now=NOW,
        bridges=frozenset({"zoom"}),
    )
    assert {a.target: a.waits_for for a in actions} == {
        "zoom": (),
        "pd": ("zoom",),
        "slack": ("zoom",),
    }
