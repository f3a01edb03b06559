"""The declarer: scoring and the declaration policy run over the engine's groups, and the
incidents they declare kept, with their timelines.

Part of the engine, and pure like it: no clock, no I/O. The engine marks a group when one of
its members changes; the group is assessed at the next **assessment instant**, its event
time rounded up to `ASSESS_EVERY`, by the same timers that expire alerts and resolve groups.
So the outcome depends on the alerts and their times, never on how the driver batched them:
the live daemon, every replica and replay declare the same incidents from the same alerts.
A group whose sustain time is running is assessed again when it is met; an incident whose
alerts have all resolved moves on (auto-resolve) when its quiet period has passed.

Exactly once: incidents are numbered from a counter kept in the engine's state and
committed atomically with the decision that used it (one leader at a time, fenced commits;
see store/redis_state.py). A group tied to an incident stays tied to it, so re-assessing it
escalates or notes a calmer score instead of declaring again.

What is kept for the store (`take`): the incidents that changed, the timeline entries they
appended (numbered, in order), and the small bookkeeping a new leader needs (the counter,
pending sustain clocks, the last assessment of each group). The storm rate is not kept: a
new leader counts arrivals afresh.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from incidentd.correlate.dedup import AlertState
from incidentd.correlate.grouping import Group
from incidentd.correlate.impact import ImpactMap
from incidentd.declare import incident as inc
from incidentd.declare.followup import FollowUpEdit, watch_at
from incidentd.declare.idseq import IdSeq
from incidentd.declare.incident import Incident, IncidentStatus, Transition
from incidentd.declare.policy import Action, PolicyDecision, evaluate
from incidentd.declare.scoring import GroupFacts, Score, ScoreCache, Tally, facts_of, score
from incidentd.declare.timeline import Actor, TimelineEntry
from incidentd.errors import InputError, WrongShape
from incidentd.model import Priority, Status
from incidentd.rules.schema import DeclarationFile

ASSESS_EVERY = timedelta(seconds=5)
"""Groups tied to an open incident that changed are assessed at most this often, at whole
multiples of it in event time: a storm of alerts into one incident costs one assessment of
each of its groups every 5 s, not one per alert (escalations and the timeline's alert
entries follow within 5 s; at 1 s, assessments were two thirds of the engine's time in
a storm replay)."""
ASSESS_UNTIED = timedelta(milliseconds=100)
"""Groups not (yet) tied to an incident are assessed at once when they change, and then at
most this often: the first declaration is what people wait for (see `Declarer._when`)."""
REFRESH_EVERY = timedelta(minutes=1)
"""A group that only gets repeats is assessed again this often (its duration grows)."""
APPLIED_KEPT = 1000
FIRST_NUMBER = 1000
"""The first incident is INC-1000: ids of one width sort as text."""

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def assessment_instant(at: datetime, every: timedelta = ASSESS_EVERY) -> datetime:
    """`at` rounded up to the next whole multiple of `every` (itself if it is one)."""
    step = every.total_seconds()
    offset = (at - _EPOCH).total_seconds()
    whole = -(-offset // step) * step
    return _EPOCH + timedelta(seconds=whole)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the engine records for one assessment or incident change (a Decision)."""

    kind: str
    at: datetime
    group_id: str | None
    incident_id: str | None
    reasons: tuple[str, ...]
    detail: str | None = None
    """For metrics: `<clock>/<priority>` of an SLA breach."""


@dataclass(frozen=True, slots=True)
class Command:
    """A person's change to an incident, from the API; applied by the engine that leads."""

    incident_id: str
    action: str
    """status, reopen, note, commander, declare (incident_id empty), merge, record (an
    action's outcome, from the outbox workers), followup (add one), followup_update"""
    actor: Actor
    status: IncidentStatus | None = None
    text: str = ""
    commander: str | None = None
    title: str = ""
    """declare: the incident's title."""
    priority: Priority | None = None
    """declare: its priority."""
    services: tuple[str, ...] = ()
    """declare: the failing services (their blast radius is the impact)."""
    into: str | None = None
    """merge: the incident this one is merged into."""
    target: str = ""
    """record: the action target whose outcome this is (its reason is `text`)."""
    event: str = ""
    """record: the action event (declared, resolved, ...)."""
    outcome: str = ""
    """record: sent, retry, dead, skipped."""
    followup: str = ""
    """followup_update: the follow-up's id (`F1`, ...)."""
    edit: FollowUpEdit | None = None
    """followup (add one) and followup_update: the values a person gave."""


@dataclass(slots=True)
class DeclareState:
    incidents: dict[str, Incident] = field(default_factory=dict)
    """The incidents the engine works with: open ones, and resolved ones within retention
    (cool-down, a group firing again). The store keeps every incident for good."""
    next_number: int = FIRST_NUMBER
    pending: dict[str, datetime] = field(default_factory=dict)
    """Group id -> since when its declaration condition has held (sustain)."""
    assessed: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    """Group id -> (action, priority, incident) of its last recorded assessment."""
    applied: deque[str] = field(default_factory=lambda: deque(maxlen=APPLIED_KEPT))
    """Ids of the latest commands applied: a command delivered twice is applied once."""
    made: dict[str, str] = field(default_factory=dict)
    """Command id -> the incident a person's declaration made (the latest ones)."""
    # rebuilt, never stored:
    by_group: dict[str, str] = field(default_factory=dict)
    due: list[tuple[datetime, str, str]] = field(default_factory=list)
    """Heap of (when, "group" | "incident", id): assessments and auto-resolves."""
    scheduled: dict[str, datetime] = field(default_factory=dict)
    arrivals: deque[datetime] = field(default_factory=deque)
    scores: dict[str, Score] = field(default_factory=dict)
    """The latest score of each group tied to an open incident."""
    last_assessed: dict[str, datetime] = field(default_factory=dict)
    touched: dict[str, set[str] | None] = field(default_factory=dict)
    """Group id -> the members that changed since its last assessment (None: all)."""
    last_minute: deque[datetime] = field(default_factory=deque)
    sla_due: dict[tuple[str, str], datetime] = field(default_factory=dict)
    """(incident, clock) -> when its SLA check is scheduled."""
    followup_due: dict[tuple[str, str], datetime] = field(default_factory=dict)
    """(incident, follow-up) -> when its overdue check is scheduled."""
    # changes since the last `take`:
    changed: set[str] = field(default_factory=set)
    entries: list[tuple[str, TimelineEntry]] = field(default_factory=list)
    meta_changed: bool = False
    forgotten: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class DeclareChanges:
    incidents: tuple[Incident, ...]
    entries: tuple[tuple[str, TimelineEntry], ...]
    meta: dict[str, Any] | None
    """The bookkeeping (`meta_view`) when it changed."""
    forgotten: tuple[str, ...]
    """Incidents the engine no longer needs in memory (resolved long ago); the store keeps
    them, but stops loading them."""

    def __bool__(self) -> bool:
        return bool(self.incidents or self.entries or self.meta or self.forgotten)


def meta_view(state: DeclareState) -> dict[str, Any]:
    return {
        "next_number": state.next_number,
        "pending": {g: t.isoformat() for g, t in state.pending.items()},
        "assessed": {g: list(v) for g, v in state.assessed.items()},
        "applied": list(state.applied),
        "made": dict(state.made),
    }


def apply_meta(state: DeclareState, meta: Mapping[str, Any]) -> None:
    state.next_number = int(meta.get("next_number", FIRST_NUMBER))
    state.pending = {g: datetime.fromisoformat(t) for g, t in meta.get("pending", {}).items()}
    state.assessed = {g: (v[0], v[1], v[2]) for g, v in meta.get("assessed", {}).items()}
    state.applied = deque(meta.get("applied", ()), maxlen=APPLIED_KEPT)
    state.made = dict(meta.get("made", {}))


class Declarer:
    verify = False
    """Check what is kept incrementally (each group's tally, the index of each incident's
    alert ids) against what it is kept for, at every use, and raise when they differ: the
    test suite turns it on (tests/conftest.py)."""

    def __init__(
        self, state: DeclareState | None = None, *, retention: timedelta = timedelta(hours=24)
    ) -> None:
        self.state = state or DeclareState()
        self._retention = retention
        self._pending_verdicts: list[Verdict] = []
        """Verdicts made inside a transition (a declare-clock breach), recorded after it."""
        self._tallies: dict[str, Tally] = {}
        """Per group: what scoring reads of its firing members, kept member by member."""
        self._scores = ScoreCache()
        self._by_root: dict[str, set[str]] = {}
        """Root-cause service -> the groups with it that no incident holds (`_widened`)."""
        self._roots_of: dict[str, tuple[str, ...]] = {}
        self._probes: set[str] = set()
        """Groups assessed again only because an incident reached them (`_widened`): such an
        assessment counts only if the group joins."""
        self._tops: dict[str, tuple[IdSeq, Priority | None, str]] = {}
        """Per incident: its groups as they were, the highest priority of their scores and
        the first group at it (see `_most_urgent`), kept up to date as groups join and their
        priorities move (`_keep_score`)."""

    # -- what the engine tells it ----------------------------------------------------------

    def resume(
        self,
        groups: Mapping[str, Group],
        alerts: Mapping[str, AlertState],
        impact: ImpactMap,
        spec: DeclarationFile,
    ) -> None:
        """Rebuild what is not stored: group ties, timers, the scores of the groups of open
        incidents (as of their last assessment); every firing group is assessed again at
        its next instant (a new leader does not know what changed while nobody led)."""
        s = self.state
        for incident in sorted(s.incidents.values(), key=lambda i: i.number):
            for gid in incident.groups:
                s.by_group[gid] = incident.id
                group = groups.get(gid)
                if incident.open and group is not None:
                    facts = facts_of(group, alerts, spec=spec.scoring)
                    when = assessment_instant(group.last_seen)
                    self._keep_score(gid, self._score(facts, impact, spec, when))
            self._schedule(incident, spec)
        for gid, since in s.pending.items():
            if gid in groups:
                self.mark(gid, since)
        for gid, group in groups.items():
            if group.firing:
                self.mark(gid, group.last_seen)

    def mark(self, group_id: str, at: datetime, fingerprint: str | None = None) -> None:
        """A member of the group changed at `at` (which one, when known): assess it at the
        next instant. Without a fingerprint the whole group is looked at again."""
        s = self.state
        self._probes.discard(group_id)  # a change of its own: a full assessment
        when = self._when(group_id, at)
        if fingerprint is None:
            s.touched[group_id] = None
        elif group_id not in s.touched:
            s.touched[group_id] = {fingerprint}
        elif (known := s.touched[group_id]) is not None:
            known.add(fingerprint)
        self._schedule_group(group_id, when)

    def _when(self, group_id: str, at: datetime) -> datetime:
        """A group no open incident holds is assessed at once (at the change's own event
        time) unless it was assessed less than ASSESS_UNTIED ago, then ASSESS_UNTIED after
        that: the first declaration waits for nothing, a storm into one group is assessed ten
        times a second at most. A held group, at the next whole second."""
        s = self.state
        last = s.last_assessed.get(group_id)
        tied = s.incidents.get(s.by_group.get(group_id, ""))
        if tied is not None and tied.open:
            when = assessment_instant(at, ASSESS_EVERY)
            # Once an instant: thousands of alerts of one webhook share a received time,
            # and a time on a whole 5 s (replayed records in seconds) is its own instant.
            return when if last is None or when > last else last + ASSESS_EVERY
        if last is None or at - last >= ASSESS_UNTIED:
            return at
        return last + ASSESS_UNTIED

    def _schedule_group(self, group_id: str, when: datetime) -> None:
        s = self.state
        scheduled = s.scheduled.get(group_id)
        if scheduled is not None and scheduled <= when:
            return
        s.scheduled[group_id] = when
        heapq.heappush(s.due, (when, "group", group_id))

    def refresh(self, group_id: str, at: datetime) -> None:
        """The group had a report that changed nothing scoring reads (a repeat): assess it
        again only if it has not been for REFRESH_EVERY (its duration still counts)."""
        s = self.state
        last = s.last_assessed.get(group_id)
        if last is None or at - last >= REFRESH_EVERY:
            self._probes.discard(group_id)
            s.touched.setdefault(group_id, set())
            self._schedule_group(group_id, self._when(group_id, at))

    def arrived(self, at: datetime, spec: DeclarationFile) -> None:
        """A new or re-firing alert (what the storm rate counts)."""
        self.state.arrivals.append(at)
        self.state.last_minute.append(at)
        self._prune(at, spec)

    def _prune(self, now: datetime, spec: DeclarationFile) -> None:
        s = self.state
        horizon = now - spec.policy.storm.window
        while s.arrivals and s.arrivals[0] < horizon:
            s.arrivals.popleft()
        horizon = now - timedelta(minutes=1)
        while s.last_minute and s.last_minute[0] < horizon:
            s.last_minute.popleft()

    def next_due(self) -> datetime | None:
        return self.state.due[0][0] if self.state.due else None

    def run_due(
        self,
        until: datetime,
        *,
        groups: Mapping[str, Group],
        alerts: Mapping[str, AlertState],
        impact: ImpactMap,
        spec: DeclarationFile,
        version: str,
    ) -> list[Verdict]:
        """Assess the groups and auto-resolve the incidents due by `until`, in time order."""
        s = self.state
        out: list[Verdict] = []
        while s.due and s.due[0][0] <= until:
            when, kind, name = heapq.heappop(s.due)
            if kind == "group":
                if s.scheduled.get(name) != when:
                    continue  # moved earlier meanwhile; that entry ran
                del s.scheduled[name]
                group = groups.get(name)
                if group is not None:
                    self._assess(group, alerts, impact, spec, version, when, out)
            elif kind == "incident":
                self._auto_resolve(name, spec, when, out)
            elif kind == "sla":
                self._check_sla(name, spec, when, out)
            elif kind == "followup":
                self._check_followup(name, spec, when, out)
            else:
                self.forget_incident(name)
        return out

    def forget_group(self, group_id: str) -> None:
        """The engine evicted the group (resolved long ago)."""
        s = self.state
        self._keep_score(group_id, None)  # while by_group still says whose group it was
        s.by_group.pop(group_id, None)
        self._root_index(group_id, ())
        s.last_assessed.pop(group_id, None)
        self._tallies.pop(group_id, None)
        if group_id in s.pending or group_id in s.assessed:
            s.pending.pop(group_id, None)
            s.assessed.pop(group_id, None)
            s.meta_changed = True

    def forget_incident(self, incident_id: str) -> None:
        """Drop a resolved incident from memory (the store keeps it). One with an open
        follow-up is kept: its overdue timer needs it (closing the last one forgets it)."""
        s = self.state
        found = s.incidents.get(incident_id)
        if found is None or found.open or any(f.open for f in found.followups):
            return
        del s.incidents[incident_id]
        for gid in found.groups:
            if s.by_group.get(gid) == incident_id:
                del s.by_group[gid]
        s.changed.discard(incident_id)
        s.forgotten.add(incident_id)

    def take(self) -> DeclareChanges:
        s = self.state
        out = DeclareChanges(
            incidents=tuple(s.incidents[i] for i in sorted(s.changed) if i in s.incidents),
            entries=tuple(s.entries),
            meta=meta_view(s) if s.meta_changed else None,
            forgotten=tuple(sorted(s.forgotten)),
        )
        s.changed.clear()
        s.entries.clear()
        s.meta_changed = False
        s.forgotten.clear()
        return out

    # -- people ------------------------------------------------------------------------------

    def command(
        self,
        cmd: Command,
        spec: DeclarationFile,
        now: datetime,
        *,
        impact: ImpactMap,
        version: str,
        command_id: str = "",
    ) -> Incident:
        """Apply a person's change; raises InputError (404 unknown incident or follow-up, 409
        a move the rules forbid or too many follow-ups, 422 an empty note or title or an
        unknown service). A `command_id` already applied changes nothing (and answers with
        the incident as it is)."""
        if cmd.action == "declare":
            return self._declare_by_hand(cmd, spec, now, impact, version, command_id)
        found = self.state.incidents.get(cmd.incident_id)
        if found is None:
            raise UnknownIncident(f"no incident {cmd.incident_id} is open or recent")
        if command_id and command_id in self.state.applied:
            return found
        if cmd.action == "merge":
            return self._merge(found, cmd, spec, now, command_id)
        step = _step(found, cmd, now)
        self._apply(step, spec)
        self._remember(command_id)
        return step.incident

    def readmit(self, incident: Incident, spec: DeclarationFile) -> None:
        """Take back an incident the engine had forgotten (resolved long ago), as the store
        keeps it, for a person's change to its follow-ups. It is forgotten again once
        nothing holds it (no open follow-up, past its retention)."""
        s = self.state
        if incident.id in s.incidents:
            return
        s.incidents[incident.id] = incident
        s.changed.add(incident.id)  # live again: a new leader loads it too
        s.forgotten.discard(incident.id)
        self._schedule(incident, spec)

    def _declare_by_hand(
        self,
        cmd: Command,
        spec: DeclarationFile,
        now: datetime,
        impact: ImpactMap,
        version: str,
        command_id: str,
    ) -> Incident:
        s = self.state
        made = s.made.get(command_id) if command_id else None
        if made is not None and made in s.incidents:
            return s.incidents[made]  # the same declaration delivered again
        unknown = [name for name in cmd.services if impact.service(name) is None]
        if unknown:
            raise WrongShape("$.services", f"not in services.yaml: {', '.join(unknown)}")
        radius = impact.blast_radius(cmd.services)
        step = inc.declare_by_hand(
            number=self._number(),
            title=cmd.title,
            priority=cmd.priority or spec.policy.declare_at,
            services=sorted(radius.services) or list(cmd.services),
            capabilities=sorted(radius.capabilities),
            actor=cmd.actor,
            note=cmd.text,
            rules_version=version,
            now=now,
        )
        incident = replace(step.incident, root_causes=tuple(cmd.services))
        step = Transition(incident, step.entries)
        self._apply(step, spec)
        self._remember(command_id)
        if command_id:
            s.made[command_id] = incident.id
            while len(s.made) > APPLIED_KEPT:
                del s.made[next(iter(s.made))]
        return incident

    def _merge(
        self, found: Incident, cmd: Command, spec: DeclarationFile, now: datetime, command_id: str
    ) -> Incident:
        target = self.state.incidents.get(cmd.into or "")
        if target is None:
            raise UnknownIncident(f"no incident {cmd.into} is open or recent")
        grown, closed = inc.merge(target, found, actor=cmd.actor, now=now, note=cmd.text)
        self._apply(grown, spec)
        self._apply(closed, spec)
        for gid in found.groups:
            self.state.by_group[gid] = target.id
        self._remember(command_id)
        return self.state.incidents[target.id]

    def _remember(self, command_id: str) -> None:
        if command_id:
            self.state.applied.append(command_id)
            self.state.meta_changed = True

    # -- assessment --------------------------------------------------------------------------

    def _rate(self, now: datetime, spec: DeclarationFile) -> float:
        """New and re-firing alerts a minute: the higher of the last minute's count and the
        average over the storm window, so that a storm that breaks out at once is seen
        within a minute, and one that builds up slowly is seen too."""
        self._prune(now, spec)
        s = self.state
        minutes = max(spec.policy.storm.window / timedelta(minutes=1), 1.0)
        return max(float(len(s.last_minute)), len(s.arrivals) / minutes)

    def _assess(
        self,
        group: Group,
        alerts: Mapping[str, AlertState],
        impact: ImpactMap,
        spec: DeclarationFile,
        version: str,
        now: datetime,
        out: list[Verdict],
    ) -> None:
        s = self.state
        touched = s.touched.pop(group.id, None)
        probe = group.id in self._probes  # only whether it joins the incident that reached it
        self._probes.discard(group.id)
        facts = self._facts(group, alerts, spec, touched)
        scored = self._score(facts, impact, spec, now)
        tied = s.incidents.get(s.by_group.get(group.id, ""))
        if tied is not None and tied.open:
            self._keep_score(group.id, scored)
            scored = self._most_urgent(tied, scored)
        policy = spec.policy
        decision = evaluate(
            facts,
            scored,
            incident=tied,
            open_incidents=[i for i in s.incidents.values() if i.open],
            resolved=[i for i in s.incidents.values() if _cooling(i, now, policy.cool_down)],
            pending_since=s.pending.get(group.id),
            alert_rate=self._rate(now, spec),
            policy=policy,
            rules_version=version,
            now=now,
        )
        if probe and decision.action is not Action.JOIN:
            return  # otherwise as if it had not been looked at (its own changes decide)
        s.last_assessed[group.id] = now
        self._keep_pending(group.id, decision)
        before = s.incidents.get(decision.incident_id or "")
        target = self._act(decision, facts, scored, impact, spec, now)
        if target is not None:
            s.by_group[group.id] = target.id
            fresh = decision.action in (Action.DECLARE, Action.JOIN, Action.ABSORB_INTO_STORM)
            self._sync_alerts(target, group, facts, impact, spec, now, None if fresh else touched)
            if fresh:
                self._widened(before, target, group.id, now)
        untied = target is None and facts.drivers.count
        self._root_index(group.id, facts.root_causes if untied else ())
        self._record(decision, target, out)
        out.extend(self._pending_verdicts)
        self._pending_verdicts.clear()

    def _root_index(self, group_id: str, causes: Sequence[str]) -> None:
        """Index the group under its root causes while no incident holds it (`causes`
        empty: take it out)."""
        old = self._roots_of.pop(group_id, ())
        for name in old:
            found = self._by_root.get(name)
            if found is not None:
                found.discard(group_id)
                if not found:
                    del self._by_root[name]
        if causes:
            self._roots_of[group_id] = tuple(causes)
            for name in causes:
                self._by_root.setdefault(name, set()).add(group_id)

    def _widened(
        self, before: Incident | None, after: Incident, group_id: str, now: datetime
    ) -> None:
        """A declaration, a join or a growing group widened an incident: the groups no
        incident holds whose root cause it now reaches (or shares) are assessed again at
        once, to join it. They may have been assessed before the incident reached them, and
        a sender repeats a firing alert only hours later (Alertmanager's repeat_interval):
        they would join only when they change. Only a join counts: any other outcome waits
        for the group's own changes, so that one incident never makes another declare."""
        reached = _reached(before, after)
        s = self.state
        for name in sorted(reached):
            for gid in sorted(self._by_root.get(name, ())):
                if gid != group_id and gid not in s.by_group and gid not in s.touched:
                    self._probes.add(gid)
                    s.touched[gid] = set()
                    self._schedule_group(gid, self._when(gid, now))

    def _score(
        self, facts: GroupFacts, impact: ImpactMap, spec: DeclarationFile, now: datetime
    ) -> Score:
        scoring = spec.scoring
        odds = scoring.transient_odds
        return score(facts, impact, spec=scoring, now=now, transient=odds, cache=self._scores)

    def _facts(
        self,
        group: Group,
        alerts: Mapping[str, AlertState],
        spec: DeclarationFile,
        touched: set[str] | None,
    ) -> GroupFacts:
        """The group's facts from its tally, brought up to date with the members that changed
        (`touched`; None: all of them). A tally that disagrees with the group's own counts
        of firing members (a change nobody marked) is built again."""
        tally = self._tallies.get(group.id)
        if tally is None or tally.spec is not spec.scoring:
            tally = self._tallies[group.id] = Tally(spec.scoring)
            touched = None
        members = group.members
        if touched is None:
            for fingerprint in [*tally.driving, *tally.not_driving, *members]:
                tally.put(fingerprint, members.get(fingerprint), alerts.get(fingerprint))
        else:
            for fingerprint in touched:
                tally.put(fingerprint, members.get(fingerprint), alerts.get(fingerprint))
            if tally.firing != group.firing or len(tally.driving) + tally.unknown != group.driving:
                return self._facts(group, alerts, spec, None)
        if self.verify:
            expected = facts_of(group, alerts, spec=spec.scoring)
            if (copied := tally.facts(group)) != expected:
                raise RuntimeError(f"tally of {group.id} is off: {copied} != {expected}")
        return tally.facts(group, copy=False)  # read within this assessment only

    def _most_urgent(self, incident: Incident, fresh: Score) -> Score:
        """An incident of several groups follows its most urgent group, not the last one
        assessed: a calming group must not note a downgrade while another one burns. The
        first of its groups (in order) at the highest priority, unless `fresh` (the group
        just assessed) has it too. Kept between assessments (see `_keep_score`): a storm
        incident of 1,700 groups is assessed group by group, and joined one group at a time."""
        top = self._tops.get(incident.id)
        if top is None:
            top = (incident.groups, *self._top_of(incident))
        elif top[0] is not incident.groups:
            # the groups that joined since come after the others: they lead only if higher
            seen, priority, gid = top
            for joined in incident.groups.since(seen):
                other = self.state.scores.get(joined)
                if other is not None and (priority is None or other.priority.above(priority)):
                    priority, gid = other.priority, joined
            top = (incident.groups, priority, gid)
        self._tops[incident.id] = top
        if self.verify and top[1:] != self._top_of(incident):
            raise RuntimeError(f"the most urgent group of {incident.id} is off")
        _, priority, gid = top
        if priority is None or not priority.above(fresh.priority):
            return fresh
        return self.state.scores[gid]

    def _top_of(self, incident: Incident) -> tuple[Priority | None, str]:
        best: tuple[Priority | None, str] = (None, "")
        for gid in incident.groups:
            other = self.state.scores.get(gid)
            if other is not None and (best[0] is None or other.priority.above(best[0])):
                best = (other.priority, gid)
        return best

    def _keep_score(self, group_id: str, scored: Score | None) -> None:
        """The latest score of a group tied to an open incident (None: forget it); the
        incident's most urgent group follows when a priority moved."""
        s = self.state
        old = s.scores.pop(group_id, None) if scored is None else s.scores.get(group_id)
        if scored is not None:
            s.scores[group_id] = scored
        if old is None or scored is None or old.priority is not scored.priority:
            priority = None if scored is None else scored.priority
            self._retop(s.by_group.get(group_id, ""), group_id, priority)

    def _retop(self, incident_id: str, group_id: str, priority: Priority | None) -> None:
        """The incident's most urgent group once `group_id` is at `priority` (None: it has no
        score now). Looked for again among all its groups only when the most urgent one
        falls; a group not among those seen yet is `_most_urgent`'s to look at."""
        top = self._tops.get(incident_id)
        if top is None:
            return
        groups, best, first = top
        if group_id not in groups:
            return
        if group_id == first:
            if priority is None or best is None or best.above(priority):
                del self._tops[incident_id]
            else:
                self._tops[incident_id] = (groups, priority, group_id)
        elif priority is not None and (
            best is None
            or priority.above(best)
            or (priority is best and groups.precedes(group_id, first))
        ):
            self._tops[incident_id] = (groups, priority, group_id)

    def _keep_pending(self, group_id: str, decision: PolicyDecision) -> None:
        s = self.state
        before = s.pending.get(group_id)
        if decision.pending_since is None:
            if before is not None:
                del s.pending[group_id]
                s.meta_changed = True
        elif before != decision.pending_since:
            s.pending[group_id] = decision.pending_since
            s.meta_changed = True
        if decision.action is Action.HOLD and decision.until is not None:
            self.mark(group_id, decision.until)

    def _act(
        self,
        decision: PolicyDecision,
        facts: GroupFacts,
        scored: Score,
        impact: ImpactMap,
        spec: DeclarationFile,
        now: datetime,
    ) -> Incident | None:
        """Apply the decision; the incident the group is tied to afterwards, if any."""
        s = self.state
        reasons = decision.reasons
        current = s.incidents.get(decision.incident_id or "")
        step: Transition | None = None
        if decision.action is Action.DECLARE:
            step = inc.declare(
                facts,
                scored,
                number=self._number(),
                reasons=reasons,
                rules_version=decision.rules_version,
                now=now,
            )
        elif decision.action in (Action.JOIN, Action.ABSORB_INTO_STORM) and current is not None:
            step = inc.join(
                current,
                facts,
                scored,
                reasons=reasons,
                now=now,
                root_causes=impact.root_causes,
            )
        elif decision.action is Action.ABSORB_INTO_STORM:
            step = inc.declare_storm(
                facts,
                scored,
                number=self._number(),
                alert_rate=self._rate(now, spec),
                storm=spec.policy.storm,
                reasons=reasons,
                rules_version=decision.rules_version,
                now=now,
            )
        elif decision.action is Action.ESCALATE and current is not None:
            step = inc.escalate(current, scored, reasons=reasons, now=now)
        elif decision.action is Action.NOTE_DOWNGRADE and current is not None:
            step = inc.note_downgrade(current, scored, reasons=reasons, now=now)
        if step is not None:
            self._apply(step, spec)
            if decision.action in (Action.DECLARE, Action.ABSORB_INTO_STORM):
                self._declare_clock(step.incident, spec, now)
            return self.state.incidents[step.incident.id]
        tied = s.incidents.get(s.by_group.get(facts.group_id, ""))
        return tied if tied is not None and tied.open else None

    def _declare_clock(self, incident: Incident, spec: DeclarationFile, now: datetime) -> None:
        """Time to declare is known at once: from the first alert to now."""
        target = sla_target(incident, "declare", spec)
        start = incident.started_at
        if target is not None and start is not None and now - start > target:
            self._breach(incident, "declare", spec, now, self._pending_verdicts)

    def _number(self) -> int:
        s = self.state
        number = s.next_number
        s.next_number += 1
        s.meta_changed = True
        return number

    def _sync_alerts(
        self,
        incident: Incident,
        group: Group,
        facts: GroupFacts,
        impact: ImpactMap,
        spec: DeclarationFile,
        now: datetime,
        touched: set[str] | None,
    ) -> None:
        """The incident's alerts follow the group: driving alerts attached, resolved ones
        marked so (the last one starts the quiet period of auto-resolve). Only the members
        that changed are looked at (`touched`; None: all of them)."""
        driving = facts.driving
        if touched is None:
            signals = facts.signals
        else:
            signals = tuple(driving[fp] for fp in sorted(touched) if fp in driving)
        step = inc.attach_alerts(incident, signals, now=now)
        firing = step.incident.firing
        members = group.members
        gone = [
            fp
            for fp in (members if touched is None else sorted(touched))
            if fp in firing and (m := members.get(fp)) is not None and m.status is not Status.FIRING
        ]
        if gone:
            resolved = inc.resolve_alerts(step.incident, gone, now=now)
            step = Transition(resolved.incident, step.entries + resolved.entries)
        if self.verify:
            _check_ids(step.incident)
        if step.entries:
            self._apply(step, spec)
        score_now = self.state.scores.get(group.id)
        latest = self.state.incidents[incident.id]
        if score_now is None or not latest.open:
            return
        scored = latest if latest.score is score_now else inc.update_score(latest, score_now)
        wider = inc.widen(scored, facts, score_now, root_causes=impact.root_causes)
        if wider is not latest:
            self.state.incidents[incident.id] = wider
            self.state.changed.add(incident.id)
            self._widened(latest, wider, group.id, now)

    def _apply(self, step: Transition, spec: DeclarationFile) -> None:
        s = self.state
        incident = step.incident
        before = s.incidents.get(incident.id)
        s.incidents[incident.id] = incident
        s.changed.add(incident.id)
        s.entries.extend((incident.id, entry) for entry in step.entries)
        if before is None or before.groups is not incident.groups:  # joins, merges
            # only the groups it did not hold: a storm incident holds over a thousand
            for gid in incident.groups.since(IdSeq() if before is None else before.groups):
                s.by_group.setdefault(gid, incident.id)
        self._schedule(incident, spec)

    def _schedule(self, incident: Incident, spec: DeclarationFile) -> None:
        """Its auto-resolve, or, once resolved, when the engine may forget it."""
        due = inc.auto_resolve_due(incident, spec.policy.auto_resolve)
        if due is not None:
            heapq.heappush(self.state.due, (due, "incident", incident.id))
        if incident.resolved_at is not None and not incident.open:
            forget_at = incident.resolved_at + max(self._retention, spec.policy.cool_down)
            heapq.heappush(self.state.due, (forget_at, "forget", incident.id))
        for clock in ("acknowledge", "resolve"):
            due = sla_due(incident, clock, spec)
            key = (incident.id, clock)
            if due is not None and self.state.sla_due.get(key) != due:
                self.state.sla_due[key] = due
                heapq.heappush(self.state.due, (due, "sla", f"{incident.id}|{clock}"))
        for followup in incident.followups:
            watch = watch_at(followup)
            key = (incident.id, followup.id)
            if watch is not None and self.state.followup_due.get(key) != watch:
                self.state.followup_due[key] = watch
                heapq.heappush(self.state.due, (watch, "followup", "|".join(key)))

    def _check_followup(
        self, name: str, spec: DeclarationFile, when: datetime, out: list[Verdict]
    ) -> None:
        incident_id, _, followup_id = name.partition("|")
        key = (incident_id, followup_id)
        found = self.state.incidents.get(incident_id)
        if found is None or self.state.followup_due.get(key) != when:
            return  # its due date moved (its own entry is queued), or forgotten
        del self.state.followup_due[key]
        step = inc.followup_overdue(found, followup_id, now=when)
        if not step.entries:
            return  # done, cancelled or given no due date meanwhile
        self._apply(step, spec)
        details = step.entries[-1].details
        out.append(
            Verdict(
                "incident.followup_overdue",
                when,
                None,
                found.id,
                (f"follow-up {followup_id} ({details['title']}) was due {details['due']}",),
            )
        )

    def _check_sla(
        self, name: str, spec: DeclarationFile, when: datetime, out: list[Verdict]
    ) -> None:
        incident_id, _, clock = name.partition("|")
        found = self.state.incidents.get(incident_id)
        if found is None or self.state.sla_due.get((incident_id, clock)) != when:
            return  # rescheduled (escalated, reopened) or forgotten
        del self.state.sla_due[(incident_id, clock)]
        if sla_due(found, clock, spec) != when:
            return
        self._breach(found, clock, spec, when, out)

    def _breach(
        self, found: Incident, clock: str, spec: DeclarationFile, when: datetime, out: list[Verdict]
    ) -> None:
        target = sla_target(found, clock, spec)
        if target is None:
            return
        start = found.started_at if clock == "declare" else (found.reopened_at or found.declared_at)
        due = (start or found.declared_at) + target
        step = inc.breach(found, clock, target=target, due=due, now=when)
        if not step.entries:
            return
        self._apply(step, spec)
        priority = found.priority.value
        out.append(
            Verdict(
                "incident.sla_breached",
                when,
                None,
                found.id,
                (f"{clock} SLA for {priority} is {target}: due {due.isoformat()}, not met",),
                detail=f"{clock}/{priority}",
            )
        )

    def _auto_resolve(
        self, incident_id: str, spec: DeclarationFile, when: datetime, out: list[Verdict]
    ) -> None:
        found = self.state.incidents.get(incident_id)
        if found is None or inc.auto_resolve_due(found, spec.policy.auto_resolve) != when:
            return  # something fired again, or a person decided
        step = inc.auto_resolve(found, policy=spec.policy.auto_resolve, now=when)
        if step is None:
            return
        self._apply(step, spec)
        quiet = spec.policy.auto_resolve.quiet_period
        out.append(
            Verdict(
                f"incident.{step.incident.status.value}",
                when,
                None,
                incident_id,
                (f"auto-resolve: every alert resolved and {quiet} passed quietly",),
            )
        )

    def _record(
        self, decision: PolicyDecision, incident: Incident | None, out: list[Verdict]
    ) -> None:
        """A verdict when the assessment says something new for the group (not every second
        of a storm that keeps the same priority)."""
        s = self.state
        tied = None if incident is None else incident.id
        key = (decision.action.value, decision.priority.value, tied)
        before = s.assessed.get(decision.group_id)
        if before == key:
            return
        s.assessed[decision.group_id] = key
        s.meta_changed = True
        if decision.action is Action.NONE and before is not None and before[1:] == key[1:]:
            return  # "stays as it is" after a change already recorded: no news
        out.append(
            Verdict(
                f"incident.{decision.action.value}",
                decision.at,
                decision.group_id,
                tied or decision.incident_id,
                decision.reasons,
            )
        )


def _step(found: Incident, cmd: Command, now: datetime) -> Transition:
    """The transition of a person's command on one incident (not a merge or a declaration).
    Raises InputError subclasses (see `Declarer.command`)."""
    actor = cmd.actor
    if cmd.action == "status" and cmd.status is not None:
        return inc.set_status(found, cmd.status, actor=actor, now=now, note=cmd.text)
    if cmd.action == "reopen":
        return inc.reopen(found, actor=actor, now=now, reason=cmd.text)
    if cmd.action == "note":
        return inc.add_note(found, cmd.text, actor=actor, now=now)
    if cmd.action == "commander":
        return inc.set_commander(found, cmd.commander, actor=actor, now=now)
    if cmd.action == "record":
        return inc.record_action(
            found,
            action=cmd.event,
            target=cmd.target,
            outcome=cmd.outcome,
            detail=cmd.text,
            now=now,
            actor=actor,
        )
    if cmd.action == "followup" and cmd.edit is not None:
        return inc.add_followup(found, cmd.edit, actor=actor, now=now, note=cmd.text)
    if cmd.action == "followup_update" and cmd.edit is not None:
        return inc.change_followup(
            found, cmd.followup, edit=cmd.edit, actor=actor, now=now, note=cmd.text
        )
    raise InputError(f"unknown command {cmd.action!r}")


def sla_target(incident: Incident, clock: str, spec: DeclarationFile) -> timedelta | None:
    targets = spec.sla.get(incident.priority)
    return None if targets is None else getattr(targets, clock, None)


def sla_due(incident: Incident, clock: str, spec: DeclarationFile) -> datetime | None:
    """When the acknowledge or resolve clock runs out; None when it is met, stopped or has
    no target (a reopened incident's clocks restart at the reopening)."""
    target = sla_target(incident, clock, spec)
    if target is None or clock in incident.breached:
        return None
    if clock == "acknowledge" and incident.status is not IncidentStatus.DECLARED:
        return None
    if clock == "resolve" and incident.status is IncidentStatus.RESOLVED:
        return None
    return (incident.reopened_at or incident.declared_at) + target


def sla_view(incident: Incident, spec: DeclarationFile, now: datetime) -> dict[str, Any]:
    """Each clock of the incident's priority: target, due, and met, breached or running."""
    out: dict[str, Any] = {}
    for clock in ("declare", "acknowledge", "resolve"):
        target = sla_target(incident, clock, spec)
        if target is None:
            continue
        end: datetime | None
        if clock == "declare":
            start, end = incident.started_at or incident.declared_at, incident.declared_at
        else:
            start = incident.reopened_at or incident.declared_at
            end = incident.acknowledged_at if clock == "acknowledge" else incident.resolved_at
            if clock == "acknowledge" and end is None:
                end = incident.mitigated_at or incident.resolved_at
        due = start + target
        if clock in incident.breached:
            state = "breached"
        elif end is not None:
            state = "met" if end <= due else "breached"
        else:
            state = "breached" if now > due else "running"
        out[clock] = {
            "target_seconds": target.total_seconds(),
            "due": due.isoformat(),
            "state": state,
            "took_seconds": None if end is None else (end - start).total_seconds(),
        }
    return out


def _check_ids(incident: Incident) -> None:
    """Raise RuntimeError when what the incident's updates rely on is off: an IdSeq's index
    against its items, a firing alert that was never attached, services or group keys not
    sorted once each (`incident._union`)."""
    incident.groups.check()
    incident.alerts.check()
    incident.firing.check()
    if any(fp not in incident.alerts for fp in incident.firing):
        raise RuntimeError(f"{incident.id} fires alerts it never attached")
    for names in (incident.services, incident.group_keys):
        if list(names) != sorted(set(names)):
            raise RuntimeError(f"{incident.id}: {names[:3]}... not sorted once each")


def _reached(before: Incident | None, after: Incident) -> set[str]:
    """The services and root causes of `after` that `before` had in neither. Only the lists
    that changed are read: at most assessments of a storm incident's groups, none did."""
    if before is None:
        return {*after.services, *after.root_causes}
    reached: set[str] = set()
    if after.services is not before.services:
        reached.update(after.services)
    if after.root_causes is not before.root_causes:
        reached.update(after.root_causes)
    reached.difference_update(before.root_causes)
    return {n for n in reached if not before.impacts(n)}


def _cooling(incident: Incident, now: datetime, cool_down: timedelta) -> bool:
    at = incident.resolved_at
    return not incident.open and at is not None and now - at <= cool_down


class UnknownIncident(InputError):
    status = 404
    reason = "unknown_incident"
