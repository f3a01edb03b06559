"""Business-severity scoring: what a group of alerts puts at stake, and how urgently.

`facts_of(group, alerts)` takes what scoring needs of one group (`GroupFacts`); `score`
turns the facts, the impact map and `scoring:` of declaration.yaml into a `Score`:

- **impact** (0-100 points, then a level): the criticality of the failing services and of
  their blast radius, whether customers use what is reached, users and revenue a minute at
  stake (each service and capability counted once), how many capabilities are touched;
- **urgency** (0-100 points, then a level): the most severe alert, distinct alerts, hosts,
  regions, how long it has lasted, growth; minus a share for flapping alerts;
- **priority** P1-P5 from the impact x urgency matrix, and a **0-100 score**
  (`impact_share` x impact + the rest x urgency) that orders groups of one priority;
- **factors**: every factor with its value, its contribution in points and a note, so that a
  person can read why a group is P1 and not P3; given learned odds (`transient=`, from
  `incidentd suggest`), an `urgency.transient` note that names likely-transient alerts and
  adds no points.

Only driving alerts count (firing, not silenced, not flapping): a silenced or flapping alert
never raises a score, and a group with none has no impact and no urgency. Impact comes from
the driving alerts' services only; a group with none on the map (unmapped) has the lowest
impact, and says so. Pure: no clock (time is `now`), no I/O.
"""

from __future__ import annotations

import bisect
import heapq
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, TypeVar

from incidentd.correlate.dedup import AlertState
from incidentd.correlate.grouping import Group, Member
from incidentd.correlate.impact import CRITICALITY_RANK, BlastRadius, ImpactMap
from incidentd.model import Priority, Severity, Status
from incidentd.rules.schema import (
    ImpactLevel,
    ImpactSpec,
    ImpactSteps,
    ScoringSpec,
    UrgencyLevel,
    UrgencySpec,
    UrgencySteps,
)

DEFAULT_SCORING = ScoringSpec()
TRANSIENT_NOTE_AT = 0.5
"""Learned odds of resolving by itself from which an alert is named in `urgency.transient`."""
TransientOdds = Mapping[tuple[str | None, str], float]
"""(impact-map service or None, alert name) -> learned odds that it resolves by itself."""
_PORT = re.compile(r":\d+$")
L = TypeVar("L", ImpactLevel, UrgencyLevel)
K = TypeVar("K")
V = TypeVar("V")
_SEVERITY_RANK = {s: s.rank for s in Severity}


@dataclass(frozen=True, slots=True)
class Signal:
    """One driving alert of a group, as scoring sees it."""

    fingerprint: str
    name: str
    service: str | None
    severity: Severity
    host: str | None
    region: str | None
    first_seen: datetime


@dataclass(frozen=True, slots=True)
class Drivers:
    """What urgency reads of a group's driving alerts, counted once (see `Tally`)."""

    count: int = 0
    severity: Severity | None = None
    """The most severe driving alert's severity."""
    severity_names: str = ""
    """The names of the driving alerts of that severity (`_names`, 3 of them)."""
    hosts: int = 0
    host_names: str = ""
    regions: int = 0
    region_names: str = ""
    first_seen: Sequence[datetime] = ()
    """When each driving alert was first seen, sorted (a tuple, or the tally's own list in
    facts taken with `copy=False`)."""
    kinds: frozenset[tuple[tuple[str | None, str], int]] = frozenset()
    """(service, alert name) of the driving alerts, and how many (learned odds read them)."""


@dataclass(frozen=True, slots=True)
class GroupFacts:
    """What scoring and the policy need of one group, taken at one moment."""

    group_id: str
    group_key: str
    opened_at: datetime
    services: frozenset[str]
    """Services with firing members, silenced and flapping ones included."""
    blast_radius: frozenset[str]
    """The group's blast radius and capabilities as correlation computed them (from every
    firing member): what identifies the failure for joining and cool-down."""
    capabilities: frozenset[str]
    root_causes: tuple[str, ...]
    driving: Mapping[str, Signal]
    """The driving members (firing, not silenced, not flapping) by fingerprint."""
    driving_services: frozenset[str]
    drivers: Drivers
    silenced: int
    """Firing members that are silenced (whether flapping or not)."""
    flapping: int
    """Firing members that flap and are not silenced."""
    unknown: int = 0
    """Driving members whose alert state was not given: left out of the signals."""
    silenced_services: frozenset[str] = frozenset()
    """Services with silenced firing members."""

    @property
    def signals(self) -> tuple[Signal, ...]:
        """The driving members, by fingerprint (sorted at each call: the policy needs only
        `drivers.count`; a declaration, all of them)."""
        return tuple(self.driving[fp] for fp in sorted(self.driving))


@dataclass(frozen=True, slots=True)
class Factor:
    """One reason in a score: its value, the points it adds (negative: takes off), why."""

    name: str
    value: bool | int | float | str
    contribution: float
    note: str


@dataclass(frozen=True, slots=True)
class Score:
    value: int
    """0-100: `impact_share` x impact points + the rest x urgency points, rounded."""
    priority: Priority
    impact: ImpactLevel
    urgency: UrgencyLevel
    impact_points: float
    urgency_points: float
    factors: tuple[Factor, ...]
    services: tuple[str, ...] = ()
    """What the driving alerts' failure reaches (their blast radius), sorted."""
    capabilities: tuple[str, ...] = ()
    """The capabilities touched, most at stake first (see `by_stakes`)."""

    def summary(self) -> str:
        return (
            f"{self.priority}: impact {self.impact} ({self.impact_points:g}/100) x urgency "
            f"{self.urgency} ({self.urgency_points:g}/100), score {self.value}/100"
        )

    def explanation(self) -> tuple[str, ...]:
        """One line per factor: `name +points: note`."""
        return tuple(f"{f.name} {f.contribution:+g}: {f.note}" for f in self.factors)

    def view(self) -> dict[str, Any]:
        """JSON-ready (through orjson or json)."""
        return {
            "value": self.value,
            "priority": self.priority.value,
            "summary": self.summary(),
            "impact": {"level": self.impact.value, "points": self.impact_points},
            "urgency": {"level": self.urgency.value, "points": self.urgency_points},
            "factors": [
                {"name": f.name, "value": f.value, "contribution": f.contribution, "note": f.note}
                for f in self.factors
            ],
            "services": list(self.services),
            "capabilities": list(self.capabilities),
        }


# --- facts -----------------------------------------------------------------------------------


def _label(labels: Mapping[str, str], names: Sequence[str]) -> str | None:
    for name in names:
        value = labels.get(name)
        if value:
            return value
    return None


def _signal(fingerprint: str, service: str | None, state: AlertState, spec: ScoringSpec) -> Signal:
    host = _label(state.labels, spec.host_labels)
    return Signal(
        fingerprint=fingerprint,
        name=state.name,
        service=service,
        severity=state.severity,
        # Prometheus `instance` is host:port: two exporters on one machine are one host
        host=None if host is None else _PORT.sub("", host),
        region=_label(state.labels, spec.region_labels),
        first_seen=state.first_seen,
    )


class _Names:
    """A multiset of names (hosts, regions, alert names) and the note `_names` makes of its
    distinct names, kept until one enters or leaves: a storm group has thousands of hosts."""

    __slots__ = ("_limit", "_note", "counts")

    def __init__(self, limit: int = 4) -> None:
        self.counts: dict[str, int] = {}
        self._note: str | None = None
        self._limit = limit

    def add(self, name: str) -> None:
        before = self.counts.get(name, 0)
        self.counts[name] = before + 1
        if not before:
            self._note = None

    def remove(self, name: str) -> None:
        left = self.counts[name] - 1
        if left:
            self.counts[name] = left
        else:
            del self.counts[name]
            self._note = None

    def note(self) -> str:
        if self._note is None:
            self._note = _names(self.counts, self._limit)
        return self._note


_SILENCED, _FLAPPING, _UNKNOWN = "silenced", "flapping", "unknown"


class Tally:
    """What scoring reads of one group's firing members, kept up to date member by member:
    `put` costs the same for a group of 5 members or 50,000, and `facts` copies only what
    a score reads. The declarer keeps one per group and puts the members that changed since
    the last assessment; `facts_of` builds one from scratch."""

    __slots__ = (
        "_first_seen",
        "_hosts",
        "_kinds",
        "_regions",
        "_services",
        "_severities",
        "_silenced_services",
        "_states",
        "driving",
        "flapping",
        "not_driving",
        "silenced",
        "spec",
        "unknown",
    )

    def __init__(self, spec: ScoringSpec = DEFAULT_SCORING) -> None:
        self.spec = spec
        self.not_driving: dict[str, tuple[str, str | None]] = {}
        """Firing members that do not drive: silenced, flapping, or with no alert state."""
        self._states: dict[str, AlertState] = {}
        """The state each driving Signal was made from (an unchanged state keeps its Signal)."""
        self.driving: dict[str, Signal] = {}
        self.silenced = self.flapping = self.unknown = 0
        self._services: dict[str, int] = {}
        self._silenced_services: dict[str, int] = {}
        self._hosts = _Names()
        self._regions = _Names()
        self._severities: dict[Severity, _Names] = {}
        self._first_seen: list[datetime] = []
        self._kinds: dict[tuple[str | None, str], int] = {}

    @property
    def firing(self) -> int:
        return len(self.driving) + len(self.not_driving)

    def put(self, fingerprint: str, member: Member | None, state: AlertState | None) -> None:
        """The member `fingerprint` as it is now (None: no longer in the group)."""
        reuse = self._states.get(fingerprint) is state
        old = self._drop(fingerprint)
        if member is None or member.status is not Status.FIRING:
            return
        if member.silenced:
            self.not_driving[fingerprint] = (_SILENCED, member.service)
            self.silenced += 1
            if member.service is not None:
                _count(self._silenced_services, member.service)
        elif member.flapping:
            self.not_driving[fingerprint] = (_FLAPPING, member.service)
            self.flapping += 1
        elif state is None:
            self.not_driving[fingerprint] = (_UNKNOWN, member.service)
            self.unknown += 1
        else:
            if not (reuse and old is not None and old.service == member.service):
                old = _signal(fingerprint, member.service, state, self.spec)
            self._states[fingerprint] = state
            self.add(old)

    def _drop(self, fingerprint: str) -> Signal | None:
        """Count the member out; its Signal if it drove."""
        found = self.not_driving.pop(fingerprint, None)
        if found is not None:
            kind, service = found
            if kind is _SILENCED:
                self.silenced -= 1
                if service is not None:
                    _uncount(self._silenced_services, service)
            elif kind is _FLAPPING:
                self.flapping -= 1
            else:
                self.unknown -= 1
            return None
        signal = self.driving.pop(fingerprint, None)
        if signal is None:
            return None
        del self._states[fingerprint]
        if signal.service is not None:
            _uncount(self._services, signal.service)
        if signal.host is not None:
            self._hosts.remove(signal.host)
        if signal.region is not None:
            self._regions.remove(signal.region)
        names = self._severities[signal.severity]
        names.remove(signal.name)
        if not names.counts:
            del self._severities[signal.severity]
        del self._first_seen[bisect.bisect_left(self._first_seen, signal.first_seen)]
        _uncount(self._kinds, (signal.service, signal.name))
        return signal

    def add(self, signal: Signal) -> None:
        """Count in a driving alert as scoring sees it (`put` makes the Signal itself)."""
        self.driving[signal.fingerprint] = signal
        if signal.service is not None:
            _count(self._services, signal.service)
        if signal.host is not None:
            self._hosts.add(signal.host)
        if signal.region is not None:
            self._regions.add(signal.region)
        names = self._severities.get(signal.severity)
        if names is None:
            names = self._severities[signal.severity] = _Names(3)
        names.add(signal.name)
        bisect.insort(self._first_seen, signal.first_seen)
        _count(self._kinds, (signal.service, signal.name))

    def drivers(self, *, copy: bool = True) -> Drivers:
        """What urgency reads; `copy=False`: see `facts`."""
        top = max(self._severities, key=_SEVERITY_RANK.__getitem__, default=None)
        return Drivers(
            count=len(self.driving),
            severity=top,
            severity_names="" if top is None else self._severities[top].note(),
            hosts=len(self._hosts.counts),
            host_names=self._hosts.note(),
            regions=len(self._regions.counts),
            region_names=self._regions.note(),
            first_seen=tuple(self._first_seen) if copy else self._first_seen,
            kinds=frozenset(self._kinds.items()),
        )

    def facts(self, group: Group, *, copy: bool = True) -> GroupFacts:
        """The group's facts as of the last `put` (the Signals are copied: a GroupFacts does
        not change when the tally does). `copy=False`: the driving Signals and their
        first-seen times are the tally's own, valid until its next `put` or `add`. The
        declarer reads them within one assessment, and copying a storm group's thousands of
        members at each of its assessments was the largest single cost of one."""
        return GroupFacts(
            group_id=group.id,
            group_key=group.key,
            opened_at=group.opened_at,
            services=frozenset(group.services),
            blast_radius=frozenset(group.blast_radius),
            capabilities=frozenset(group.capabilities),
            root_causes=group.root_causes,
            driving=dict(self.driving) if copy else MappingProxyType(self.driving),
            driving_services=frozenset(self._services),
            drivers=self.drivers(copy=copy),
            silenced=self.silenced,
            flapping=self.flapping,
            unknown=self.unknown,
            silenced_services=frozenset(self._silenced_services),
        )


def _count(counts: dict[K, int], key: K) -> None:
    counts[key] = counts.get(key, 0) + 1


def _uncount(counts: dict[K, int], key: K) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]


def facts_of(
    group: Group,
    alerts: Mapping[str, AlertState],
    *,
    spec: ScoringSpec = DEFAULT_SCORING,
) -> GroupFacts:
    """The facts of `group`; `alerts` holds the states of its members (by fingerprint), and
    `spec` says which labels name a host and a region. One pass over the members (the
    declarer keeps a `Tally` per group instead)."""
    tally = Tally(spec)
    for fingerprint, member in group.members.items():
        if member.status is Status.FIRING:
            tally.put(fingerprint, member, alerts.get(fingerprint))
    return tally.facts(group)


# --- helpers ---------------------------------------------------------------------------------


def _names(items: Iterable[str], limit: int = 4) -> str:
    """The first `limit` names in order, and how many more: without sorting them all (a
    storm group has thousands of hosts, and this runs at every assessment)."""
    pool = items if isinstance(items, Collection) else list(items)
    first = heapq.nsmallest(limit, pool)
    more = len(pool) - len(first)
    return ", ".join(first) + (f" and {more} more" if more > 0 else "")


def _reached(value: float, steps: tuple[float, float, float]) -> int:
    """3 when `value` reaches the top step, 2 the second, 1 the third, else 0."""
    for i, step in enumerate(steps):
        if value >= step:
            return 3 - i
    return 0


def _step_note(
    value: float,
    steps: tuple[float, float, float],
    names: Sequence[str],
    show: Callable[[float], str] = "{:g}".format,
) -> str:
    """The level `value` reaches and its step: `high (>= 3)`, `below medium (< 2)`."""
    reached = _reached(value, steps)
    if reached:
        return f"{names[3 - reached]} (>= {show(steps[3 - reached])})"
    return f"below {names[2]} (< {show(steps[2])})"


def _points(weight: float, fraction: float, total: float) -> float:
    return round(100 * weight * fraction / total, 1)


def _level(points: float, steps: tuple[float, float, float], levels: Sequence[L]) -> L:
    return levels[3 - _reached(points, steps)]


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


IMPACT_NAMES = ("extensive", "significant", "moderate")
URGENCY_NAMES = ("critical", "high", "medium")


# --- impact ----------------------------------------------------------------------------------


def _most_critical(names: Iterable[str], impact: ImpactMap) -> tuple[str, list[str]] | None:
    """The highest criticality among the known services `names`, and the services that have
    it (sorted)."""
    known = [(CRITICALITY_RANK[c], n, c) for n in names if (c := impact.criticality(n))]
    if not known:
        return None
    rank, _, criticality = min(known)
    return criticality, sorted(n for r, n, _ in known if r == rank)


def _criticality(
    found: tuple[str, list[str]] | None, weight: float, total: float, spec: ImpactSpec
) -> tuple[str, float]:
    """The factor's value and its points, for the highest criticality `found`."""
    if found is None:
        return "none", 0.0
    fraction: float = getattr(spec.criticality, found[0])
    return found[0], _points(weight, fraction, total)


def _stake(
    name: str, value: float, weight: float, total: float, steps: ImpactSteps, what: str
) -> Factor:
    bounds = steps.values()
    return Factor(
        name,
        value,
        _points(weight, _reached(value, bounds) / 3, total),
        f"{what}: {value:g}, {_step_note(value, bounds, IMPACT_NAMES)}",
    )


def _impact_factors(
    driving_services: frozenset[str], radius: BlastRadius, impact: ImpactMap, spec: ImpactSpec
) -> tuple[Factor, ...]:
    w = spec.weights
    total = sum(w.model_dump().values())
    top = _most_critical(driving_services, impact)
    widest = _most_critical(radius.services, impact)
    facing = [n for n in radius.services if impact.services[n].customer_facing]
    caps = radius.capabilities
    return (
        Factor(
            "impact.criticality",
            *_criticality(top, w.criticality, total, spec),
            f"{top[0]}: {_names(top[1])}" if top else "no driving alert is on a service of the map",
        ),
        Factor(
            "impact.blast_radius",
            *_criticality(widest, w.blast_radius, total, spec),
            f"reaches {len(radius.services)} services ({_names(radius.services)}); "
            f"{widest[0]}: {_names(widest[1])}"
            if widest
            else "reaches no service of the map",
        ),
        Factor(
            "impact.customer_facing",
            bool(facing),
            _points(w.customer_facing, 1.0 if facing else 0.0, total),
            f"customers use {_names(facing)}" if facing else "no customer-facing service reached",
        ),
        _stake(
            "impact.users",
            radius.users_per_minute,
            w.users,
            total,
            spec.users_per_minute,
            "users a minute at stake",
        ),
        _stake(
            "impact.revenue",
            radius.revenue_per_minute,
            w.revenue,
            total,
            spec.revenue_per_minute,
            "revenue a minute at stake",
        ),
        _stake(
            "impact.capabilities",
            len(caps),
            w.capabilities,
            total,
            spec.capabilities,
            f"capabilities touched ({_names(caps)})" if caps else "no capability touched",
        ),
    )


@dataclass(frozen=True, slots=True)
class _Impact:
    """The impact side of a score: a function of the driving services alone."""

    factors: tuple[Factor, ...]
    services: tuple[str, ...]
    capabilities: tuple[str, ...]


_Counted = tuple[tuple[Factor, ...], tuple[Factor, ...]]
"""The count-made urgency factors before the time factors, and after them."""


def _impact(driving_services: frozenset[str], impact: ImpactMap, spec: ImpactSpec) -> _Impact:
    radius = impact.blast_radius(driving_services)
    return _Impact(
        factors=_impact_factors(driving_services, radius, impact, spec),
        services=tuple(sorted(radius.services)),
        capabilities=by_stakes(radius.capabilities, impact, spec),
    )


class ScoreCache:
    """What scores share, for one impact map and scoring spec (a new one of either empties
    it): the impact side by driving services (a storm reassesses the same few services'
    failure many times a second), the urgency factors made of counts (`counted`) and the
    urgency weights' total."""

    __slots__ = ("_counted", "_for", "_impacts", "_limit", "urgency_total")

    def __init__(self, limit: int = 4096) -> None:
        self._for: tuple[ImpactMap, ScoringSpec] | None = None
        self._impacts: dict[frozenset[str], _Impact] = {}
        self._counted: dict[tuple[object, ...], _Counted] = {}
        self._limit = limit
        self.urgency_total = 0.0

    def _of(self, impact: ImpactMap, spec: ScoringSpec) -> None:
        if self._for is None or self._for[0] is not impact or self._for[1] is not spec:
            self._for = (impact, spec)
            self._impacts.clear()
            self._counted.clear()
            weights = spec.urgency.weights
            self.urgency_total = sum(weights.model_dump(exclude={"flapping"}).values())

    def impact(self, services: frozenset[str], impact: ImpactMap, spec: ScoringSpec) -> _Impact:
        self._of(impact, spec)
        found = self._impacts.get(services)
        if found is None:
            found = self._keep(self._impacts, services, _impact(services, impact, spec.impact))
        return found

    def counted(self, facts: GroupFacts, spec: UrgencySpec) -> _Counted:
        """The urgency factors made of counts (severity, signals, hosts, regions; flapping,
        silenced), by the counts and names they read: a group's counts seldom move between
        two of its assessments, and their notes cost more than the rest of a score. Valid
        for the spec `impact` was last called with."""
        d = facts.drivers
        key = (
            d.count,
            d.severity,
            d.severity_names,
            d.hosts,
            d.host_names,
            d.regions,
            d.region_names,
            facts.flapping,
            facts.silenced,
        )
        found = self._counted.get(key)
        if found is None:
            found = self._keep(
                self._counted, key, _counted_factors(facts, spec, self.urgency_total)
            )
        return found

    def _keep(self, store: dict[K, V], key: K, value: V) -> V:
        """`value` kept under `key`, the store emptied first when it is full."""
        if len(store) >= self._limit:
            store.clear()
        store[key] = value
        return value


def _unmapped_factor(facts: GroupFacts) -> Factor:
    return Factor(
        "impact.unmapped",
        facts.drivers.count,
        0.0,
        "no driving alert maps to a service of services.yaml: impact is scored at its lowest "
        "(minor), urgency alone speaks",
    )


# --- urgency ---------------------------------------------------------------------------------


def _counted(
    name: str,
    what: str,
    count: int,
    names: str,
    weight: float,
    total: float,
    steps: UrgencySteps,
) -> Factor:
    listed = f" ({names})" if names else ""
    return Factor(
        name,
        count,
        _points(weight, _reached(count, steps.values()) / 3, total),
        f"{count} {what}{listed}: {_step_note(count, steps.values(), URGENCY_NAMES)}",
    )


def _severity_factor(drivers: Drivers, spec: UrgencySpec, total: float) -> Factor:
    top = drivers.severity
    if top is None:
        return Factor("urgency.severity", "none", 0.0, "no driving alert")
    fraction: float = getattr(spec.severity, top.value)
    note = f"most severe driving alert: {top} ({drivers.severity_names})"
    return Factor(
        "urgency.severity", top.value, _points(spec.weights.severity, fraction, total), note
    )


def _time_factors(drivers: Drivers, spec: UrgencySpec, total: float, now: datetime) -> list[Factor]:
    w = spec.weights
    seen = drivers.first_seen  # sorted
    lasted = max(timedelta(0), now - seen[0]) if seen else timedelta(0)
    seconds = lasted.total_seconds()
    window = spec.growth_window
    # A ratio, not a count: a new alert raises it, but an alert first seen long ago (a late
    # member) lowers it. Scores only ever rise with alerts that arrive at `now`.
    recent = len(seen) - bisect.bisect_right(seen, now - window)  # now - at < window
    before = len(seen) - recent
    ratio = recent / before if before else 0.0
    growth_note = (
        f"{recent} new in the last {_duration(window.total_seconds())} vs {before} before "
        f"(x{ratio:.2g}): {_step_note(ratio, spec.growth.values(), URGENCY_NAMES)}"
        if before
        else f"nothing before the last {_duration(window.total_seconds())}: growth not measured"
    )
    return [
        Factor(
            "urgency.duration",
            seconds,
            _points(w.duration, _reached(seconds, spec.duration.values()) / 3, total),
            f"driving alerts for {_duration(seconds)}: "
            + _step_note(seconds, spec.duration.values(), URGENCY_NAMES, _duration),
        ),
        Factor(
            "urgency.growth",
            round(ratio, 2),
            _points(w.growth, _reached(ratio, spec.growth.values()) / 3, total),
            growth_note,
        ),
    ]


def _damping_factors(facts: GroupFacts, spec: UrgencySpec, total: float) -> list[Factor]:
    firing = facts.drivers.count + facts.flapping
    share = facts.flapping / firing if firing else 0.0
    return [
        Factor(
            "urgency.flapping",
            facts.flapping,
            -_points(spec.weights.flapping, share, total) if share else 0.0,
            f"{facts.flapping} of {firing} firing alerts are flapping: weighed down"
            if facts.flapping
            else "no flapping alert",
        ),
        Factor(
            "urgency.silenced",
            facts.silenced,
            0.0,
            f"{facts.silenced} silenced alerts do not count",
        ),
    ]


def _counted_factors(facts: GroupFacts, spec: UrgencySpec, total: float) -> _Counted:
    w = spec.weights
    d = facts.drivers
    return (
        (
            _severity_factor(d, spec, total),
            # fingerprints say nothing to a reader: the count is enough
            _counted("urgency.signals", "alerts", d.count, "", w.signals, total, spec.signals),
            _counted("urgency.hosts", "hosts", d.hosts, d.host_names, w.hosts, total, spec.hosts),
            _counted(
                "urgency.regions",
                "regions",
                d.regions,
                d.region_names,
                w.regions,
                total,
                spec.regions,
            ),
        ),
        tuple(_damping_factors(facts, spec, total)),
    )


def _urgency_factors(
    facts: GroupFacts, spec: UrgencySpec, now: datetime, cache: ScoreCache
) -> list[Factor]:
    before, after = cache.counted(facts, spec)
    factors = [*before, *_time_factors(facts.drivers, spec, cache.urgency_total, now), *after]
    points = sum(f.contribution for f in factors)
    if points < 0:
        factors.append(Factor("urgency.floor", 0, round(-points, 1), "urgency cannot fall below 0"))
    return factors


def by_stakes(names: Iterable[str], impact: ImpactMap, spec: ImpactSpec) -> tuple[str, ...]:
    """Capabilities most at stake first, by the impact steps their users and their revenue
    reach (checkout's revenue outranks browse's users, which outrank recommendations' small
    revenue), then revenue, users and name."""

    def stakes(name: str) -> tuple[int, float, float, str]:
        found = impact.capabilities.get(name)
        if found is None:
            return 0, 0.0, 0.0, name
        users, revenue = found.users_per_minute, found.revenue_per_minute
        steps = _reached(users, spec.users_per_minute.values())
        steps += _reached(revenue, spec.revenue_per_minute.values())
        return -steps, -revenue, -users, name

    return tuple(sorted(names, key=stakes))


# --- the score -------------------------------------------------------------------------------


def transient_factor(signals: Sequence[Signal], likely: TransientOdds) -> Factor:
    """`urgency.transient`: which driving alerts a learned model (`incidentd suggest`) expects
    to resolve by themselves within minutes. A note for the reader, never points: a model's
    guess does not decide a declaration (sustain times do; see docs/suggestions.md)."""
    kinds: dict[tuple[str | None, str], int] = {}
    for s in signals:
        kinds[(s.service, s.name)] = kinds.get((s.service, s.name), 0) + 1
    return _transient(kinds.items(), len(signals), likely)


def _transient(
    kinds: Iterable[tuple[tuple[str | None, str], int]], driving: int, likely: TransientOdds
) -> Factor:
    found = sorted(
        (odds, f"{service or 'unmapped'}/{name}", count)
        for (service, name), count in kinds
        if (odds := likely.get((service, name))) is not None and odds >= TRANSIENT_NOTE_AT
    )
    if not found:
        return Factor("urgency.transient", 0, 0.0, "no driving alert is known to be transient")
    likeliest: list[tuple[float, str]] = []  # the 3 likeliest alerts (one name may repeat)
    for odds, name, count in reversed(found):
        likeliest.extend([(odds, name)] * min(count, 3 - len(likeliest)))
        if len(likeliest) == 3:
            break
    total = sum(count for _, _, count in found)
    named = ", ".join(f"{name} ({odds:.0%})" for odds, name in likeliest)
    more = f" and {total - 3} more" if total > 3 else ""
    return Factor(
        "urgency.transient",
        total,
        0.0,
        f"{total} of {driving} driving alerts likely resolve by themselves within "
        f"minutes (learned): {named}{more}; no points",
    )


def score(
    facts: GroupFacts,
    impact: ImpactMap,
    *,
    spec: ScoringSpec,
    now: datetime,
    transient: TransientOdds | None = None,
    cache: ScoreCache | None = None,
) -> Score:
    """Score one group at `now` (see the module docstring). With `transient` (learned odds
    per (service, alert name)), the factors end with an `urgency.transient` note that adds
    no points; without it, the score is exactly what it was. `cache` (kept by the caller)
    saves recomputing the impact side of the same driving services."""
    cache = cache or ScoreCache()
    side = cache.impact(facts.driving_services, impact, spec)
    impact_factors = list(side.factors)
    if not facts.driving_services:
        impact_factors.append(_unmapped_factor(facts))
    urgency_factors = _urgency_factors(facts, spec.urgency, now, cache)
    if transient is not None:
        urgency_factors.append(_transient(facts.drivers.kinds, facts.drivers.count, transient))
    impact_points = min(100.0, round(sum(f.contribution for f in impact_factors), 1))
    urgency_points = min(100.0, max(0.0, round(sum(f.contribution for f in urgency_factors), 1)))
    impact_level = _level(impact_points, spec.impact.levels.values(), list(ImpactLevel))
    urgency_level = _level(urgency_points, spec.urgency.levels.values(), list(UrgencyLevel))
    share = spec.impact_share
    return Score(
        value=round(share * impact_points + (1 - share) * urgency_points),
        priority=spec.matrix.priority(impact_level, urgency_level),
        impact=impact_level,
        urgency=urgency_level,
        impact_points=impact_points,
        urgency_points=urgency_points,
        factors=(*impact_factors, *urgency_factors),
        services=side.services,
        capabilities=side.capabilities,
    )
