"""The declaration policy: what to do about one scored group, and why.

`evaluate` is a pure function of the group's facts and score, the incident the group is tied
to (if any), the open and the recently resolved incidents, the pending state the caller keeps
(since when the declaration condition has held), the current alert rate, `policy:` of
declaration.yaml and `now`. It returns one `PolicyDecision`: an action, its reasons (never
none), the rules version, and the pending state to keep for the next evaluation. In order:

1. tied to an open incident: escalate when the group is more urgent than the incident (no
   sustain: the incident is declared already); note a downgrade when it is calmer, once per
   assessed priority (automation never lowers a priority); else nothing;
2. no driving alert (only silenced or flapping ones fire): nothing, ever;
3. fits an open incident (same group key, same root cause, or a root cause of one in the
   blast radius of the other, as `join:` allows): join it, whatever the group's priority;
4. below the threshold (`declare_at`), or fewer distinct driving alerts than `min_signals`:
   nothing. Per-service and per-capability overrides apply; the most eager one wins;
5. the same failure (same group key or a shared root cause) resolved less than `cool_down`
   ago: nothing yet (the pending state keeps running);
6. the condition has not held for `sustain` yet: hold, until it has;
7. in an alert storm (the alert rate at or above `storm.alerts_per_minute`): absorb into the
   storm incident (the open one, else a new one);
8. declare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from incidentd.declare.incident import Incident
from incidentd.declare.scoring import GroupFacts, Score
from incidentd.model import Priority
from incidentd.rules.schema import JoinSpec, PolicyOverride, PolicySpec

T = TypeVar("T")


class Action(StrEnum):
    DECLARE = "declare"
    HOLD = "hold"
    JOIN = "join"
    ESCALATE = "escalate"
    NOTE_DOWNGRADE = "note_downgrade"
    ABSORB_INTO_STORM = "absorb_into_storm"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    action: Action
    group_id: str
    priority: Priority
    """The group's priority now."""
    reasons: tuple[str, ...]
    rules_version: str
    at: datetime
    incident_id: str | None = None
    """join, escalate, note_downgrade: the incident; absorb_into_storm: the open storm
    incident, None to open one."""
    previous: Priority | None = None
    """escalate, note_downgrade: the incident's priority before."""
    until: datetime | None = None
    """hold: when the sustain time is met if the condition still holds."""
    pending_since: datetime | None = None
    """Since when the declaration condition has held: keep it and pass it to the next
    evaluation of this group (None: forget it)."""

    def view(self) -> dict[str, Any]:
        """JSON-ready."""

        def iso(at: datetime | None) -> str | None:
            return None if at is None else at.isoformat()

        return {
            "action": self.action.value,
            "group": self.group_id,
            "priority": self.priority.value,
            "reasons": list(self.reasons),
            "rules_version": self.rules_version,
            "at": iso(self.at),
            "incident": self.incident_id,
            "previous": None if self.previous is None else self.previous.value,
            "until": iso(self.until),
            "pending_since": iso(self.pending_since),
        }


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The policy for one group once the overrides of its services and capabilities apply."""

    declare_at: Priority
    min_signals: int
    sustain: timedelta
    notes: tuple[str, ...]
    """Which override set what (nothing when the defaults apply)."""


@dataclass(frozen=True, slots=True)
class _Context:
    facts: GroupFacts
    score: Score
    rules_version: str
    now: datetime

    def decide(self, action: Action, *reasons: str, **fields: Any) -> PolicyDecision:
        return PolicyDecision(
            action=action,
            group_id=self.facts.group_id,
            priority=self.score.priority,
            reasons=(self.score.summary(), *reasons),
            rules_version=self.rules_version,
            at=self.now,
            **fields,
        )


def _names(items: Sequence[str]) -> str:
    return ", ".join(items)


# --- thresholds ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Origin:
    name: str
    override: PolicyOverride | None
    fallback: bool
    """A service without a value of its own brings the default; a capability brings only
    what its override sets."""


def _most_eager(
    origins: Sequence[_Origin], key: str, default: T, eagerness: Callable[[T], float]
) -> tuple[T, str | None]:
    """The most eager value of `key` and the override it came from (None: the default).
    Among equal values the default wins, so that an override that changes nothing is not
    named."""
    found: list[tuple[float, int, str, T]] = []
    for origin in origins:
        value = None if origin.override is None else getattr(origin.override, key)
        if value is not None:
            found.append((-eagerness(value), 1, origin.name, value))
        elif origin.fallback:
            found.append((-eagerness(default), 0, origin.name, default))
    _, overridden, name, value = min(found, key=lambda f: f[:3])
    return value, (name if overridden else None)


def thresholds(facts: GroupFacts, score: Score, policy: PolicySpec) -> Thresholds:
    """Each driving service brings its override or the defaults; each touched capability
    with an override brings what it sets; the most eager value of each key wins (the lowest
    priority to declare at, the fewest signals, the shortest sustain). An unmapped group
    gets the defaults."""
    origins = [
        _Origin(f"service {name}", policy.services.get(name), fallback=True)
        for name in sorted(facts.driving_services)
    ] or [_Origin("default", None, fallback=True)]
    origins += [
        _Origin(f"capability {name}", policy.capabilities[name], fallback=False)
        for name in score.capabilities
        if name in policy.capabilities
    ]
    declare_at, by = _most_eager(origins, "declare_at", policy.declare_at, lambda p: p.rank)
    notes = [f"declare at {declare_at} ({by} override)"] if by else []
    min_signals, by = _most_eager(origins, "min_signals", policy.min_signals, lambda n: -n)
    notes += [f"{min_signals} driving alerts suffice ({by} override)"] if by else []
    sustain, by = _most_eager(origins, "sustain", policy.sustain, lambda d: -d.total_seconds())
    notes += [f"sustain {_duration(sustain)} ({by} override)"] if by else []
    return Thresholds(declare_at, min_signals, sustain, tuple(notes))


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds % 60 or not seconds:
        return f"{seconds}s"
    return f"{seconds // 60}m"


# --- matching incidents ----------------------------------------------------------------------


def _active(incident: Incident, join: JoinSpec, now: datetime) -> bool:
    """An alert of the incident fires, or the last one resolved within `quiet_for`."""
    if incident.firing:
        return True
    return incident.quiet_since is not None and now - incident.quiet_since < join.quiet_for


def _fit(
    facts: GroupFacts, incident: Incident, join: JoinSpec, now: datetime
) -> tuple[int, str] | None:
    """How the group fits the incident (lower is closer), and why; None when it does not."""
    if facts.group_id in incident.groups:
        return 0, "the group is already part of it"
    if incident.has_group_key(facts.group_key):
        return 1, "same group key"
    shared = sorted(set(facts.root_causes) & set(incident.root_causes))
    if join.same_root_cause and shared:
        return 2, f"same root cause {_names(shared)}"
    if join.within_blast_radius and _active(incident, join, now):
        # A consequence starts with or after its cause (give or take `cause_within`): a
        # group failing long before the incident began is something else that was there.
        started = incident.started_at or incident.declared_at
        ours = [r for r in facts.root_causes if incident.impacts(r)]
        if ours and facts.opened_at >= started - join.cause_within:
            return 3, f"root cause {_names(ours)} is in its blast radius"
        theirs = [r for r in incident.root_causes if r in facts.blast_radius]
        if theirs and facts.opened_at <= started + join.cause_within:
            return 3, f"its root cause {_names(theirs)} is in this group's blast radius"
    return None


def join_target(
    facts: GroupFacts, open_incidents: Sequence[Incident], join: JoinSpec, now: datetime
) -> tuple[Incident, str] | None:
    """The open incident the group joins, and why: the closest fit, then the most urgent,
    then the oldest. The storm incident is never a join target (it only absorbs)."""
    best: tuple[tuple[int, int, int], Incident, str] | None = None
    for incident in open_incidents:
        if not incident.open or incident.storm:
            continue
        fit = _fit(facts, incident, join, now)
        if fit is None:
            continue
        key = (fit[0], incident.priority.rank, incident.number)
        if best is None or key < best[0]:
            best = (key, incident, fit[1])
    return None if best is None else (best[1], best[2])


def _cooling(
    facts: GroupFacts, resolved: Sequence[Incident], cool_down: timedelta, now: datetime
) -> str | None:
    """Why the same failure may not be declared again yet, or None."""
    for incident in sorted(resolved, key=lambda i: i.resolved_at or now, reverse=True):
        if incident.resolved_at is None or now >= incident.resolved_at + cool_down:
            continue
        if incident.has_group_key(facts.group_key):
            same = "same group key"
        elif shared := sorted(set(facts.root_causes) & set(incident.root_causes)):
            same = f"same root cause {_names(shared)}"
        else:
            continue
        until = incident.resolved_at + cool_down
        return (
            f"cool-down: {incident.id} ({same}) resolved at {incident.resolved_at:%H:%M:%S}; "
            f"not declared again before {until:%H:%M:%S} ({_duration(cool_down)})"
        )
    return None


# --- the decision ----------------------------------------------------------------------------


def _follow(ctx: _Context, incident: Incident) -> PolicyDecision:
    new, old = ctx.score.priority, incident.priority
    tied = {"incident_id": incident.id, "previous": old}
    if new.above(old) and ctx.facts.drivers.count:
        return ctx.decide(Action.ESCALATE, f"{incident.id} escalates from {old} to {new}", **tied)
    if new.above(old):
        reason = f"{incident.id} stays {old}: only silenced or flapping alerts would raise it"
        return ctx.decide(Action.NONE, reason, **tied)
    if old.above(new) and new is not incident.assessed:
        reason = (
            f"{incident.id} calmed to {new}: noted; it stays {old} (automation never lowers "
            "a priority)"
        )
        return ctx.decide(Action.NOTE_DOWNGRADE, reason, **tied)
    return ctx.decide(Action.NONE, f"{incident.id} stays {old} (assessed {new})", **tied)


def _no_driver(facts: GroupFacts) -> str:
    if not (facts.silenced or facts.flapping):
        return "no driving alert fires"
    return (
        f"only silenced ({facts.silenced}) or flapping ({facts.flapping}) alerts fire: they "
        "never declare an incident"
    )


def _cause_silenced(facts: GroupFacts) -> str | None:
    """Why the group's driving alerts are consequences of a silenced failure, if they are:
    every root cause fires, and only silenced alerts."""
    causes = facts.root_causes
    if not causes or any(
        c not in facts.silenced_services or c in facts.driving_services for c in causes
    ):
        return None
    return (
        f"its root cause {_names(causes)} fires only silenced alerts (a maintenance window?): "
        "what fails because of it declares nothing (hold_when_cause_silenced)"
    )


def _short_of(ctx: _Context, limits: Thresholds) -> str | None:
    """Why the group does not meet the declaration condition, or None when it does."""
    priority, count = ctx.score.priority, ctx.facts.drivers.count
    if not priority.at_least(limits.declare_at):
        return f"{priority} is below the declaration threshold {limits.declare_at}"
    if count < limits.min_signals:
        return f"{count} distinct driving alerts, {limits.min_signals} needed"
    return None


def _untied(
    ctx: _Context,
    *,
    open_incidents: Sequence[Incident],
    resolved: Sequence[Incident],
    pending_since: datetime | None,
    alert_rate: float,
    policy: PolicySpec,
) -> PolicyDecision:
    limits = thresholds(ctx.facts, ctx.score, policy)
    short = _short_of(ctx, limits)
    if short is not None:
        return ctx.decide(Action.NONE, *limits.notes, short)
    met = (
        f"{ctx.score.priority} reaches the declaration threshold {limits.declare_at} with "
        f"{ctx.facts.drivers.count} distinct driving alerts",
        *limits.notes,
    )
    since = pending_since or ctx.now
    cooling = _cooling(ctx.facts, resolved, policy.cool_down, ctx.now)
    if cooling is not None:
        return ctx.decide(Action.NONE, *met, cooling, pending_since=since)
    until = since + limits.sustain
    if ctx.now < until:
        held = (
            f"sustain: holds since {since:%H:%M:%S}, declared at {until:%H:%M:%S} if it still does"
        )
        return ctx.decide(Action.HOLD, *met, held, until=until, pending_since=since)
    if limits.sustain:
        met = (*met, f"held for {_duration(ctx.now - since)} (sustain {_duration(limits.sustain)})")
    storm = policy.storm
    if storm.enabled and alert_rate >= storm.alerts_per_minute:
        current = next((i for i in open_incidents if i.storm and i.open), None)
        into = f"absorbed into {current.id}" if current else "opens the alert-storm incident"
        reason = (
            f"alert storm: {alert_rate:.0f} alerts a minute (threshold "
            f"{storm.alerts_per_minute:g}) and it fits no open incident: {into}"
        )
        return ctx.decide(
            Action.ABSORB_INTO_STORM, *met, reason, incident_id=current.id if current else None
        )
    return ctx.decide(Action.DECLARE, *met)


def evaluate(
    facts: GroupFacts,
    score: Score,
    *,
    incident: Incident | None,
    open_incidents: Sequence[Incident],
    resolved: Sequence[Incident],
    pending_since: datetime | None,
    alert_rate: float,
    policy: PolicySpec,
    rules_version: str,
    now: datetime,
) -> PolicyDecision:
    """Decide for one group (see the module docstring).

    `incident`: the incident the group is tied to, if any (a resolved one counts as recently
    resolved). `open_incidents`: every open incident (join targets and the storm incident).
    `resolved`: incidents resolved within the cool-down. `pending_since`: what the previous
    decision for this group returned. `alert_rate`: new or re-firing alerts a minute over
    `policy.storm.window`, as the driver measured it.
    """
    ctx = _Context(facts, score, rules_version, now)
    if incident is not None and incident.open:
        return _follow(ctx, incident)
    if incident is not None:
        resolved = (*resolved, incident)
    if not facts.drivers.count:
        return ctx.decide(Action.NONE, _no_driver(facts))
    target = join_target(facts, open_incidents, policy.join, ctx.now)
    if target is not None:
        found, why = target
        return ctx.decide(Action.JOIN, f"joins {found.id} ({why})", incident_id=found.id)
    if policy.hold_when_cause_silenced and (held := _cause_silenced(facts)):
        return ctx.decide(Action.NONE, held)
    return _untied(
        ctx,
        open_incidents=open_incidents,
        resolved=resolved,
        pending_since=pending_since,
        alert_rate=alert_rate,
        policy=policy,
    )
