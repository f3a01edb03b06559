"""Replay evidence for the learned suggestions: what one RuleSet did with a history, and what
changed when a proposal was applied to it.

`run(lines, rules)` replays the history through `incidentd.replay.replay` (the same engine and
driver as `incidentd replay`) and keeps what the suggestions read from its decisions: when
each alert started and ended firing and the group it landed in, the groups opened, and the
incidents declared with the groups tied to them (declared, joined, absorbed into a storm).
`compare(before, after, focus=...)` matches incidents of two runs by the alert firings they
hold (an alert's fingerprint and the instant it started firing), so that it can say which
incidents were avoided, merged, split, delayed or new. Pure apart from the replay it drives:
no clock, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from incidentd import replay
from incidentd.engine import Decision
from incidentd.rules.loader import RuleSet

_PRIORITY = re.compile(r"^(P[1-5]):")
DELAY_NOTED = timedelta(seconds=1)
"""A declaration later than this in the proposal's replay is reported as delayed."""

Firing = tuple[str, datetime]
"""(fingerprint, received_at of the report that made it fire): one alert firing."""


@dataclass(frozen=True, slots=True)
class Onset:
    fingerprint: str
    at: datetime
    group_id: str


@dataclass(frozen=True, slots=True)
class End:
    fingerprint: str
    at: datetime
    by: str
    """`resolve` (its sender resolved it) or `expire` (its time to live ran out)."""


@dataclass(slots=True)
class IncidentTrace:
    id: str
    declared_at: datetime
    priority: str
    storm: bool = False
    groups: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Run:
    """What one replay of the history did, as the suggestions read it."""

    rules_version: str
    onsets: list[Onset] = field(default_factory=list)
    ends: list[End] = field(default_factory=list)
    groups: int = 0
    incidents: dict[str, IncidentTrace] = field(default_factory=dict)
    incident_of_group: dict[str, str] = field(default_factory=dict)
    """Group id -> the incident it was declared as, joined or was absorbed into (the first)."""
    declared_groups: set[str] = field(default_factory=set)
    """Groups that declared an incident or were absorbed into a storm (a join is neither:
    it happens whatever the group's priority and sustain)."""
    alerts: int = 0
    seconds: float = 0.0

    def see(self, decision: Decision) -> None:
        kind = decision.kind
        if kind in ("alert.new", "alert.reopen") and decision.fingerprint and decision.group_id:
            self.onsets.append(Onset(decision.fingerprint, decision.at, decision.group_id))
        elif kind in ("alert.resolve", "alert.expire") and decision.fingerprint:
            self.ends.append(End(decision.fingerprint, decision.at, kind.removeprefix("alert.")))
        elif kind == "group.opened":
            self.groups += 1
        elif kind in ("incident.declare", "incident.join", "incident.absorb_into_storm"):
            self._tie(decision)

    def _tie(self, decision: Decision) -> None:
        incident_id, group_id = decision.incident_id, decision.group_id
        if incident_id is None or group_id is None:
            return
        if incident_id not in self.incidents:
            first = decision.reasons[0] if decision.reasons else ""
            found = _PRIORITY.match(first)
            self.incidents[incident_id] = IncidentTrace(
                incident_id,
                decision.at,
                found.group(1) if found else "?",
                storm=decision.kind == "incident.absorb_into_storm",
            )
        if decision.kind != "incident.join":
            self.declared_groups.add(group_id)
        trace = self.incidents[incident_id]
        if group_id not in trace.groups:
            trace.groups.append(group_id)
        self.incident_of_group.setdefault(group_id, incident_id)

    def incident_of(self) -> dict[Firing, str]:
        """Each firing whose group reached an incident -> that incident."""
        tied = self.incident_of_group
        return {(o.fingerprint, o.at): tied[o.group_id] for o in self.onsets if o.group_id in tied}


def run(lines: Sequence[bytes], rules: RuleSet, *, settle: timedelta = timedelta(hours=1)) -> Run:
    """Replay `lines` (normalized alerts or webhook records, in order) under `rules`."""
    out = Run(rules.version)
    _, summary = replay.replay(lines, rules, settle=settle, strict=True, on_decision=out.see)
    out.alerts = summary.alerts
    out.seconds = summary.seconds
    return out


@dataclass(frozen=True, slots=True)
class IncidentRef:
    id: str
    priority: str
    declared_at: datetime
    focus: bool
    """It holds an alert of the proposal's types."""


@dataclass(frozen=True, slots=True)
class Delay:
    before: IncidentRef
    after: IncidentRef
    seconds: float


@dataclass(frozen=True, slots=True)
class Merge:
    after: IncidentRef
    before: tuple[IncidentRef, ...]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a proposal changed on the history: totals, then the proposal's own alerts (its
    focus: the types it is about), then incident by incident."""

    groups: tuple[int, int]
    incidents: tuple[int, int]
    focus_groups: tuple[int, int]
    """Groups that held a firing of the focus types."""
    focus_incident_groups: tuple[int, int]
    """Of those, groups that reached an incident (declared, joined or absorbed)."""
    focus_declared: tuple[int, int]
    """Of those, groups that declared an incident (or were absorbed into a storm)."""
    focus_incidents: tuple[int, int]
    """Incidents that held a firing of the focus types."""
    avoided: tuple[IncidentRef, ...]
    merged: tuple[Merge, ...]
    split: tuple[IncidentRef, ...]
    new: tuple[IncidentRef, ...]
    delayed: tuple[Delay, ...]
    """The same incident, from the same first alert, declared later."""
    started_later: tuple[Delay, ...]
    """The same incident, declared on a later alert: its first alert no longer reached it."""
    seconds: float
    """How long the proposal's replay took."""

    @property
    def side_effects(self) -> int:
        """Incidents changed that hold none of the focus types' alerts."""
        changed = [*self.avoided, *self.split, *self.new, *(m.after for m in self.merged)]
        return sum(1 for ref in changed if not ref.focus)


def _refs(
    run_: Run, keys: dict[str, set[Firing]], focus: Collection[str]
) -> dict[str, IncidentRef]:
    return {
        i.id: IncidentRef(
            i.id, i.priority, i.declared_at, any(fp in focus for fp, _ in keys.get(i.id, ()))
        )
        for i in run_.incidents.values()
    }


def _by_incident(mapping: dict[Firing, str]) -> dict[str, set[Firing]]:
    out: dict[str, set[Firing]] = {}
    for key, incident in mapping.items():
        out.setdefault(incident, set()).add(key)
    return out


def focus_groups(run_: Run, focus: Collection[str]) -> tuple[int, int, int]:
    """Groups holding a firing of `focus`; of them, those that reached an incident, and
    those that declared one (or were absorbed into a storm)."""
    groups = {o.group_id for o in run_.onsets if o.fingerprint in focus}
    reached = sum(1 for g in groups if g in run_.incident_of_group)
    return len(groups), reached, sum(1 for g in groups if g in run_.declared_groups)


def compare(before: Run, after: Run, *, focus: Iterable[str]) -> Evidence:
    """What changed from `before` to `after`; `focus`: the fingerprints the proposal is about."""
    focus = frozenset(focus)
    inc_before, inc_after = before.incident_of(), after.incident_of()
    keys_before, keys_after = _by_incident(inc_before), _by_incident(inc_after)
    refs_before = _refs(before, keys_before, focus)
    refs_after = _refs(after, keys_after, focus)
    avoided: list[IncidentRef] = []
    split: list[IncidentRef] = []
    new: list[IncidentRef] = []
    merged: list[Merge] = []
    delayed: list[Delay] = []
    started_later: list[Delay] = []
    for incident_id, ref in refs_before.items():
        there = {inc_after[k] for k in keys_before.get(incident_id, ()) if k in inc_after}
        if not there:
            avoided.append(ref)
        elif len(there) > 1:
            split.append(ref)
    for incident_id, ref in refs_after.items():
        was = {inc_before[k] for k in keys_after.get(incident_id, ()) if k in inc_before}
        if not was:
            new.append(ref)
        elif len(was) > 1:
            merged.append(Merge(ref, tuple(refs_before[i] for i in sorted(was))))
        else:
            old_id = next(iter(was))
            old = refs_before[old_id]
            late = (ref.declared_at - old.declared_at).total_seconds()
            if late <= DELAY_NOTED.total_seconds():
                continue
            first_before = min(keys_before[old_id], key=lambda k: (k[1], k[0]))
            first_after = min(keys_after[incident_id], key=lambda k: (k[1], k[0]))
            held = delayed if first_before == first_after else started_later
            held.append(Delay(old, ref, late))
    fg_before, fig_before, fd_before = focus_groups(before, focus)
    fg_after, fig_after, fd_after = focus_groups(after, focus)
    return Evidence(
        groups=(before.groups, after.groups),
        incidents=(len(before.incidents), len(after.incidents)),
        focus_groups=(fg_before, fg_after),
        focus_incident_groups=(fig_before, fig_after),
        focus_declared=(fd_before, fd_after),
        focus_incidents=(
            sum(1 for r in refs_before.values() if r.focus),
            sum(1 for r in refs_after.values() if r.focus),
        ),
        avoided=tuple(avoided),
        merged=tuple(merged),
        split=tuple(split),
        new=tuple(new),
        delayed=tuple(delayed),
        started_later=tuple(started_later),
        seconds=after.seconds,
    )
