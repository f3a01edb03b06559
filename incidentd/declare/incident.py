"""The incident record and the pure transitions between its states.

An `Incident` is a frozen value. Every change is a function that returns a `Transition`: the
new record and the timeline entries (timeline.py) the change appends, numbered on from
`timeline_size`, so that the store can append them idempotently (a replayed transition
carries the same numbers) and in order. The timeline lives beside the record, append-only, so
that attaching one more alert never rewrites the entries before it.

Status: declared -> acknowledged -> mitigated -> resolved, skipping allowed; a mitigated
incident may go back to acknowledged (the fix did not hold); nothing leaves resolved except
`reopen`. A status a person decides (mitigated, resolved, a reopen) belongs to people from
then on: automation (the `ENGINE` actor) never changes it again, auto-resolve included.
Acknowledging does not take that ownership: it says someone is on it, not how it ends.

`to_dict` / `from_dict` are the lossless storage form (JSON-native values); `view` is what the
API shows. Nothing here reads the clock or does I/O: time is `now=`, and incident numbers
come from the store's counter.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter

from incidentd.declare.followup import (
    FOLLOWUPS_LIMIT,
    FollowUp,
    FollowUpEdit,
    FollowUpStatus,
    UnknownFollowUp,
)
from incidentd.declare.idseq import IdSeq
from incidentd.declare.scoring import Factor, GroupFacts, Score, Signal
from incidentd.declare.timeline import (
    ENGINE,
    Actor,
    Details,
    EntryKind,
    Event,
    TimelineEntry,
    entry_to_dict,
)
from incidentd.errors import InputError, InvalidTransition, WrongShape
from incidentd.model import OptionalUtcDatetime, Priority, UtcDatetime
from incidentd.rules.schema import AutoResolveSpec, ImpactLevel, StormSpec, UrgencyLevel


class IncidentStatus(StrEnum):
    DECLARED = "declared"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"


_NEXT: Mapping[IncidentStatus, frozenset[IncidentStatus]] = {
    IncidentStatus.DECLARED: frozenset(
        {IncidentStatus.ACKNOWLEDGED, IncidentStatus.MITIGATED, IncidentStatus.RESOLVED}
    ),
    IncidentStatus.ACKNOWLEDGED: frozenset({IncidentStatus.MITIGATED, IncidentStatus.RESOLVED}),
    IncidentStatus.MITIGATED: frozenset({IncidentStatus.ACKNOWLEDGED, IncidentStatus.RESOLVED}),
    IncidentStatus.RESOLVED: frozenset(),
}
_ORDER = {status: i for i, status in enumerate(IncidentStatus)}


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    number: int
    title: str
    status: IncidentStatus
    priority: Priority
    """Declared or escalated to; automation never lowers it."""
    assessed: Priority
    """The latest score's priority: below `priority` when the incident calmed."""
    score: Score
    services: tuple[str, ...]
    """Impacted services (the blast radius), sorted."""
    capabilities: tuple[str, ...]
    """Most at stake first as scored at declaration, then those of groups joined later."""
    root_causes: tuple[str, ...]
    groups: IdSeq
    """The ids of its groups, in the order they were tied to it. An IdSeq, as `alerts`: a
    storm incident holds over a thousand, asked whether it holds one at each assessment."""
    group_keys: tuple[str, ...]
    """Sorted, each once (`has_group_key` searches them)."""
    alerts: IdSeq
    """Every alert fingerprint ever attached, in the order attached. An IdSeq, not a
    tuple: a storm incident holds thousands, and a new version must not copy them."""
    firing: IdSeq
    """The attached alerts firing now, in the order (re)attached."""
    rules_version: str
    """The rules the incident was declared under."""
    declared_at: UtcDatetime
    reasons: tuple[str, ...] = ()
    """Why it was declared (the policy's reasons)."""
    acknowledged_at: OptionalUtcDatetime = None
    mitigated_at: OptionalUtcDatetime = None
    resolved_at: OptionalUtcDatetime = None
    reopened_at: OptionalUtcDatetime = None
    quiet_since: OptionalUtcDatetime = None
    """When its last firing alert resolved (auto-resolve counts from here)."""
    commander: str | None = None
    status_owner: str | None = None
    """The person whose status decision automation must not override."""
    storm: bool = False
    timeline_size: int = 0
    started_at: OptionalUtcDatetime = None
    """When the failure began: the first alert of the group that was declared."""
    breached: tuple[str, ...] = ()
    """SLA clocks (declare, acknowledge, resolve) this incident has breached."""
    followups: tuple[FollowUp, ...] = ()
    """Preventive actions attached by people (declare/followup.py), in the order added."""
    peak_score: Score | None = None
    """The score with the most impact points while the incident was open: what was at stake
    at its worst (`score` is the latest one, which falls to nothing as the alerts clear).
    None on records written before it was kept: read `peak`."""

    def __post_init__(self) -> None:
        # a record built with tuples (tests, hand-made records) gets its ids as IdSeq
        for name in ("groups", "alerts", "firing"):
            ids = getattr(self, name)
            if type(ids) is not IdSeq:
                object.__setattr__(self, name, IdSeq.of(ids))

    def impacts(self, service: str) -> bool:
        """`service` is among `services` (a binary search: they are sorted)."""
        return _holds(self.services, service)

    def has_group_key(self, key: str) -> bool:
        return _holds(self.group_keys, key)

    @property
    def peak(self) -> Score:
        return self.peak_score or self.score

    @property
    def open(self) -> bool:
        return self.status is not IncidentStatus.RESOLVED


def _peak(incident: Incident, score: Score) -> Score:
    """The higher of the incident's peak and `score`, by impact points (then the value)."""
    peak = incident.peak
    if (score.impact_points, score.value) > (peak.impact_points, peak.value):
        return score
    return peak


@dataclass(frozen=True, slots=True)
class Transition:
    incident: Incident
    entries: tuple[TimelineEntry, ...] = ()


def _log(incident: Incident, now: datetime, events: Sequence[Event], **changes: Any) -> Transition:
    start = incident.timeline_size
    entries = tuple(
        TimelineEntry(start + i, now, kind, actor, details)
        for i, (kind, actor, details) in enumerate(events)
    )
    return Transition(replace(incident, timeline_size=start + len(entries), **changes), entries)


def _then(first: Transition, second: Transition) -> Transition:
    return Transition(second.incident, first.entries + second.entries)


def _holds(names: tuple[str, ...], name: str) -> bool:
    """`name` is in `names`, which are sorted."""
    at = bisect_left(names, name)
    return at < len(names) and names[at] == name


def _union(base: tuple[str, ...], extra: Iterable[str]) -> tuple[str, ...]:
    """`base` and `extra`, sorted, each once; `base` itself when `extra` adds nothing to it.
    `base` is sorted and holds each name once (every path builds it so: `Declarer.verify`
    checks). The cost is `extra`'s, searched in `base`, and one copy of `base` when it grows:
    a storm incident's 1,300 group keys or 800 services were sorted again at each join or
    assessment of one of its groups, which brings one new name at most."""
    new = {name for name in extra if not _holds(base, name)}
    if not new:
        return base
    out = list(base)
    for name in new:
        insort(out, name)
    return tuple(out)


# --- titles ------------------------------------------------------------------------------------


def incident_id(number: int) -> str:
    """`INC-1042`. Ids sort as text among numbers of one width: start the store's counter at
    1000 (or sort by `number`)."""
    return f"INC-{number}"


def _listed(names: Sequence[str], limit: int = 2) -> str:
    if len(names) <= limit:
        return " and ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit} more"


def title_for(facts: GroupFacts, score: Score) -> str:
    """`Checkout and browse degraded: orders-db failing`: the capabilities touched, most at
    stake first (as the score orders them), and the root-cause candidates."""
    capabilities = [c.replace("-", " ") for c in score.capabilities]
    if capabilities or score.services:
        subject = f"{_listed(capabilities or list(score.services))} degraded"
    else:
        subject = "Alerts outside the service map"
    causes = list(facts.root_causes) or sorted(facts.driving_services)
    if causes:
        cause = f"{_listed(causes)} failing"
    else:
        cause = f"{_listed(sorted({s.name for s in facts.signals}) or ['nothing'])} firing"
    return f"{subject[0].upper()}{subject[1:]}: {cause}"


# --- declaring, joining, alerts ------------------------------------------------------------------


def _new(
    facts: GroupFacts,
    score: Score,
    *,
    number: int,
    title: str,
    priority: Priority,
    storm: bool,
    reasons: Sequence[str],
    rules_version: str,
    now: datetime,
) -> Transition:
    incident = Incident(
        id=incident_id(number),
        number=number,
        title=title,
        status=IncidentStatus.DECLARED,
        priority=priority,
        assessed=score.priority,
        score=score,
        services=score.services,
        capabilities=score.capabilities,
        root_causes=facts.root_causes,
        groups=IdSeq((facts.group_id,)),
        group_keys=(facts.group_key,),
        alerts=IdSeq(),
        firing=IdSeq(),
        rules_version=rules_version,
        declared_at=now,
        reasons=tuple(reasons),
        storm=storm,
        started_at=facts.opened_at,
        peak_score=score,
    )
    declared: Details = {
        "title": title,
        "priority": priority.value,
        "score": score.value,
        "summary": score.summary(),
        "group": facts.group_id,
        "reasons": tuple(reasons),
        "rules_version": rules_version,
    }
    created = _log(incident, now, [(EntryKind.DECLARED, ENGINE, declared)])
    return _then(created, attach_alerts(created.incident, facts.signals, now=now))


def declare(
    facts: GroupFacts,
    score: Score,
    *,
    number: int,
    reasons: Sequence[str],
    rules_version: str,
    now: datetime,
) -> Transition:
    """A new incident for one group, its driving alerts attached. `number` comes from the
    store's counter (one per declaration, however many replicas race)."""
    return _new(
        facts,
        score,
        number=number,
        title=title_for(facts, score),
        priority=score.priority,
        storm=False,
        reasons=reasons,
        rules_version=rules_version,
        now=now,
    )


def declare_storm(
    facts: GroupFacts,
    score: Score,
    *,
    number: int,
    alert_rate: float,
    storm: StormSpec,
    reasons: Sequence[str],
    rules_version: str,
    now: datetime,
) -> Transition:
    """The one alert-storm incident, opened by the first group absorbed; later groups `join`
    it. Its priority is the storm's configured one, or the group's when higher."""
    priority = score.priority if score.priority.above(storm.priority) else storm.priority
    return _new(
        facts,
        score,
        number=number,
        title=f"Alert storm: {alert_rate:.0f} alerts a minute",
        priority=priority,
        storm=True,
        reasons=reasons,
        rules_version=rules_version,
        now=now,
    )


def join(
    incident: Incident,
    facts: GroupFacts,
    score: Score,
    *,
    reasons: Sequence[str],
    now: datetime,
    root_causes: Callable[[Sequence[str]], Sequence[str]] | None = None,
) -> Transition:
    """Tie a group to the incident (a join, or an absorption into the storm incident): its
    root causes, impact and driving alerts are added; a group more urgent than the incident
    escalates it. `root_causes` (the impact map's) keeps only the most downstream failing
    services of the union: a group whose root cause fails because of the incident's is a
    consequence, not a second cause."""
    if facts.group_id in incident.groups:
        return attach_alerts(incident, facts.signals, now=now)
    joined: Details = {
        "group": facts.group_id,
        "root_causes": facts.root_causes,
        "priority": score.priority.value,
        "summary": score.summary(),
        "reasons": tuple(reasons),
    }
    step = _log(
        widen(incident, facts, score, root_causes=root_causes),
        now,
        [(EntryKind.GROUP_JOINED, ENGINE, joined)],
        groups=incident.groups.plus((facts.group_id,)),
        group_keys=_union(incident.group_keys, [facts.group_key]),
        peak_score=_peak(incident, score),
    )
    step = _then(step, attach_alerts(step.incident, facts.signals, now=now))
    if score.priority.above(step.incident.priority):
        why = [f"group {facts.group_id} joined at {score.priority}"]
        step = _then(step, escalate(step.incident, score, reasons=why, now=now))
    return step


def widen(
    incident: Incident,
    facts: GroupFacts,
    score: Score,
    *,
    root_causes: Callable[[Sequence[str]], Sequence[str]] | None = None,
) -> Incident:
    """A group of the incident reaches further than when it joined (a broker failing in the
    same topology group as the database): the incident's services, capabilities and root
    causes follow, like a join (see `join`): services and capabilities never narrower, root
    causes the most downstream of all; without a timeline entry (the alerts attached say
    what happened). The incident itself when nothing changed."""
    services = _union(incident.services, score.services)
    capabilities = tuple(dict.fromkeys((*incident.capabilities, *score.capabilities)))
    causes = _causes(incident.root_causes, facts.root_causes, root_causes)
    if (services, capabilities, causes) == (
        incident.services,
        incident.capabilities,
        incident.root_causes,
    ):
        return incident
    return replace(incident, services=services, capabilities=capabilities, root_causes=causes)


def _causes(
    ours: Sequence[str],
    theirs: Sequence[str],
    roots: Callable[[Sequence[str]], Sequence[str]] | None,
) -> tuple[str, ...]:
    both = tuple(dict.fromkeys((*ours, *theirs)))
    if roots is None:
        return both
    return tuple(roots(both)) or both  # the map's order (services it no longer knows stay)


def attach_alerts(
    incident: Incident,
    signals: Iterable[Signal],
    *,
    now: datetime,
) -> Transition:
    """Attach firing alerts (new ones, or attached ones firing again); one entry each.
    Attaching an alert that is already firing changes nothing. Lists keep the order in which
    alerts were attached (no sorting: a storm incident attaches thousands); the cost is the
    signals', whatever the incident holds (IdSeq)."""
    was_known, was_firing = incident.alerts, incident.firing
    firing: set[str] = set()
    events: list[Event] = []
    added: list[str] = []
    again: list[str] = []
    for signal in signals:
        fp = signal.fingerprint
        if fp in was_firing or fp in firing:
            continue
        seen = fp in was_known  # one attached in this call fires: skipped above
        details: Details = {
            "fingerprint": fp,
            "name": signal.name,
            "service": signal.service,
            "severity": signal.severity.value,
            "again": seen,
        }
        events.append((EntryKind.ALERT_ATTACHED, ENGINE, details))
        if not seen:
            added.append(fp)
        firing.add(fp)
        again.append(fp)
    if not events:
        return Transition(incident)
    return _log(
        incident,
        now,
        events,
        alerts=was_known.plus(added),
        firing=was_firing.plus(again),
        quiet_since=None,
    )


def resolve_alerts(
    incident: Incident,
    fingerprints: Iterable[str],
    *,
    now: datetime,
) -> Transition:
    """Attached alerts that resolved; when the last one does, the quiet period starts."""
    was_firing = incident.firing
    gone = [f for f in dict.fromkeys(fingerprints) if f in was_firing]
    if not gone:
        return Transition(incident)
    still = len(was_firing) - len(gone)
    events: list[Event] = [
        (EntryKind.ALERT_RESOLVED, ENGINE, {"fingerprint": f, "still_firing": still}) for f in gone
    ]
    quiet = incident.quiet_since if still else now
    return _log(incident, now, events, firing=was_firing.minus(gone), quiet_since=quiet)


# --- priority ----------------------------------------------------------------------------------


def escalate(
    incident: Incident, score: Score, *, reasons: Sequence[str], now: datetime
) -> Transition:
    """Raise the priority to the score's; raises InvalidTransition if that is no higher."""
    if not score.priority.above(incident.priority):
        raise InvalidTransition(
            f"{incident.id} is {incident.priority}: {score.priority} is not an escalation"
        )
    details: Details = {
        "from": incident.priority.value,
        "to": score.priority.value,
        "summary": score.summary(),
        "reasons": tuple(reasons),
    }
    event = (EntryKind.PRIORITY_CHANGED, ENGINE, details)
    return _log(
        incident,
        now,
        [event],
        priority=score.priority,
        assessed=score.priority,
        score=score,
        peak_score=_peak(incident, score),
    )


def note_downgrade(
    incident: Incident, score: Score, *, reasons: Sequence[str], now: datetime
) -> Transition:
    """Record that the group calmed (assessed below the incident's priority); the priority
    stays: a person lowers it, never automation."""
    details: Details = {
        "priority": incident.priority.value,
        "assessed": score.priority.value,
        "summary": score.summary(),
        "reasons": tuple(reasons),
    }
    event = (EntryKind.SCORE_CHANGED, ENGINE, details)
    return _log(incident, now, [event], assessed=score.priority, score=score)


def update_score(incident: Incident, score: Score) -> Incident:
    """Keep the latest score without a timeline entry (scores move with every alert; only
    priority changes are worth a line), and the peak."""
    return replace(incident, score=score, peak_score=_peak(incident, score))


# --- status ------------------------------------------------------------------------------------


def _check_actor(incident: Incident, actor: Actor) -> None:
    if not actor.is_person and incident.status_owner is not None:
        raise InvalidTransition(
            f"{incident.id}: {incident.status_owner} decided its status; automation does not "
            "override a person"
        )


def set_status(
    incident: Incident, status: IncidentStatus, *, actor: Actor, now: datetime, note: str = ""
) -> Transition:
    """Move to `status`; the same status again changes nothing. Raises InvalidTransition for
    a move the rules forbid (see the module docstring)."""
    if status is incident.status:
        return Transition(incident)
    _check_actor(incident, actor)
    if status not in _NEXT[incident.status]:
        hint = ": reopen it first" if incident.status is IncidentStatus.RESOLVED else ""
        raise InvalidTransition(f"{incident.id} is {incident.status}, not {status}{hint}")
    changes: dict[str, Any] = {"status": status}
    if status is IncidentStatus.ACKNOWLEDGED:
        changes["acknowledged_at"] = incident.acknowledged_at or now
        changes["mitigated_at"] = None  # back from mitigated: the fix did not hold
    else:
        changes[f"{status.value}_at"] = now
        if actor.is_person:
            changes["status_owner"] = actor.name
    details: Details = {"from": incident.status.value, "to": status.value, "note": note}
    return _log(incident, now, [(EntryKind.STATUS_CHANGED, actor, details)], **changes)


def reopen(incident: Incident, *, actor: Actor, now: datetime, reason: str) -> Transition:
    """A resolved incident, declared again (acknowledgement and resolution cleared; the
    timeline keeps them)."""
    if incident.status is not IncidentStatus.RESOLVED:
        raise InvalidTransition(f"{incident.id} is {incident.status}: only a resolved one reopens")
    _check_actor(incident, actor)
    details: Details = {"from": incident.status.value, "to": "declared", "note": reason}
    return _log(
        incident,
        now,
        [(EntryKind.STATUS_CHANGED, actor, details)],
        status=IncidentStatus.DECLARED,
        acknowledged_at=None,
        mitigated_at=None,
        resolved_at=None,
        reopened_at=now,
        status_owner=actor.name if actor.is_person else incident.status_owner,
    )


def auto_resolve_due(incident: Incident, policy: AutoResolveSpec) -> datetime | None:
    """When auto-resolve moves the incident on if nothing fires again; None when it never
    will (disabled, alerts firing, a person owns the status, already there)."""
    target = IncidentStatus(policy.status)
    if (
        not policy.enabled
        or incident.firing
        or incident.quiet_since is None
        or incident.status_owner is not None
        or _ORDER[incident.status] >= _ORDER[target]
    ):
        return None
    return incident.quiet_since + policy.quiet_period


def auto_resolve(
    incident: Incident, *, policy: AutoResolveSpec, now: datetime
) -> Transition | None:
    """Every attached alert resolved and the quiet period passed: move to the configured
    status, as the engine. None when not due."""
    due = auto_resolve_due(incident, policy)
    if due is None or now < due:
        return None
    quiet = policy.quiet_period.total_seconds() / 60
    note = f"every alert resolved and {quiet:g} minutes passed quietly"
    return set_status(incident, IncidentStatus(policy.status), actor=ENGINE, now=now, note=note)


# --- by hand: declare, merge ------------------------------------------------------------------

_LEVELS = {
    Priority.P1: (ImpactLevel.EXTENSIVE, UrgencyLevel.CRITICAL),
    Priority.P2: (ImpactLevel.SIGNIFICANT, UrgencyLevel.HIGH),
    Priority.P3: (ImpactLevel.MODERATE, UrgencyLevel.MEDIUM),
    Priority.P4: (ImpactLevel.MINOR, UrgencyLevel.LOW),
    Priority.P5: (ImpactLevel.MINOR, UrgencyLevel.LOW),
}


def declare_by_hand(
    *,
    number: int,
    title: str,
    priority: Priority,
    services: Sequence[str],
    capabilities: Sequence[str],
    actor: Actor,
    note: str,
    rules_version: str,
    now: datetime,
) -> Transition:
    """A person declares an incident that no alert (yet) shows: no group, no alerts; its
    services are its root-cause candidates, so that the groups of their failure join it."""
    impact, urgency = _LEVELS[priority]
    why = f"declared by {actor.name}" + (f": {note}" if note else "")
    score = Score(
        value=0,
        priority=priority,
        impact=impact,
        urgency=urgency,
        impact_points=0.0,
        urgency_points=0.0,
        factors=(Factor("manual", actor.name, 0.0, why),),
        services=tuple(sorted(services)),
        capabilities=tuple(capabilities),
    )
    incident = Incident(
        id=incident_id(number),
        number=number,
        title=title,
        status=IncidentStatus.DECLARED,
        priority=priority,
        assessed=priority,
        score=score,
        services=tuple(sorted(services)),
        capabilities=tuple(capabilities),
        root_causes=tuple(services),
        groups=IdSeq(),
        group_keys=(),
        alerts=IdSeq(),
        firing=IdSeq(),
        rules_version=rules_version,
        declared_at=now,
        reasons=(why,),
        started_at=now,
        peak_score=score,
    )
    details: Details = {
        "title": title,
        "priority": priority.value,
        "reasons": (why,),
        "rules_version": rules_version,
        "services": tuple(services),
    }
    return _log(incident, now, [(EntryKind.DECLARED, actor, details)])


def merge(
    target: Incident, source: Incident, *, actor: Actor, now: datetime, note: str = ""
) -> tuple[Transition, Transition]:
    """`source` merged into `target` by a person: the target takes its groups, alerts, root
    causes, impact and the higher priority; the source is resolved, pointing at the target.
    Raises InvalidTransition when either is resolved or they are the same."""
    if source.id == target.id:
        raise InvalidTransition(f"{source.id} cannot be merged into itself")
    for one in (source, target):
        if not one.open:
            raise InvalidTransition(f"{one.id} is resolved: reopen it before merging")
    firing = target.firing.plus(source.firing)
    into: Details = {"from": source.id, "title": source.title, "note": note}
    changes: dict[str, Any] = {
        "groups": target.groups.plus(source.groups),
        "group_keys": _union(target.group_keys, source.group_keys),
        "root_causes": tuple(dict.fromkeys((*target.root_causes, *source.root_causes))),
        "services": _union(target.services, source.services),
        "capabilities": tuple(dict.fromkeys((*target.capabilities, *source.capabilities))),
        "alerts": target.alerts.plus(source.alerts),
        "firing": firing,
        "quiet_since": None if firing else target.quiet_since,
    }
    if source.priority.above(target.priority):
        changes["priority"] = source.priority
    changes["peak_score"] = _peak(target, source.peak)
    grown = _log(target, now, [(EntryKind.MERGED, actor, into)], **changes)
    away: Details = {"into": target.id, "note": note}
    closed = _log(source, now, [(EntryKind.MERGED, actor, away)])
    gone = set_status(
        closed.incident,
        IncidentStatus.RESOLVED,
        actor=actor,
        now=now,
        note=f"merged into {target.id}",
    )
    return grown, _then(closed, gone)


# --- SLA ---------------------------------------------------------------------------------------


def breach(
    incident: Incident, clock: str, *, target: timedelta, due: datetime, now: datetime
) -> Transition:
    """An SLA clock ran out: recorded once per clock, on the timeline and the record."""
    if clock in incident.breached:
        return Transition(incident)
    details: Details = {
        "clock": clock,
        "priority": incident.priority.value,
        "target_seconds": target.total_seconds(),
        "due": due.isoformat(),
    }
    return _log(
        incident,
        now,
        [(EntryKind.SLA_BREACHED, ENGINE, details)],
        breached=(*incident.breached, clock),
    )


# --- people ------------------------------------------------------------------------------------


def set_commander(
    incident: Incident, commander: str | None, *, actor: Actor, now: datetime
) -> Transition:
    if commander == incident.commander:
        return Transition(incident)
    details: Details = {"from": incident.commander, "to": commander}
    event = (EntryKind.COMMANDER_SET, actor, details)
    return _log(incident, now, [event], commander=commander)


def add_note(incident: Incident, text: str, *, actor: Actor, now: datetime) -> Transition:
    if not text.strip():
        raise InputError("a note cannot be empty")
    return _log(incident, now, [(EntryKind.NOTE, actor, {"text": text})])


def record_action(
    incident: Incident,
    *,
    action: str,
    target: str,
    now: datetime,
    outcome: str | None = None,
    detail: str = "",
    actor: Actor = ENGINE,
) -> Transition:
    """An action requested (`outcome` None) or its outcome (ok, retry, fail, ...)."""
    kind = EntryKind.ACTION_REQUESTED if outcome is None else EntryKind.ACTION_OUTCOME
    details: Details = {"action": action, "target": target, "outcome": outcome, "detail": detail}
    return _log(incident, now, [(kind, actor, details)])


# --- follow-ups --------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def add_followup(
    incident: Incident, edit: FollowUpEdit, *, actor: Actor, now: datetime, note: str = ""
) -> Transition:
    """A preventive action attached to the incident (any status), open, numbered `F<n>`.
    Raises WrongShape for an empty title, InvalidTransition past FOLLOWUPS_LIMIT."""
    title = edit.title.strip()
    if not title:
        raise WrongShape("$.title", "a follow-up needs a title")
    if len(incident.followups) >= FOLLOWUPS_LIMIT:
        raise InvalidTransition(
            f"{incident.id} holds {FOLLOWUPS_LIMIT} follow-ups, the most an incident may"
        )
    added = FollowUp(
        id=f"F{len(incident.followups) + 1}",
        title=title,
        owner=edit.owner,
        due=edit.due,
        status=FollowUpStatus.OPEN,
        created_at=now,
        created_by=actor.name,
        updated_at=now,
    )
    details: Details = {
        "followup": added.id,
        "title": title,
        "owner": edit.owner,
        "due": _iso(edit.due),
        "note": note,
    }
    event = (EntryKind.FOLLOWUP_ADDED, actor, details)
    return _log(incident, now, [event], followups=(*incident.followups, added))


def _edited(found: FollowUp, edit: FollowUpEdit, *, now: datetime) -> tuple[FollowUp, list[str]]:
    """The follow-up after the edit, and one `field: before -> after` line per change."""
    given = edit.fields
    status = edit.status if "status" in given else found.status
    title = edit.title.strip() if "title" in given else found.title
    owner = edit.owner if "owner" in given else found.owner
    due = edit.due if "due" in given else found.due
    if not title:
        raise WrongShape("$.title", "a follow-up needs a title")
    pairs = (
        ("status", found.status.value, status.value),
        ("title", found.title, title),
        ("owner", found.owner, owner),
        ("due", _iso(found.due), _iso(due)),
    )
    changed = [f"{name}: {old} -> {new}" for name, old, new in pairs if old != new]
    closed = found.closed_at
    if status is not found.status:
        closed = None if status is FollowUpStatus.OPEN else now
    edited = replace(
        found,
        status=status,
        title=title,
        owner=owner,
        due=due,
        closed_at=closed,
        updated_at=now,
        # a new due date is watched again; the old one's report stays on the timeline
        overdue_at=found.overdue_at if due == found.due else None,
    )
    return edited, changed


def change_followup(
    incident: Incident,
    followup_id: str,
    *,
    edit: FollowUpEdit,
    actor: Actor,
    now: datetime,
    note: str = "",
) -> Transition:
    """A person changes a follow-up's status (open, done, cancelled: any move), owner, due
    date or title; the same values again change nothing. Raises UnknownFollowUp."""
    index = next((i for i, f in enumerate(incident.followups) if f.id == followup_id), None)
    if index is None:
        raise UnknownFollowUp(f"{incident.id} has no follow-up {followup_id[:20]!r}")
    found = incident.followups[index]
    edited, changed = _edited(found, edit, now=now)
    if not changed:
        return Transition(incident)
    details: Details = {
        "followup": found.id,
        "title": edited.title,
        "status": edited.status.value,
        "owner": edited.owner,
        "due": _iso(edited.due),
        "changed": tuple(changed),
        "note": note,
    }
    followups = (*incident.followups[:index], edited, *incident.followups[index + 1 :])
    event = (EntryKind.FOLLOWUP_CHANGED, actor, details)
    return _log(incident, now, [event], followups=followups)


def followup_overdue(incident: Incident, followup_id: str, *, now: datetime) -> Transition:
    """The engine notes, once per due date, that an open follow-up passed it; nothing when
    it is closed, has no due date, is not due yet or was noted already."""
    index = next((i for i, f in enumerate(incident.followups) if f.id == followup_id), None)
    if index is None:
        return Transition(incident)
    found = incident.followups[index]
    if not found.open or found.due is None or found.overdue_at is not None or now < found.due:
        return Transition(incident)
    details: Details = {
        "followup": found.id,
        "title": found.title,
        "owner": found.owner,
        "due": found.due.isoformat(),
    }
    marked = replace(found, overdue_at=now)
    followups = (*incident.followups[:index], marked, *incident.followups[index + 1 :])
    event = (EntryKind.FOLLOWUP_OVERDUE, ENGINE, details)
    return _log(incident, now, [event], followups=followups)


# --- storage and views ---------------------------------------------------------------------------

_INCIDENT: TypeAdapter[Incident] = TypeAdapter(Incident)


def to_dict(incident: Incident) -> dict[str, Any]:
    """JSON-native (strings, numbers, lists): what the store keeps. `from_dict` reverses it."""
    return _INCIDENT.dump_python(incident, mode="json")  # type: ignore[no-any-return]


def from_dict(data: Mapping[str, Any]) -> Incident:
    """Raises pydantic's ValidationError on a record that is not an incident."""
    return _INCIDENT.validate_python(data)


def view(incident: Incident, timeline: Sequence[TimelineEntry] | None = None) -> dict[str, Any]:
    """The incident as the API shows it: the record, its score explained, and its timeline
    when given. JSON-ready."""
    out = to_dict(incident)
    out["score"] = incident.score.view()
    out["peak_score"] = incident.peak.view()
    out["open"] = incident.open
    if timeline is not None:
        out["timeline"] = [entry_to_dict(e) for e in timeline]
    return out
