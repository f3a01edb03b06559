"""Deduplication: what one report of an alert does to what we know of that alert.

`decide(alert, prior, service=...)` is a pure function of the new report and the
stored `AlertState` of its fingerprint:

- no state, firing: NEW (first occurrence);
- same `event_id` as a report already applied: DUPLICATE, nothing changes (sender retries,
  HA peers, a redelivered queue entry after a crash);
- firing while firing: REPEAT (count and last seen move on; title and severity follow the
  newest report, so a Datadog Warn that becomes Triggered raises the severity);
- resolved while firing: RESOLVE, unless the resolve ends before the current occurrence
  started (a late resolve of an earlier occurrence): STALE;
- firing while resolved: REOPEN, a new occurrence, unless the report started before the
  resolve ended (a late, out-of-order firing): STALE. After a resolve we inferred ourselves
  (time to live), any new report reopens: the sender never resolves, so a report means it fires;
- resolved with no state: EARLY_RESOLVE (the resolve overtook its firing): remembered, so
  that the late firing is recognised as STALE;
- resolved while resolved: DUPLICATE.

`expire(state, now=...)` closes a firing alert whose time to live has passed since its last
report (senders that never resolve: Splunk, Datadog "No Data", Alertmanager receivers without
send_resolved). Nothing here reads the clock, logs or awaits.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from operator import attrgetter

from incidentd.model import Alert, Severity, Status

RECENT_EVENTS = 16
"""Event ids remembered per alert to recognise redeliveries."""
MAX_TRANSITIONS = 64
"""Status changes remembered per alert for flapping detection."""


class Outcome(StrEnum):
    NEW = "new"
    REPEAT = "repeat"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    DUPLICATE = "duplicate"
    STALE = "stale"
    EARLY_RESOLVE = "early_resolve"
    EXPIRE = "expire"


CHANGES_STATE = frozenset({Outcome.NEW, Outcome.RESOLVE, Outcome.REOPEN, Outcome.EXPIRE})
"""Outcomes that change an alert's status (and so count for flapping and grouping)."""


@dataclass(slots=True)
class AlertState:
    """Everything known of one alert (one fingerprint), across its occurrences.

    Treated as a value: `decide` and `expire` never change a state they are given, they
    return a new one (a copy, then set field by field). Not frozen so that they can, and so
    that the engine can set `group_id` and `silenced_by` on a state that `decide` has just
    created (copying it again would be the single largest cost per alert). Nothing changes a
    state once the engine has stored it: the declarer knows a state by its identity."""

    fingerprint: str
    source: str
    name: str
    title: str
    severity: Severity
    service: str | None
    """The service of the impact map the alert belongs to (None: unmapped)."""
    labels: dict[str, str]
    url: str | None
    status: Status
    starts_at: datetime
    """Start of the current (or last) occurrence, as the sender said."""
    ends_at: datetime | None
    resolved_by: str | None
    """"sender" or "ttl" once resolved; None while firing."""
    first_seen: datetime
    """When the current occurrence was first reported to us."""
    last_seen: datetime
    """When the latest report arrived (the time to live counts from here)."""
    count: int
    """Reports of the current occurrence."""
    occurrences: int
    ttl: timedelta | None
    recent_events: tuple[str, ...]
    transitions: tuple[datetime, ...]
    group_id: str | None = None
    silenced_by: tuple[str, ...] = ()

    @property
    def firing(self) -> bool:
        return self.status is Status.FIRING

    def expires_at(self) -> datetime | None:
        if self.status is not Status.FIRING or self.ttl is None:
            return None
        return self.last_seen + self.ttl


_VALUES = attrgetter(*(f.name for f in fields(AlertState)))
"""Every field of an AlertState, in order."""


def _copy(state: AlertState) -> AlertState:
    """A new AlertState equal to `state`: a fifth of the cost of `dataclasses.replace`, which
    would run for most reports."""
    return AlertState(*_VALUES(state))


@dataclass(frozen=True, slots=True)
class DedupOutcome:
    outcome: Outcome
    state: AlertState
    """The state after the report (the prior state, unchanged, for DUPLICATE and STALE)."""
    reason: str


def _remember(events: tuple[str, ...], event_id: str) -> tuple[str, ...]:
    return (*events, event_id)[-RECENT_EVENTS:]


def _transition(times: tuple[datetime, ...], at: datetime) -> tuple[datetime, ...]:
    return (*times, at)[-MAX_TRANSITIONS:]


def _first(alert: Alert, service: str | None, ttl: timedelta | None) -> AlertState:
    firing = alert.status is Status.FIRING
    return AlertState(
        fingerprint=alert.fingerprint,
        source=alert.source,
        name=alert.name,
        title=alert.title,
        severity=alert.severity,
        service=service,
        labels=alert.labels,
        url=alert.url,
        status=alert.status,
        starts_at=alert.starts_at,
        ends_at=None if firing else (alert.ends_at or alert.received_at),
        resolved_by=None if firing else "sender",
        first_seen=alert.received_at,
        last_seen=alert.received_at,
        count=1 if firing else 0,
        occurrences=1 if firing else 0,
        ttl=ttl,
        recent_events=(alert.event_id,),
        transitions=(alert.received_at,) if firing else (),
    )


def _noted(prior: AlertState, alert: Alert) -> AlertState:
    """A copy of `prior` that remembers the report's event id (and nothing else of it)."""
    state = _copy(prior)
    state.recent_events = _remember(prior.recent_events, alert.event_id)
    return state


def _refresh(prior: AlertState, alert: Alert, service: str | None) -> AlertState:
    """A copy of `prior` with the fields every applied report changes. The descriptive ones
    follow the newest report; an older report only counts."""
    state = _noted(prior, alert)
    if alert.received_at >= prior.last_seen:
        state.title = alert.title
        state.severity = alert.severity
        state.labels = alert.labels
        state.url = alert.url
        state.service = service
        state.last_seen = alert.received_at
    return state


def _on_firing(
    alert: Alert, prior: AlertState, service: str | None, ttl: timedelta | None
) -> DedupOutcome:
    if prior.firing:
        state = _refresh(prior, alert, service)
        state.count = prior.count + 1
        state.ttl = ttl
        return DedupOutcome(Outcome.REPEAT, state, f"repeat #{state.count} of a firing alert")
    late = prior.resolved_by != "ttl" and prior.ends_at is not None
    if late and prior.ends_at is not None and alert.starts_at < prior.ends_at:
        return DedupOutcome(
            Outcome.STALE,
            _noted(prior, alert),
            "firing report older than the resolve already applied",
        )
    state = _refresh(prior, alert, service)
    state.status = Status.FIRING
    state.starts_at = alert.starts_at
    state.ends_at = None
    state.resolved_by = None
    state.first_seen = alert.received_at
    state.count = 1
    state.occurrences = prior.occurrences + 1
    state.ttl = ttl
    state.transitions = _transition(prior.transitions, alert.received_at)
    return DedupOutcome(Outcome.REOPEN, state, f"fires again (occurrence {state.occurrences})")


def _on_resolved(alert: Alert, prior: AlertState, service: str | None) -> DedupOutcome:
    if not prior.firing:
        return DedupOutcome(Outcome.DUPLICATE, _noted(prior, alert), "already resolved")
    ends_at = alert.ends_at or alert.received_at
    if ends_at < prior.starts_at:
        return DedupOutcome(
            Outcome.STALE,
            _noted(prior, alert),
            "resolve of an earlier occurrence (ends before this one began)",
        )
    state = _refresh(prior, alert, service)
    state.status = Status.RESOLVED
    state.ends_at = ends_at
    state.resolved_by = "sender"
    state.transitions = _transition(prior.transitions, alert.received_at)
    return DedupOutcome(Outcome.RESOLVE, state, "resolved by its sender")


def decide(
    alert: Alert,
    prior: AlertState | None,
    *,
    service: str | None,
    ttl: timedelta | None = None,
) -> DedupOutcome:
    """Apply one report to the prior state of its fingerprint.

    `service` is the impact-map service the alert belongs to; `ttl` the time to live to use
    (the alert's own `auto_resolve_after`, else the rule's). Time comes from the report's own
    `received_at` (stamped by the HTTP layer, or recorded, in replay): no clock is read.
    """
    effective_ttl = alert.auto_resolve_after or ttl
    if prior is None:
        state = _first(alert, service, effective_ttl)
        if alert.status is Status.FIRING:
            return DedupOutcome(Outcome.NEW, state, "first report of this alert")
        return DedupOutcome(
            Outcome.EARLY_RESOLVE, state, "resolve received before any firing report"
        )
    if alert.event_id in prior.recent_events:
        return DedupOutcome(Outcome.DUPLICATE, prior, "this report was already applied")
    if alert.status is Status.FIRING:
        return _on_firing(alert, prior, service, effective_ttl)
    return _on_resolved(alert, prior, service)


def expire(state: AlertState, *, now: datetime) -> DedupOutcome | None:
    """Close a firing alert whose time to live passed since its last report; else None."""
    due = state.expires_at()
    if due is None or now < due:
        return None
    closed = _copy(state)
    closed.status = Status.RESOLVED
    closed.ends_at = due
    closed.resolved_by = "ttl"
    closed.transitions = _transition(state.transitions, due)
    return DedupOutcome(Outcome.EXPIRE, closed, f"no report for {state.ttl}: auto-resolved")
