"""From the engine's timeline entries to outbox actions: which targets act, for whom.

`plan` is pure (no I/O, no clock: `now` is given) and runs on the engine's changes just before
they are committed, so the actions go into the same atomic commit (outbox.py). It reads:
- the timeline entries the batch appended: a declaration, an escalation, a status change (a
  reopen is a status change back to declared), an SLA breach, a person's note (a status
  update), a follow-up past its due date. Other entries (alerts attached, action outcomes,
  ...) cause no action;
- routing.yaml: which targets act for the incident's priority, services, teams,
  capabilities and the event;
- oncall.yaml: who is on call for the teams that own the impacted services (root causes'
  teams first), at the time of the entry, plus the commander.

A declaration (or a reopen) also arms a status-update reminder per target routed for
`reminder`, when routing.yaml sets reminder intervals: due after the interval of the
incident's priority (or the shortest one); it recurs until the incident is resolved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime

from incidentd.act.config import TargetsFile
from incidentd.act.outbox import Action
from incidentd.act.routing import RouteFacts, RoutingFile
from incidentd.act.target import ActionEvent, idempotency_key
from incidentd.declare.incident import Incident
from incidentd.declare.timeline import EntryKind, TimelineEntry
from incidentd.rules.loader import RuleSet
from incidentd.rules.schema import ServicesFile

PEOPLE_LIMIT = 10
"""At most this many people are involved per action (the commander first)."""

OnCall = Callable[[str, datetime], Sequence[str]]
"""Team and time -> the names of the people on call (empty when nobody or no schedule)."""

_STATUS_EVENTS: Mapping[str, ActionEvent] = {
    "acknowledged": ActionEvent.ACKNOWLEDGED,
    "mitigated": ActionEvent.MITIGATED,
    "resolved": ActionEvent.RESOLVED,
    "declared": ActionEvent.REOPENED,
}


def bridge_targets(targets: TargetsFile) -> frozenset[str]:
    """Names of the targets that make the bridge (Zoom, a templated URL)."""
    return frozenset(n for n, c in targets.targets.items() if c.type in ("zoom", "bridge_url"))


def event_of(entry: TimelineEntry) -> ActionEvent | None:
    """The action event a timeline entry causes, if any."""
    kind = entry.kind
    if kind is EntryKind.DECLARED:
        return ActionEvent.DECLARED
    if kind is EntryKind.PRIORITY_CHANGED:
        return ActionEvent.ESCALATED
    if kind is EntryKind.STATUS_CHANGED:
        return _STATUS_EVENTS.get(str(entry.details.get("to")))
    if kind is EntryKind.SLA_BREACHED:
        return ActionEvent.SLA_BREACHED
    if kind is EntryKind.NOTE and entry.actor.is_person:
        return ActionEvent.UPDATED
    if kind is EntryKind.FOLLOWUP_OVERDUE:
        return ActionEvent.FOLLOWUP_OVERDUE
    return None


def _note(entry: TimelineEntry) -> str:
    """What the action carries as its note: what a person wrote, or which follow-up is due."""
    d = entry.details
    if entry.kind is EntryKind.FOLLOWUP_OVERDUE:
        owner = f"owner {d.get('owner')}" if d.get("owner") else "no owner"
        due = d.get("due")
        return f"follow-up {d.get('followup')} overdue ({owner}, due {due}): {d.get('title')}"
    return str(d.get("text") or d.get("note") or "")


def teams_of(incident: Incident, services: ServicesFile) -> tuple[str, ...]:
    """Owner teams of the root causes first, then of the other impacted services."""
    found: dict[str, None] = {}
    for name in (*incident.root_causes, *incident.services):
        service = services.services.get(name)
        if service is not None:
            found[service.owner] = None
    return tuple(found)


def people_for(
    incident: Incident, teams: Sequence[str], at: datetime, oncall: OnCall | None
) -> tuple[str, ...]:
    found: dict[str, None] = {}
    if incident.commander:
        found[incident.commander] = None
    if oncall is not None:
        for team in teams:
            found.update(dict.fromkeys(oncall(team, at)))
    return tuple(found)[:PEOPLE_LIMIT]


def plan(
    entries: Sequence[tuple[str, TimelineEntry]],
    incidents: Mapping[str, Incident],
    *,
    routing: RoutingFile,
    services: ServicesFile,
    now: datetime,
    oncall: OnCall | None = None,
    bridges: AbstractSet[str] = frozenset(),
) -> list[Action]:
    """The actions caused by `entries` (incident id, entry), for the incidents as they are
    after the batch (`incidents`, by id). `bridges`: the names of the bridge targets (their
    link goes into the other targets' messages). Deterministic: the same entries give the same
    actions with the same keys, so a commit replayed adds nothing twice."""
    if not routing.routes:
        return []
    out: list[Action] = []
    for incident_id, entry in entries:
        event = event_of(entry)
        incident = incidents.get(incident_id)
        if event is None or incident is None:
            continue
        teams = teams_of(incident, services)
        facts = RouteFacts(
            event=event,
            priority=incident.priority,
            services=incident.services,
            teams=teams,
            capabilities=incident.capabilities,
        )
        people = people_for(incident, teams, entry.at, oncall)
        note = _note(entry)
        targets = routing.targets_for(facts)
        waits_for = tuple(t for t in targets if t in bridges)
        for target in targets:
            out.append(
                Action(
                    key=idempotency_key(incident_id, event, target, entry.seq),
                    incident_id=incident_id,
                    target=target,
                    event=event,
                    seq=entry.seq,
                    created_at=now,
                    due_at=now,
                    people=people,
                    note=note,
                    waits_for=() if target in bridges else waits_for,
                )
            )
        if event in (ActionEvent.DECLARED, ActionEvent.REOPENED):
            out.extend(_reminders(incident, entry, facts, routing, people, now))
    return out


def plan_batch(
    entries: Sequence[tuple[str, TimelineEntry]],
    incidents: Mapping[str, Incident],
    rules: RuleSet,
    *,
    now: datetime,
) -> list[Action]:
    """`plan` with everything taken from one configuration: routing.yaml, the service map,
    oncall.yaml (when it has schedules) and the bridge targets of targets.yaml. What the
    consumer runs before each commit."""
    schedules = rules.oncall
    return plan(
        entries,
        incidents,
        routing=rules.routing,
        services=rules.services,
        now=now,
        oncall=schedules.names_on_call if schedules.teams else None,
        bridges=bridge_targets(rules.targets),
    )


def _reminders(
    incident: Incident,
    entry: TimelineEntry,
    facts: RouteFacts,
    routing: RoutingFile,
    people: tuple[str, ...],
    now: datetime,
) -> list[Action]:
    if not routing.reminders:
        return []
    # The priority may change (an escalation): at each due time the worker reads the
    # interval of the priority then, and re-arms without sending when it has none.
    every = routing.reminders.get(incident.priority) or min(routing.reminders.values())
    asked = RouteFacts(
        event=ActionEvent.REMINDER,
        priority=facts.priority,
        services=facts.services,
        teams=facts.teams,
        capabilities=facts.capabilities,
    )
    return [
        Action(
            key=idempotency_key(incident.id, ActionEvent.REMINDER, target, entry.seq),
            incident_id=incident.id,
            target=target,
            event=ActionEvent.REMINDER,
            seq=entry.seq,
            created_at=now,
            due_at=entry.at + every,
            people=people,
            recurring=True,
        )
        for target in routing.targets_for(asked)
    ]
