"""Builders of normalized alerts for the engine's unit and scenario tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from incidentd.correlate.fingerprint import event_id, fingerprint
from incidentd.model import Alert, Severity, Status

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def alert(
    name: str = "HighErrorRate",
    *,
    status: Status = Status.FIRING,
    minute: float = 0,
    starts: float | None = None,
    ends: float | None = None,
    service: str | None = None,
    labels: dict[str, str] | None = None,
    severity: Severity = Severity.ERROR,
    ttl: timedelta | None = None,
    report: str = "",
    source: str = "generic",
) -> Alert:
    """An alert received at `minute`; its identity is name + service + labels."""
    labels = dict(labels or {})
    fp = fingerprint(source, name, service, labels)
    start = at(minute if starts is None else starts)
    end = None
    if status is Status.RESOLVED:
        end = at(minute if ends is None else ends)
    return Alert(
        source=source,
        fingerprint=fp,
        event_id=event_id(fp, status.value, start.isoformat(), str(end), report),
        status=status,
        severity=severity,
        name=name,
        title=name,
        service=service,
        labels=labels,
        starts_at=start,
        ends_at=end,
        received_at=at(minute),
        auto_resolve_after=ttl,
    )
