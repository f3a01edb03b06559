"""The history's typed records and frames: incidents as reports see them (facts, SLA clocks,
timeline, follow-ups), the period a report covers, and the pandas DataFrames built from them.

Records are read from the stored form of an incident (`incident.to_dict`) or from the API's
view of it, tolerantly: fields another version adds are ignored, and follow-ups, whose shape
belongs to the incident record, are read defensively. No I/O, no clock (`as_of` is given).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from incidentd.declare import incident as inc
from incidentd.declare.declarer import sla_view
from incidentd.declare.incident import Incident
from incidentd.declare.timeline import EntryKind, TimelineEntry
from incidentd.errors import InputError
from incidentd.model import OptionalUtcDatetime, UtcDatetime
from incidentd.rules.schema import DeclarationFile

DONE: Final = frozenset(
    {"done", "closed", "complete", "completed", "resolved", "cancelled", "canceled", "dropped"}
)
"""Follow-up statuses that close it; any other status is open."""
UNMAPPED_TEAM: Final = "(not in services.yaml)"


class HistoryError(InputError):
    """A source of history that cannot be read: the message says which and why."""


@dataclass(frozen=True, slots=True)
class Period:
    """`since <= t < until`, both aware."""

    since: datetime
    until: datetime

    def holds(self, at: datetime) -> bool:
        return self.since <= at < self.until


def parse_when(text: str, *, end: bool = False) -> datetime:
    """An RFC 3339 time with its offset, or a date: its first instant (UTC), or with `end`
    the first instant of the next day, so that a date given as the end is included.
    Raises InputError saying what is expected."""
    value = text.strip()
    try:
        if not any(sep in value for sep in "Tt "):
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise InputError(
            f"{text[:60]!r} is not a time like 2026-03-02T09:00:00Z or a date like 2026-03-02"
        ) from None
    if parsed.tzinfo is None:
        raise InputError(f"{text[:60]!r} has no UTC offset: add Z or one like +01:00")
    return parsed.astimezone(UTC)


def period_of(since: str | None, until: str | None, *, now: datetime, days: int = 28) -> Period:
    """The period of `--since` and `--until` (default: the `days` before `now`)."""
    try:
        end = now if until is None else parse_when(until, end=True)
    except InputError as exc:
        raise InputError(f"--until: {exc.message}") from None
    try:
        start = end - timedelta(days=days) if since is None else parse_when(since)
    except InputError as exc:
        raise InputError(f"--since: {exc.message}") from None
    if start >= end:
        raise InputError(
            f"--since ({start:%Y-%m-%d %H:%M} UTC) is not before --until ({end:%Y-%m-%d %H:%M} UTC)"
        )
    return Period(start, end)


@dataclass(frozen=True, slots=True)
class SlaClock:
    state: str
    """met, breached or running (as `declarer.sla_view` says)."""
    target_seconds: float
    took_seconds: float | None


@dataclass(frozen=True, slots=True)
class FollowUp:
    incident_id: str
    id: str
    title: str
    owner: str | None
    due: datetime | None
    status: str

    @property
    def done(self) -> bool:
        return self.status.strip().lower() in DONE

    def overdue(self, as_of: datetime) -> bool:
        return not self.done and self.due is not None and self.due < as_of


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """One incident as reports see it: the record's facts, its SLA clocks, its timeline."""

    id: str
    number: int
    title: str
    status: str
    priority: str
    services: tuple[str, ...]
    root_causes: tuple[str, ...]
    alerts: tuple[str, ...]
    """Fingerprints of every alert ever attached."""
    storm: bool
    declared_at: datetime
    started_at: datetime | None
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    reopened_at: datetime | None
    sla: Mapping[str, SlaClock]
    followups: tuple[FollowUp, ...] | None
    """None when the record has no `followups` field (a daemon that does not keep them)."""
    timeline: tuple[TimelineEntry, ...] = ()


class _Wire(BaseModel):
    """The fields reports read, from the stored form (`incident.to_dict`) or the API's view."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    number: int
    title: str
    status: str
    priority: str
    services: tuple[str, ...] = ()
    root_causes: tuple[str, ...] = ()
    alerts: tuple[str, ...] = ()
    storm: bool = False
    declared_at: UtcDatetime
    started_at: OptionalUtcDatetime = None
    acknowledged_at: OptionalUtcDatetime = None
    mitigated_at: OptionalUtcDatetime = None
    resolved_at: OptionalUtcDatetime = None
    reopened_at: OptionalUtcDatetime = None


def record_from_view(
    data: Mapping[str, Any], *, sla: Mapping[str, Any], timeline: Sequence[TimelineEntry] = ()
) -> IncidentRecord:
    """A record from an incident's JSON form (stored or as the API shows it) and its SLA
    clocks (`sla_view`'s form). Raises HistoryError when it is not an incident."""
    try:
        wire = _Wire.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise HistoryError(
            f"incident {str(data.get('id'))[:64]!r}: {where}: {first['msg']}"
        ) from None
    clocks = {
        name: SlaClock(
            state=str(clock.get("state")),
            target_seconds=float(clock.get("target_seconds") or 0.0),
            took_seconds=None
            if clock.get("took_seconds") is None
            else float(clock["took_seconds"]),
        )
        for name, clock in sla.items()
        if isinstance(clock, Mapping)
    }
    followups = _followups(wire.id, data["followups"]) if "followups" in data else None
    return IncidentRecord(
        **{name: getattr(wire, name) for name in _Wire.model_fields},
        sla=clocks,
        followups=followups,
        timeline=tuple(timeline),
    )


def record_of(
    incident: Incident,
    timeline: Sequence[TimelineEntry],
    *,
    declaration: DeclarationFile,
    as_of: datetime,
) -> IncidentRecord:
    """A record from the engine's own incident, its SLA clocks judged at `as_of`."""
    return record_from_view(
        inc.to_dict(incident), sla=sla_view(incident, declaration, as_of), timeline=timeline
    )


# --- follow-ups, read defensively: their shape belongs to the incident record --------------------


def _followups(incident_id: str, raw: object) -> tuple[FollowUp, ...]:
    if not isinstance(raw, list | tuple):
        return ()
    found = (_followup(incident_id, item) for item in raw if isinstance(item, Mapping))
    return tuple(f for f in found if f is not None)


def _followup(incident_id: str, item: Mapping[str, Any]) -> FollowUp | None:
    title = item.get("title")
    if not isinstance(title, str) or not title.strip():
        return None
    owner = item.get("owner")
    status = item.get("status")
    if not isinstance(status, str) or not status.strip():
        status = "done" if item.get("done") is True else "open"
    due = next((item[k] for k in ("due", "due_at", "due_date") if item.get(k)), None)
    return FollowUp(
        incident_id=incident_id,
        id=str(item.get("id") or ""),
        title=title.strip(),
        owner=owner if isinstance(owner, str) and owner else None,
        due=_due(due),
        status=status,
    )


def _due(value: object) -> datetime | None:
    """A due time; a bare date is due at the end of that day (UTC)."""
    if not isinstance(value, str):
        return None
    try:
        if len(value.strip()) == 10:
            day = date.fromisoformat(value.strip())
            return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# --- frames --------------------------------------------------------------------------------------

_TIMES: Final = (
    "declared_at",
    "started_at",
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
    "reopened_at",
)
CLOCKS: Final = ("declare", "acknowledge", "resolve")


def teams_of(record: IncidentRecord, owners: Mapping[str, str]) -> tuple[str, ...]:
    """The teams that own the incident's root-cause candidates (its impacted services when
    it has none), from services.yaml; a service the map no longer has counts as unmapped."""
    services = record.root_causes or record.services
    return tuple(sorted({owners.get(s, UNMAPPED_TEAM) for s in services}))


def incidents_frame(records: Iterable[IncidentRecord], owners: Mapping[str, str]) -> pd.DataFrame:
    """One row per incident: its facts, UTC timestamps (NaT when not reached), the lists as
    tuples (services, root_causes, teams), and per SLA clock its state and target (seconds)."""
    rows = []
    for r in records:
        row: dict[str, Any] = {
            "id": r.id,
            "number": r.number,
            "title": r.title,
            "priority": r.priority,
            "status": r.status,
            "open": r.status != "resolved",
            "storm": r.storm,
            **{name: getattr(r, name) for name in _TIMES},
            "services": r.services,
            "root_causes": r.root_causes,
            "teams": teams_of(r, owners),
            "alerts": len(r.alerts),
            "escalations": sum(e.kind is EntryKind.PRIORITY_CHANGED for e in r.timeline),
        }
        for clock in CLOCKS:
            found = r.sla.get(clock)
            row[f"sla_{clock}"] = None if found is None else found.state
            row[f"sla_{clock}_target"] = None if found is None else found.target_seconds
        rows.append(row)
    columns = [
        *("id", "number", "title", "priority", "status", "open", "storm", *_TIMES),
        *("services", "root_causes", "teams", "alerts", "escalations"),
        *(f"sla_{c}{suffix}" for c in CLOCKS for suffix in ("", "_target")),
    ]
    frame = pd.DataFrame(rows, columns=columns)
    for name in _TIMES:
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def followups_frame(records: Iterable[IncidentRecord], as_of: datetime) -> pd.DataFrame:
    """One row per follow-up of the records that keep them."""
    rows = [
        {
            "incident": f.incident_id,
            "id": f.id,
            "title": f.title,
            "owner": f.owner,
            "due": f.due,
            "status": f.status,
            "done": f.done,
            "overdue": f.overdue(as_of),
        }
        for r in records
        for f in r.followups or ()
    ]
    columns = ["incident", "id", "title", "owner", "due", "status", "done", "overdue"]
    frame = pd.DataFrame(rows, columns=columns).astype({"done": bool, "overdue": bool})
    frame["due"] = pd.to_datetime(frame["due"], utc=True)
    return frame
