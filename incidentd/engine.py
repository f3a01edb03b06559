"""The engine: alerts and time in, decisions out, over the correlation state it holds.

`Engine.process(alerts, rules=..., now=...)` runs each alert through the correlation stages:
impact-map service -> correlation rule -> dedup -> silences -> flapping -> grouping (root
causes, blast radius). Before each alert, the timers due by its `received_at` run (time to
live expiries, groups whose quiet period has passed), so that the result depends only on the
alerts and their times, never on how often a driver ticks: the live daemon and replay get
the same groups from the same alerts. `tick(now=...)` runs the timers due by `now`.

The engine never reads the clock, never awaits and never does I/O. It records which alerts
and groups changed (`take_changes`), for the driver to commit to the store before it
acknowledges the queue. Every decision carries its reasons and the rules version.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter

from incidentd.correlate import matchers
from incidentd.correlate.dedup import AlertState, DedupOutcome, Outcome, decide, expire
from incidentd.correlate.flapping import is_flapping
from incidentd.correlate.grouping import (
    UNMAPPED,
    Group,
    GroupState,
    Member,
    Rule,
    compile_rules,
    fields_read,
    group_id,
    group_key,
    pick,
    resolve_due,
    rule_for,
)
from incidentd.correlate.impact import ImpactMap
from incidentd.correlate.silences import Silence, is_active, next_change
from incidentd.declare.declarer import Command, DeclareChanges, Declarer, DeclareState
from incidentd.declare.incident import Incident
from incidentd.model import Alert, Status
from incidentd.rules.loader import RuleSet
from incidentd.rules.schema import DeclarationFile

QUIET_DECISIONS = frozenset({"alert.repeat", "alert.duplicate", "alert.stale"})
"""Decisions the stores do not keep (metrics count them): they change nothing to look at."""

DEFAULT_RETENTION = timedelta(hours=24)
"""How long resolved alerts and groups are kept before they are forgotten."""


@dataclass(frozen=True, slots=True)
class Decision:
    """One thing the engine decided, with why. `kind` is `alert.<outcome>` or `group.<event>`."""

    kind: str
    at: datetime
    rules_version: str
    fingerprint: str | None = None
    group_id: str | None = None
    reasons: tuple[str, ...] = ()
    incident_id: str | None = None
    detail: str | None = None
    """Machine-readable detail for metrics (an SLA breach: `<clock>/<priority>`)."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """What the engine needs from one RuleSet, built once per rules version."""

    version: str
    rules: tuple[Rule, ...]
    by_name: dict[str, Rule]
    impact: ImpactMap
    silences: tuple[Silence, ...]
    declaration: DeclarationFile
    mapped_from: Callable[[Alert], object]
    """The alert fields that, with its labels, decide its service and rule: the selectors'
    and the rules' fields, and the sender's `service`."""

    @classmethod
    def build(cls, ruleset: RuleSet) -> Compiled:
        rules = compile_rules(ruleset.rules)
        impact = ImpactMap.build(ruleset.services)
        return cls(
            version=ruleset.version,
            rules=rules,
            by_name={r.name: r for r in rules},
            impact=impact,
            silences=tuple(Silence.from_spec(s) for s in ruleset.silences.silences),
            declaration=ruleset.declaration,
            mapped_from=attrgetter(*sorted({"service"} | impact.fields | fields_read(rules))),
        )


@dataclass(frozen=True, slots=True)
class _Mapped:
    """The service and rule an alert's last report was given, and what they were decided
    from (`Compiled.mapped_from` and the labels)."""

    inputs: object
    labels: dict[str, str]
    service: str | None
    rule: Rule


@dataclass(slots=True)
class EngineState:
    """All correlation state, with the indexes that keep the cost of an alert flat."""

    alerts: dict[str, AlertState] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    open_by_key: dict[str, str] = field(default_factory=dict)
    open_by_service: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    expiries: list[tuple[datetime, str]] = field(default_factory=list)
    resolutions: list[tuple[datetime, str]] = field(default_factory=list)
    evictions: list[tuple[datetime, str, str]] = field(default_factory=list)
    changed_alerts: set[str] = field(default_factory=set)
    changed_groups: set[str] = field(default_factory=set)
    changed_members: dict[str, set[str]] = field(default_factory=dict)
    impact_stale: set[str] = field(default_factory=set)
    removed_alerts: set[str] = field(default_factory=set)
    removed_groups: set[str] = field(default_factory=set)
    declare: DeclareState = field(default_factory=DeclareState)
    """Incidents and what the declarer keeps (incidentd/declare/declarer.py)."""


_NO_INCIDENT_CHANGES = DeclareChanges((), (), None, ())


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed since the last `take_changes`: the driver commits exactly this."""

    alerts: tuple[AlertState, ...]
    groups: tuple[Group, ...]
    members: dict[str, tuple[str, ...]]
    """Per changed group, the fingerprints of its members that changed."""
    removed_alerts: tuple[str, ...]
    removed_groups: tuple[str, ...]
    incidents: DeclareChanges = _NO_INCIDENT_CHANGES

    def __bool__(self) -> bool:
        return bool(
            self.alerts
            or self.groups
            or self.removed_alerts
            or self.removed_groups
            or self.incidents
        )


class Engine:
    def __init__(
        self, state: EngineState | None = None, *, retention: timedelta = DEFAULT_RETENTION
    ) -> None:
        self.state = state or EngineState()
        self._retention = retention
        self.declarer = Declarer(self.state.declare, retention=retention)
        self._compiled: Compiled | None = None
        self._mapped: dict[str, _Mapped] = {}
        """By fingerprint; only valid for `_compiled` (emptied when the rules change)."""
        self._extra_silences: tuple[Silence, ...] = ()
        self._active: tuple[Silence, ...] = ()
        self._silences_checked: tuple[tuple[str, int], datetime, datetime] | None = None

    @classmethod
    def resume(
        cls, state: EngineState, rules: RuleSet, *, retention: timedelta = DEFAULT_RETENTION
    ) -> Engine:
        """An engine over state loaded from the store: the indexes and timers are rebuilt."""
        engine = cls(state, retention=retention)
        c = engine.compiled(rules)
        for group in sorted(state.groups.values(), key=lambda g: g.opened_at):
            engine._index_group(c, group)
        for alert in state.alerts.values():
            expiry = alert.expires_at()
            if expiry is not None:
                state.expiries.append((expiry, alert.fingerprint))
            elif alert.status is Status.RESOLVED and alert.ends_at is not None:
                state.evictions.append((alert.ends_at + retention, "alert", alert.fingerprint))
        heapq.heapify(state.expiries)
        heapq.heapify(state.resolutions)
        heapq.heapify(state.evictions)
        engine.declarer.resume(state.groups, state.alerts, c.impact, c.declaration)
        return engine

    def _index_group(self, c: Compiled, group: Group) -> None:
        """Put a loaded group back in the indexes and timers (oldest first: newest key wins)."""
        s = self.state
        if group.state is GroupState.RESOLVED:
            if group.resolved_at is not None:
                s.evictions.append((group.resolved_at + self._retention, "group", group.id))
            return
        s.open_by_key[group.key] = group.id
        rule = c.by_name.get(group.rule, c.rules[-1])
        if rule.topology:
            for service in {m.service for m in group.members.values() if m.service}:
                s.open_by_service.setdefault((group.rule, service), set()).add(group.id)
        due = resolve_due(group, rule)
        if due is not None:
            s.resolutions.append((due, group.id))

    # -- configuration ------------------------------------------------------------------

    def compiled(self, ruleset: RuleSet) -> Compiled:
        if self._compiled is None or self._compiled.version != ruleset.version:
            self._compiled = Compiled.build(ruleset)
            self._mapped.clear()
        return self._compiled

    def set_api_silences(self, silences: Iterable[Silence]) -> None:
        """Silences created through the API (the driver reloads them from the store)."""
        fresh = tuple(silences)
        if fresh != self._extra_silences:
            self._extra_silences = fresh
            self._silences_checked = None

    # -- driving ------------------------------------------------------------------------

    def process(self, alerts: Sequence[Alert], *, rules: RuleSet) -> list[Decision]:
        """Apply a batch of alerts, in order, each at its own `received_at` (event time):
        timers due by then run first, and silences are judged at that time."""
        c = self.compiled(rules)
        out: list[Decision] = []
        for alert in alerts:
            self._refresh_silences(c, alert.received_at, out)
            self._run_timers(c, alert.received_at, out)
            self._apply(c, alert, out)
        self._refresh_impacts(c)
        return out

    def tick(self, *, rules: RuleSet, now: datetime) -> list[Decision]:
        """Run everything due by `now`: expiries, group resolutions, silence changes."""
        c = self.compiled(rules)
        out: list[Decision] = []
        self._refresh_silences(c, now, out)
        self._run_timers(c, now, out)
        self._refresh_impacts(c)
        return out

    def command(
        self, command: Command, *, rules: RuleSet, now: datetime, command_id: str = ""
    ) -> Incident:
        """A person's change to an incident (the API's), applied in order with the alerts.
        Raises InputError subclasses: unknown incident, a status move the rules forbid."""
        c = self.compiled(rules)
        return self.declarer.command(
            command,
            c.declaration,
            now,
            impact=c.impact,
            version=c.version,
            command_id=command_id,
        )

    def take_changes(self) -> Changes:
        s = self.state
        changes = Changes(
            alerts=tuple(s.alerts[f] for f in s.changed_alerts if f in s.alerts),
            groups=tuple(s.groups[g] for g in s.changed_groups if g in s.groups),
            members={g: tuple(f) for g, f in s.changed_members.items() if g in s.groups},
            removed_alerts=tuple(s.removed_alerts),
            removed_groups=tuple(s.removed_groups),
            incidents=self.declarer.take(),
        )
        s.changed_alerts.clear()
        s.changed_groups.clear()
        s.changed_members.clear()
        s.removed_alerts.clear()
        s.removed_groups.clear()
        return changes

    # -- one alert ----------------------------------------------------------------------

    def _apply(self, c: Compiled, alert: Alert, out: list[Decision]) -> None:
        service, rule = self._map(c, alert)
        prior = self.state.alerts.get(alert.fingerprint)
        result = decide(alert, prior, service=service, ttl=rule.alert_ttl)
        if result.outcome in (Outcome.NEW, Outcome.REOPEN):
            self.declarer.arrived(alert.received_at, c.declaration)
        reasons: tuple[str, ...] = (result.reason, f"rule {rule.name}")
        if result.outcome in (Outcome.DUPLICATE, Outcome.STALE):
            out.append(self._decision(c, result, alert.received_at, reasons))
            if result.state is not prior:
                self._store_alert(result.state)
            return
        active = self._active
        silenced = (
            tuple([s.id for s in active if matchers.all_match(s.matchers, alert, service)])
            if active
            else ()
        )
        state = result.state  # a fresh state (decide never hands back prior for these outcomes)
        state.silenced_by = silenced
        if silenced:
            reasons = (*reasons, f"silenced by {', '.join(silenced)}")
        if result.outcome is Outcome.EARLY_RESOLVE:
            self._store_alert(state)
            out.append(self._decision(c, result, alert.received_at, reasons))
            return
        at = len(out)
        if result.outcome in (Outcome.NEW, Outcome.REOPEN) or state.group_id is None:
            state.group_id = self._place(c, rule, alert, service, out).id
        out.insert(at, self._decision(c, result, alert.received_at, reasons))  # alert first
        self._update_member(c, rule, state, alert.received_at)

    def _map(self, c: Compiled, alert: Alert) -> tuple[str | None, Rule]:
        """The alert's impact-map service and correlation rule. Most reports are about an
        alert already known (repeats, resolves) and carry what the last one did: then the
        last answer stands, without running the selectors and the rules' matchers again."""
        inputs = c.mapped_from(alert)
        known = self._mapped.get(alert.fingerprint)
        if known is not None and known.inputs == inputs and known.labels == alert.labels:
            return known.service, known.rule
        service = c.impact.service_for(alert)
        rule = rule_for(alert, service, c.rules)
        self._mapped[alert.fingerprint] = _Mapped(inputs, alert.labels, service, rule)
        return service, rule

    def _place(
        self, c: Compiled, rule: Rule, alert: Alert, service: str | None, out: list[Decision]
    ) -> Group:
        s = self.state
        key = group_key(rule, alert, service)
        candidates: list[Group] = []
        if (gid := s.open_by_key.get(key)) is not None:
            candidates.append(s.groups[gid])
        if rule.topology and service is not None:
            by_service = s.open_by_service
            for related in c.impact.related(service, rule.hops):
                ids = by_service.get((rule.name, related))
                if ids:
                    candidates.extend(s.groups[g] for g in ids)
        at = alert.received_at
        group = pick(candidates, key=key, at=at, rule=rule)
        if group is not None:
            why = "same group key" if group.key == key else "topology: related service"
            out.append(Decision("group.joined", at, c.version, alert.fingerprint, group.id, (why,)))
            return group
        group = Group(
            id=group_id(key, at),
            rule=rule.name,
            key=key,
            rules_version=c.version,
            opened_at=at,
            last_seen=at,
            unmapped=service is None,
        )
        s.groups[group.id] = group
        s.open_by_key[key] = group.id
        where = service if service is not None else f"{UNMAPPED} ({alert.name})"
        out.append(
            Decision(
                "group.opened",
                at,
                c.version,
                alert.fingerprint,
                group.id,
                (f"rule {rule.name}", f"key {key}", f"service {where}"),
            )
        )
        return group

    def _update_member(
        self,
        c: Compiled,
        rule: Rule,
        state: AlertState,
        at: datetime,
        *,
        touch: bool = True,
    ) -> None:
        """Bring the alert's group in step with its new state. `touch`: a report (not a
        silence starting or ending) that moves the group's sliding window."""
        s = self.state
        group = s.groups.get(state.group_id or "")
        if group is None:  # evicted meanwhile: the alert lives on without a group
            self._store_alert(replace(state, group_id=None))
            return
        flapping = is_flapping(state.transitions, now=at, spec=rule.flapping)
        member = Member(state.status, state.service, bool(state.silenced_by), flapping)
        changed = group.members.get(state.fingerprint) != member
        if changed and group.set_member(state.fingerprint, member):
            s.impact_stale.add(group.id)  # recomputed once per batch, not once per alert
        s.changed_members.setdefault(group.id, set()).add(state.fingerprint)
        if rule.topology and state.service is not None and group.state is GroupState.OPEN:
            s.open_by_service.setdefault((group.rule, state.service), set()).add(group.id)
        if touch and at > group.last_seen:
            group.last_seen = at
        if group.firing:
            group.quiet_since = None
        elif group.quiet_since is None or at > group.quiet_since:
            group.quiet_since = at
            due = resolve_due(group, c.by_name.get(group.rule, rule))
            if due is not None:
                heapq.heappush(s.resolutions, (due, group.id))
        s.changed_groups.add(group.id)
        prior = s.alerts.get(state.fingerprint)
        if changed or _scored_differently(prior, state):
            self.declarer.mark(group.id, at, state.fingerprint)
        else:  # a repeat that changes nothing scoring reads: a refresh now and then
            self.declarer.refresh(group.id, at)
        self._store_alert(state)

    def _refresh_impacts(self, c: Compiled) -> None:
        """Root causes and blast radius of the groups whose failing services changed. Once
        per batch: in a storm, hundreds of alerts joining one big group cost one computation."""
        s = self.state
        for gid in s.impact_stale:
            group = s.groups.get(gid)
            if group is not None:
                self._refresh_impact(c, group)
        s.impact_stale.clear()

    def _refresh_impact(self, c: Compiled, group: Group) -> None:
        failing = tuple(group.services)
        group.root_causes = c.impact.root_causes(failing)
        radius = c.impact.blast_radius(failing)
        group.blast_radius = tuple(sorted(radius.services))
        group.capabilities = tuple(sorted(radius.capabilities))

    def _store_alert(self, state: AlertState) -> None:
        s = self.state
        s.alerts[state.fingerprint] = state
        s.changed_alerts.add(state.fingerprint)
        s.removed_alerts.discard(state.fingerprint)
        due = state.expires_at()
        if due is not None:
            heapq.heappush(s.expiries, (due, state.fingerprint))
        elif state.status is Status.RESOLVED and state.ends_at is not None:
            forget_at = state.ends_at + self._retention
            heapq.heappush(s.evictions, (forget_at, "alert", state.fingerprint))

    @staticmethod
    def _decision(
        c: Compiled, result: DedupOutcome, at: datetime, reasons: tuple[str, ...]
    ) -> Decision:
        return Decision(
            f"alert.{result.outcome}",
            at,
            c.version,
            result.state.fingerprint,
            result.state.group_id,
            reasons,
        )

    # -- timers -------------------------------------------------------------------------

    def _run_timers(self, c: Compiled, until: datetime, out: list[Decision]) -> None:
        """Everything due by `until`, in time order across the kinds of timers (at one
        instant: expiries, group resolutions, evictions, then assessments)."""
        s = self.state
        while True:
            heads = (
                s.expiries[0][0] if s.expiries else None,
                s.resolutions[0][0] if s.resolutions else None,
                s.evictions[0][0] if s.evictions else None,
                self.declarer.next_due(),
            )
            when = min((h for h in heads if h is not None), default=None)
            if when is None or when > until:
                return
            if heads[0] == when:
                due, fingerprint = heapq.heappop(s.expiries)
                self._expire(c, fingerprint, due, out)
            elif heads[1] == when:
                due, gid = heapq.heappop(s.resolutions)
                self._resolve_group(c, gid, due, out)
            elif heads[2] == when:
                _, kind, name = heapq.heappop(s.evictions)
                self._evict(kind, name)
            else:
                self._assess(c, when, out)

    def _assess(self, c: Compiled, when: datetime, out: list[Decision]) -> None:
        self._refresh_impacts(c)  # assessments read root causes and blast radius
        verdicts = self.declarer.run_due(
            when,
            groups=self.state.groups,
            alerts=self.state.alerts,
            impact=c.impact,
            spec=c.declaration,
            version=c.version,
        )
        out.extend(
            Decision(v.kind, v.at, c.version, None, v.group_id, v.reasons, v.incident_id, v.detail)
            for v in verdicts
        )

    def _expire(self, c: Compiled, fingerprint: str, due: datetime, out: list[Decision]) -> None:
        state = self.state.alerts.get(fingerprint)
        if state is None or state.expires_at() != due:
            return  # a later report moved the expiry (its own heap entry is queued)
        result = expire(state, now=due)
        if result is None:
            return
        rule = self._rule_of(c, result.state)
        out.append(self._decision(c, result, due, (result.reason,)))
        self._update_member(c, rule, result.state, due)

    def _rule_of(self, c: Compiled, state: AlertState) -> Rule:
        group = self.state.groups.get(state.group_id or "")
        if group is not None and group.rule in c.by_name:
            return c.by_name[group.rule]
        return c.rules[-1]

    def _resolve_group(self, c: Compiled, gid: str, due: datetime, out: list[Decision]) -> None:
        s = self.state
        group = s.groups.get(gid)
        if group is None:
            return
        rule = c.by_name.get(group.rule, c.rules[-1])
        if resolve_due(group, rule) != due:
            return  # something fired again, or a later resolve moved the due time
        group.state = GroupState.RESOLVED
        group.resolved_at = due
        if s.open_by_key.get(group.key) == gid:
            del s.open_by_key[group.key]
        for service in {m.service for m in group.members.values() if m.service}:
            ids = s.open_by_service.get((group.rule, service))
            if ids is not None:
                ids.discard(gid)
                if not ids:
                    del s.open_by_service[(group.rule, service)]
        s.changed_groups.add(gid)
        heapq.heappush(s.evictions, (due + self._retention, "group", gid))
        out.append(
            Decision(
                "group.resolved",
                due,
                c.version,
                None,
                gid,
                (f"every member resolved and {rule.quiet_period} passed quietly",),
            )
        )

    def _evict(self, kind: str, name: str) -> None:
        s = self.state
        if kind == "alert":
            state = s.alerts.get(name)
            if state is not None and state.status is Status.RESOLVED:
                del s.alerts[name]
                self._mapped.pop(name, None)
                s.removed_alerts.add(name)
                s.changed_alerts.discard(name)
        else:
            group = s.groups.get(name)
            if group is not None and group.state is GroupState.RESOLVED:
                del s.groups[name]
                s.removed_groups.add(name)
                s.changed_groups.discard(name)
                s.changed_members.pop(name, None)
                self.declarer.forget_group(name)

    # -- silences -----------------------------------------------------------------------

    def _refresh_silences(self, c: Compiled, now: datetime, out: list[Decision]) -> None:
        """Recompute the active silences; when the set changed, re-mark firing alerts.

        Cheap per alert: the set is only recomputed when `now` reaches the next start or end
        of a silence (or goes back in time, or the silences themselves changed)."""
        if not (c.silences or self._extra_silences or self._active):
            return
        checked = self._silences_checked
        if (
            checked is not None
            and checked[0] == (c.version, len(self._extra_silences))
            and checked[1] <= now < checked[2]
        ):
            return
        everything = (*c.silences, *self._extra_silences)
        active = tuple(s for s in everything if is_active(s, now))
        changes = [t for s in everything if (t := next_change(s, now)) is not None]
        until = min(changes, default=datetime.max.replace(tzinfo=UTC))
        self._silences_checked = ((c.version, len(self._extra_silences)), now, until)
        if {s.id for s in active} == {s.id for s in self._active}:
            self._active = active
            return
        self._active = active
        for state in list(self.state.alerts.values()):
            if state.status is not Status.FIRING:
                continue
            ids = tuple(s.id for s in active if matchers.all_match(s.matchers, state))
            if ids != state.silenced_by:
                updated = replace(state, silenced_by=ids)
                rule = self._rule_of(c, updated)
                self._update_member(c, rule, updated, now, touch=False)
                reason = f"silenced by {', '.join(ids)}" if ids else "no longer silenced"
                out.append(
                    Decision(
                        "alert.silence_changed",
                        now,
                        c.version,
                        state.fingerprint,
                        state.group_id,
                        (reason,),
                    )
                )


def _scored_differently(prior: AlertState | None, state: AlertState) -> bool:
    """Whether scoring reads something else of the alert now than before (beyond its group
    membership): its severity, name, labels (host and region) or the occurrence's start."""
    return (
        prior is None
        or prior.severity is not state.severity
        or prior.name != state.name
        or prior.first_seen != state.first_seen
        or prior.labels != state.labels
    )
