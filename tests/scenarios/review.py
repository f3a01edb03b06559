"""A reviewed outage, built by the real engine on virtual time over config/example: what the
post-incident tests (and docs/postmortem.md) draft from.

T0 is Monday 2026-03-02 09:00 UTC. orders-db goes down at T0, checkout (two pods) and the
gateway fail above it within a minute: INC-1000 is declared P2 at once and escalated to P1 at
00:30. alice takes command at 3 min, nobody acknowledges within the P1 target of 5 min (a
breach at 5 min), alice acknowledges at 7 and posts a note at 12. The alerts clear at 20-23,
alice mitigates at 25 and resolves at 50. At 55 she adds two follow-ups: F1 (bob, due the next
day 09:00) and F2 (carol, due a week later), which carol marks done the next day at 08:00.
F1 passes its due date open: the engine records it overdue at T0 + 1 day. The outbox planned
actions for two targets on every event (routing below); their outcomes are on the timeline.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from incidentd.act.outbox import Action, ActionState
from incidentd.act.plan import plan_batch
from incidentd.act.routing import RoutingFile
from incidentd.declare.declarer import Command
from incidentd.declare.followup import FollowUpEdit, FollowUpStatus
from incidentd.declare.incident import Incident, IncidentStatus
from incidentd.declare.timeline import ENGINE, TimelineEntry, person
from incidentd.engine import Engine
from incidentd.model import Alert
from incidentd.rules.loader import RuleSet
from tests.scenarios.test_declaration import db_outage, resolved
from tests.unit.alerts import at

ROUTING = {
    "routes": [
        {"name": "page", "events": ["declared", "escalated"], "targets": ["pagerduty-orders"]},
        {"name": "chat", "targets": ["slack-incidents"]},
    ]
}
DAY = 24 * 60
NOW = at(3 * DAY)
"""When the draft is written: three days after the outage."""


@dataclass(frozen=True, slots=True)
class Reviewed:
    incident: Incident
    timeline: list[TimelineEntry]
    actions: list[Action]
    alerts: list[Alert]
    """As received: the outage, then its resolutions."""
    rules: RuleSet


class _Run:
    def __init__(self, rules: RuleSet) -> None:
        self.rules = dataclasses.replace(rules, routing=RoutingFile.model_validate(ROUTING))
        self.engine = Engine()
        self.timeline: list[TimelineEntry] = []
        self.actions: list[Action] = []

    def commit(self, now: datetime) -> None:
        """What the consumer does after each round: take the changes, plan the actions; and
        what the outbox workers do a second later: send each, record its outcome."""
        changes = self.engine.take_changes()
        self.timeline += [e for _, e in changes.incidents.entries]
        planned = plan_batch(
            changes.incidents.entries,
            self.engine.state.declare.incidents,
            self.rules,
            now=now,
        )
        self.actions += planned
        for a in planned:
            outcome = Command(
                a.incident_id, "record", ENGINE, text="ok", target=a.target,
                event=a.event.value, outcome="sent",
            )  # fmt: skip
            self.engine.command(outcome, rules=self.rules, now=now + timedelta(seconds=1))
        self.timeline += [e for _, e in self.engine.take_changes().incidents.entries]

    def alerts(self, alerts: list[Alert]) -> None:
        """One webhook at a time, each followed by a round a second later (as the consumer
        ticks every second): the assessments it caused are done before the next one."""
        for one in sorted(alerts, key=lambda a: a.received_at):
            self.engine.process([one], rules=self.rules)
            later = one.received_at + timedelta(seconds=1)
            self.engine.tick(rules=self.rules, now=later)
            self.commit(later)

    def tick(self, minute: float) -> None:
        self.engine.tick(rules=self.rules, now=at(minute))
        self.commit(at(minute))

    def command(self, minute: float, command: Command) -> None:
        # the consumer's round: the timers due run first (it ticks every second), then the
        # people's commands, then one commit
        self.engine.tick(rules=self.rules, now=at(minute))
        self.engine.command(command, rules=self.rules, now=at(minute))
        self.commit(at(minute))


def _settle(actions: list[Action]) -> list[Action]:
    """Every planned action sent once, a second after it was planned (as the outbox records)."""
    return [
        dataclasses.replace(
            a,
            state=ActionState.SENT,
            attempts=1,
            sends=1,
            last_at=a.created_at + timedelta(seconds=1),
            last_outcome="sent",
            last_reason=f"{a.event.value} delivered",
        )
        for a in actions
    ]


def reviewed(rules: RuleSet) -> Reviewed:
    run = _Run(rules)
    alice, carol = person("alice"), person("carol")
    outage = db_outage()
    run.alerts(outage)
    run.command(3, Command("INC-1000", "commander", alice, commander="alice"))
    run.command(7, Command("INC-1000", "status", alice, status=IncidentStatus.ACKNOWLEDGED))
    run.command(12, Command("INC-1000", "note", alice, text="failing over orders-db | replica"))
    clears = [resolved(a, 20 + i) for i, a in enumerate(outage)]
    run.alerts(clears)
    run.command(25, Command("INC-1000", "status", alice, IncidentStatus.MITIGATED, "failover"))
    run.command(50, Command("INC-1000", "status", alice, IncidentStatus.RESOLVED, "rebuilt"))
    for title, owner, due in (
        ("Alert on replica lag", "bob", at(DAY)),
        ("Runbook for orders-db failover", "carol", at(8 * DAY)),
    ):
        edit = FollowUpEdit(frozenset({"title", "owner", "due"}), title=title, owner=owner, due=due)
        run.command(55, Command("INC-1000", "followup", alice, edit=edit))
    done = FollowUpEdit(frozenset({"status"}), status=FollowUpStatus.DONE)
    run.command(DAY - 60, Command("INC-1000", "followup_update", carol, followup="F2", edit=done))
    run.tick(DAY + 1)
    incident = run.engine.declarer.state.incidents["INC-1000"]
    return Reviewed(incident, run.timeline, _settle(run.actions), outage + clears, run.rules)


def main() -> None:
    """`python -m tests.scenarios.review`: the example of docs/postmortem.md, its draft on
    stdout and its chart in docs/img/postmortem-example.png."""
    import sys
    from pathlib import Path

    from incidentd.insight.chart import chart_png
    from incidentd.insight.postmortem import draft
    from incidentd.rules.loader import load
    from tests.scenarios.test_declaration import EXAMPLE

    case = reviewed(load(EXAMPLE, env={}))
    image = Path(__file__).resolve().parents[2] / "docs" / "img" / "postmortem-example.png"
    image.parent.mkdir(exist_ok=True)
    image.write_bytes(chart_png(case.incident, case.timeline, now=NOW))
    link = "img/postmortem-example.png"
    spec = case.rules.declaration
    text = draft(case.incident, case.timeline, actions=case.actions, spec=spec, now=NOW, chart=link)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
