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

import heapq
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from incidentd.correlate.dedup import AlertState
from incidentd.correlate.grouping import Group
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
    signals: tuple[Signal, ...]
    """The driving members (firing, not silenced, not flapping), by fingerprint."""
    driving_services: frozenset[str]
    silenced: int
    """Firing members that are silenced (whether flapping or not)."""
    flapping: int
    """Firing members that flap and are not silenced."""
    unknown: int = 0
    """Driving members whose alert state was not given: left out of the signals."""


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


SignalCache = dict[str, tuple[AlertState, str | None, ScoringSpec, Signal]]
"""fingerprint -> (the state, service and spec a Signal was made from, the Signal)."""


def facts_of(
    group: Group,
    alerts: Mapping[str, AlertState],
    *,
    spec: ScoringSpec = DEFAULT_SCORING,
    cache: SignalCache | None = None,
) -> GroupFacts:
    """The facts of `group`; `alerts` holds the states of its members (by fingerprint), and
    `spec` says which labels name a host and a region. Costs one pass over the members;
    `cache` (kept by the caller) saves remaking the Signal of a member whose state object,
    service and spec are the very same as last time."""
    signals: list[Signal] = []
    silenced = flapping = unknown = 0
    for fingerprint, member in group.members.items():
        if member.status is not Status.FIRING:
            continue
        if member.silenced:
            silenced += 1
        elif member.flapping:
            flapping += 1
        elif (state := alerts.get(fingerprint)) is None:
            unknown += 1
        elif cache is None:
            signals.append(_signal(fingerprint, member.service, state, spec))
        else:
            hit = cache.get(fingerprint)
            if hit is not None and hit[0] is state and hit[1] == member.service and hit[2] is spec:
                signals.append(hit[3])
            else:
                made = _signal(fingerprint, member.service, state, spec)
                cache[fingerprint] = (state, member.service, spec, made)
                signals.append(made)
    signals.sort(key=lambda s: s.fingerprint)
    return GroupFacts(
        group_id=group.id,
        group_key=group.key,
        opened_at=group.opened_at,
        services=frozenset(group.services),
        blast_radius=frozenset(group.blast_radius),
        capabilities=frozenset(group.capabilities),
        root_causes=group.root_causes,
        signals=tuple(signals),
        driving_services=frozenset(s.service for s in signals if s.service is not None),
        silenced=silenced,
        flapping=flapping,
        unknown=unknown,
    )


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
    facts: GroupFacts, radius: BlastRadius, impact: ImpactMap, spec: ImpactSpec
) -> list[Factor]:
    w = spec.weights
    total = sum(w.model_dump().values())
    top = _most_critical(facts.driving_services, impact)
    widest = _most_critical(radius.services, impact)
    facing = [n for n in radius.services if impact.services[n].customer_facing]
    caps = radius.capabilities
    return [
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
    ]


def _unmapped_factor(facts: GroupFacts) -> Factor:
    return Factor(
        "impact.unmapped",
        len(facts.signals),
        0.0,
        "no driving alert maps to a service of services.yaml: impact is scored at its lowest "
        "(minor), urgency alone speaks",
    )


# --- urgency ---------------------------------------------------------------------------------


def _counted(
    name: str,
    what: str,
    items: set[str],
    weight: float,
    total: float,
    steps: UrgencySteps,
    *,
    listed: bool = True,
) -> Factor:
    count = len(items)
    names = f" ({_names(items)})" if listed and items else ""
    return Factor(
        name,
        count,
        _points(weight, _reached(count, steps.values()) / 3, total),
        f"{count} {what}{names}: {_step_note(count, steps.values(), URGENCY_NAMES)}",
    )


def _severity_factor(facts: GroupFacts, spec: UrgencySpec, total: float) -> Factor:
    top = max((s.severity for s in facts.signals), default=None)
    if top is None:
        return Factor("urgency.severity", "none", 0.0, "no driving alert")
    fraction: float = getattr(spec.severity, top.value)
    names = sorted({s.name for s in facts.signals if s.severity is top})
    note = f"most severe driving alert: {top} ({_names(names, 3)})"
    return Factor(
        "urgency.severity", top.value, _points(spec.weights.severity, fraction, total), note
    )


def _time_factors(
    facts: GroupFacts, spec: UrgencySpec, total: float, now: datetime
) -> list[Factor]:
    w = spec.weights
    seen = [s.first_seen for s in facts.signals]
    lasted = max(timedelta(0), now - min(seen)) if seen else timedelta(0)
    seconds = lasted.total_seconds()
    window = spec.growth_window
    # A ratio, not a count: a new alert raises it, but an alert first seen long ago (a late
    # member) lowers it. Scores only ever rise with alerts that arrive at `now`.
    recent = sum(1 for at in seen if now - at < window)
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
    firing = len(facts.signals) + facts.flapping
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


def _urgency_factors(facts: GroupFacts, spec: UrgencySpec, now: datetime) -> list[Factor]:
    w = spec.weights
    total = sum(w.model_dump(exclude={"flapping"}).values())
    signals = facts.signals
    hosts = {s.host for s in signals if s.host is not None}
    regions = {s.region for s in signals if s.region is not None}
    alerts = {s.fingerprint for s in signals}
    factors = [
        _severity_factor(facts, spec, total),
        # fingerprints say nothing to a reader: the count is enough
        _counted("urgency.signals", "alerts", alerts, w.signals, total, spec.signals, listed=False),
        _counted("urgency.hosts", "hosts", hosts, w.hosts, total, spec.hosts),
        _counted("urgency.regions", "regions", regions, w.regions, total, spec.regions),
        *_time_factors(facts, spec, total, now),
        *_damping_factors(facts, spec, total),
    ]
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
    found = sorted(
        (odds, f"{s.service or 'unmapped'}/{s.name}")
        for s in signals
        if (odds := likely.get((s.service, s.name))) is not None and odds >= TRANSIENT_NOTE_AT
    )
    if not found:
        return Factor("urgency.transient", 0, 0.0, "no driving alert is known to be transient")
    named = ", ".join(f"{name} ({odds:.0%})" for odds, name in reversed(found[-3:]))
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return Factor(
        "urgency.transient",
        len(found),
        0.0,
        f"{len(found)} of {len(signals)} driving alerts likely resolve by themselves within "
        f"minutes (learned): {named}{more}; no points",
    )


def score(
    facts: GroupFacts,
    impact: ImpactMap,
    *,
    spec: ScoringSpec,
    now: datetime,
    transient: TransientOdds | None = None,
) -> Score:
    """Score one group at `now` (see the module docstring). With `transient` (learned odds
    per (service, alert name)), the factors end with an `urgency.transient` note that adds
    no points; without it, the score is exactly what it was."""
    radius = impact.blast_radius(facts.driving_services)
    impact_factors = _impact_factors(facts, radius, impact, spec.impact)
    if not facts.driving_services:
        impact_factors.append(_unmapped_factor(facts))
    urgency_factors = _urgency_factors(facts, spec.urgency, now)
    if transient is not None:
        urgency_factors.append(transient_factor(facts.signals, transient))
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
        services=tuple(sorted(radius.services)),
        capabilities=by_stakes(radius.capabilities, impact, spec.impact),
    )
