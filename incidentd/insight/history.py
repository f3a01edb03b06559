"""The history incidentd keeps, loaded for reports and learning.

Incidents come with their SLA clocks and timelines from a state store (Redis in production)
or from a running daemon's API; alerts come from the webhooks the daemon records
(`INCIDENTD_RECORD_PATH`), run through the engine on virtual time as `incidentd replay` runs
them, so that every alert's firings, groups and incidents are known (`AlertHistory.events`,
`occurrences`: what learned suggestions read too). The records and frames are
insight/records.py's. This module reads only: it never writes to a store or an API, never
reads the clock (`as_of` is given), and computes no figure of a report (insight/report.py).
"""

from __future__ import annotations

import asyncio
import heapq
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, TypeVar

import aiohttp
import pandas as pd
from pydantic import ValidationError

from incidentd.declare.incident import Incident
from incidentd.declare.timeline import TimelineEntry, entry_from_dict
from incidentd.engine import Decision, Engine
from incidentd.errors import Overloaded
from incidentd.insight.records import (
    HistoryError,
    IncidentRecord,
    Period,
    record_from_view,
    record_of,
)
from incidentd.model import Alert
from incidentd.replay import BATCH, Summary, read_alerts
from incidentd.rules.loader import RuleSet
from incidentd.rules.schema import DeclarationFile
from incidentd.store.base import StateStore

API_LIMIT: Final = 1000
"""The most incidents `GET /api/v1/incidents` lists in one page (its `limit` bound)."""
API_PAGES: Final = 100
"""Pages read at most (100,000 incidents) before the report says what it left out."""
CONCURRENCY: Final = 8
"""Incident reads in flight at once (timelines from the store or the API)."""
FIRING_OUTCOMES: Final = frozenset({"new", "reopen"})
"""Alert outcomes that start an occurrence: a firing."""
ENDING_OUTCOMES: Final = frozenset({"resolve", "expire"})
T = TypeVar("T")


# --- incidents from a store or the API ----------------------------------------------------------


async def _bounded(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))


async def incidents_from_store(
    store: StateStore, period: Period, *, declaration: DeclarationFile, as_of: datetime
) -> list[IncidentRecord]:
    """The incidents declared in `period`, oldest first, with their timelines. The store
    lists newest first (numbers grow with time): read deeper until past `since`."""
    limit = 500
    try:
        while True:
            found = await store.incidents(limit=limit)
            if len(found) < limit or found[-1].declared_at < period.since:
                break
            limit *= 4
        chosen = [i for i in reversed(found) if period.holds(i.declared_at)]
        calls = [lambda i=i: store.incident(i.id) for i in chosen]
        read = await _bounded(calls)
    except Overloaded as exc:
        raise HistoryError(f"the store cannot be read: {exc}") from None
    return [
        record_of(incident, timeline, declaration=declaration, as_of=as_of)
        for incident, timeline in (pair for pair in read if pair is not None)
    ]


async def _get(http: aiohttp.ClientSession, url: str) -> Any:
    try:
        async with http.get(url) as response:
            if response.status in (401, 403):
                raise HistoryError(
                    f"{url}: {response.status}: the API needs a token with the read scope (--token)"
                )
            if response.status != 200:
                text = (await response.text())[:200]
                raise HistoryError(f"{url}: {response.status}: {text}")
            return await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise HistoryError(f"{url}: {type(exc).__name__}: {exc}") from None


def _entry(data: Any) -> TimelineEntry | None:
    """A timeline entry; None for one this version cannot read (a newer daemon's kind):
    reports count entries, they do not need every one."""
    try:
        return entry_from_dict(data)
    except ValidationError:
        return None


def _detail_record(data: Any) -> IncidentRecord:
    if not isinstance(data, Mapping):
        raise HistoryError("the API answered something that is not an incident")
    timeline = [e for e in map(_entry, data.get("timeline") or ()) if e is not None]
    sla = data.get("sla")
    return record_from_view(data, sla=sla if isinstance(sla, Mapping) else {}, timeline=timeline)


async def incidents_from_api(
    url: str, period: Period, *, token: str | None, seconds: float = 30.0
) -> tuple[list[IncidentRecord], list[str]]:
    """The incidents declared in `period` from a running daemon, oldest first, each with
    its timeline and SLA clocks as the daemon judges them; and notes on what is missing.
    Pages through `GET /api/v1/incidents` (`API_LIMIT` a page, `before=`) until past `since`,
    at most `API_PAGES` pages."""
    base = url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    notes: list[str] = []
    async with aiohttp.ClientSession(
        headers=headers, timeout=aiohttp.ClientTimeout(total=seconds)
    ) as http:
        wires: list[IncidentRecord] = []
        before: object = None
        for _ in range(API_PAGES):
            page = f"&before={before}" if before is not None else ""
            listed = await _get(http, f"{base}/api/v1/incidents?limit={API_LIMIT}{page}")
            items = listed.get("incidents") if isinstance(listed, Mapping) else None
            if not isinstance(items, list):
                raise HistoryError(f"{base}: not incidentd's incident list")
            wires += [record_from_view(i, sla={}) for i in items if isinstance(i, Mapping)]
            before = listed.get("next_before")
            if not isinstance(before, int) or not wires or wires[-1].declared_at < period.since:
                break
        else:
            notes.append(
                f"Read the newest {API_PAGES * API_LIMIT} incidents only: those declared before "
                f"{wires[-1].declared_at:%Y-%m-%d %H:%M} UTC are missing (read the Redis "
                "store for a longer period)."
            )
        chosen = [w for w in reversed(wires) if period.holds(w.declared_at)]
        quoted = [urllib.parse.quote(w.id, safe="") for w in chosen]
        calls = [lambda q=q: _get(http, f"{base}/api/v1/incidents/{q}") for q in quoted]
        details = await _bounded(calls)
    return [_detail_record(d) for d in details], notes


# --- alerts from recorded webhooks ----------------------------------------------------------------

ALERT_COLUMNS: Final = (
    *("at", "fingerprint", "outcome", "group_id"),
    *("source", "name", "service", "severity"),
)


@dataclass(slots=True)
class AlertHistory:
    """Recorded webhooks as the engine saw them."""

    events: pd.DataFrame
    """One row per alert outcome (ALERT_COLUMNS): each report received (`new`, `repeat`,
    `resolve`, `reopen`, `duplicate`, `stale`, `early_resolve`) and each expiry (`expire`,
    at its due time); `service` is the impact map's (None: unmapped)."""
    incidents: tuple[IncidentRecord, ...]
    """What the engine declared from these alerts (with the config given), oldest first."""
    files: tuple[Path, ...]
    lines: int = 0
    skipped: int = 0
    """Lines that could not be read (a torn last line, another version's format)."""
    attached: frozenset[str] = field(default_factory=frozenset)
    """Fingerprints of every alert the engine attached to an incident."""


def with_rotated(paths: Iterable[Path]) -> list[Path]:
    """The files to read: each one given, preceded by its rotated `<name>.1` when that
    exists and was not given (the recorder rotates without telling anyone)."""
    given = list(dict.fromkeys(paths))
    out: list[Path] = []
    for path in given:
        older = path.with_name(path.name + ".1")
        if older not in given and older not in out and older.is_file():
            out.append(older)
        if path not in out:
            out.append(path)
    return out


@dataclass(slots=True)
class _Sink:
    rows: list[tuple[datetime, str, str, str | None]] = field(default_factory=list)
    meta: dict[str, tuple[str, str, str | None, str]] = field(default_factory=dict)
    incidents: dict[str, Incident] = field(default_factory=dict)
    timelines: dict[str, list[TimelineEntry]] = field(default_factory=dict)


def _collect(engine: Engine, decisions: list[Decision], sink: _Sink) -> None:
    for d in decisions:
        if (
            d.fingerprint is not None
            and d.kind.startswith("alert.")
            and d.kind != "alert.silence_changed"
        ):
            sink.rows.append((d.at, d.fingerprint, d.kind[6:], d.group_id))
    changes = engine.take_changes()
    for incident in changes.incidents.incidents:
        sink.incidents[incident.id] = incident
    for incident_id, entry in changes.incidents.entries:
        sink.timelines.setdefault(incident_id, []).append(entry)


def read_recordings(
    paths: Sequence[Path],
    rules: RuleSet,
    *,
    as_of: datetime,
    settle: timedelta = timedelta(hours=1),
) -> AlertHistory:
    """Run recorded webhooks (or normalized alerts) through a fresh engine with `rules`, as
    `incidentd replay` does: each alert at its `received_at`, in replay's batches, the timers
    due `settle` after the last one run at the end. Several files (rotations, replicas) are
    merged by time. Unreadable lines are counted, not fatal. Raises HistoryError when a file
    cannot be opened."""
    files = with_rotated(paths)
    summaries = [Summary() for _ in files]
    engine = Engine()
    impact = engine.compiled(rules).impact
    sink = _Sink()
    batch: list[Alert] = []
    last: datetime | None = None
    with ExitStack() as stack:
        try:
            handles = [stack.enter_context(path.open("rb")) for path in files]
        except OSError as exc:
            raise HistoryError(f"cannot read {exc.filename}: {exc.strerror or exc}") from None
        streams = [
            read_alerts(handle, rules, summary, strict=False)
            for handle, summary in zip(handles, summaries, strict=True)
        ]
        for alert in heapq.merge(*streams, key=lambda a: a.received_at):
            if alert.fingerprint not in sink.meta:
                service = impact.service_for(alert)
                severity = alert.severity.name.lower()
                sink.meta[alert.fingerprint] = (alert.source, alert.name, service, severity)
            batch.append(alert)
            last = alert.received_at
            if len(batch) >= BATCH:
                _collect(engine, engine.process(batch, rules=rules), sink)
                batch.clear()
        _collect(engine, engine.process(batch, rules=rules), sink)
    if last is not None:
        _collect(engine, engine.tick(rules=rules, now=last + settle), sink)
    return _alert_history(sink, files, summaries, rules.declaration, as_of)


def _alert_history(
    sink: _Sink,
    files: list[Path],
    summaries: list[Summary],
    declaration: DeclarationFile,
    as_of: datetime,
) -> AlertHistory:
    events = pd.DataFrame(sink.rows, columns=["at", "fingerprint", "outcome", "group_id"])
    events["at"] = pd.to_datetime(events["at"], utc=True)
    meta = pd.DataFrame.from_dict(
        sink.meta, orient="index", columns=["source", "name", "service", "severity"]
    )
    events = events.join(meta, on="fingerprint")
    incidents = sorted(sink.incidents.values(), key=lambda i: i.number)
    records = tuple(
        record_of(i, sink.timelines.get(i.id, []), declaration=declaration, as_of=as_of)
        for i in incidents
    )
    return AlertHistory(
        events=events[list(ALERT_COLUMNS)],
        incidents=records,
        files=tuple(files),
        lines=sum(s.lines for s in summaries),
        skipped=sum(s.skipped for s in summaries),
        attached=frozenset(fp for i in incidents for fp in i.alerts),
    )


def occurrences(events: pd.DataFrame) -> pd.DataFrame:
    """One row per firing (an alert's `new` or `reopen`): fingerprint, source, name,
    service, severity, started (when reported), ended (its resolve or expiry; NaT while it
    still fires) and minutes (NaN while it fires)."""
    changes = events[events["outcome"].isin(FIRING_OUTCOMES | ENDING_OUTCOMES)]
    changes = changes.sort_values(["fingerprint", "at"], kind="stable")
    after = changes.groupby("fingerprint", sort=False)[["at", "outcome"]].shift(-1)
    starts = changes["outcome"].isin(FIRING_OUTCOMES)
    ended = after["at"].where(after["outcome"].isin(ENDING_OUTCOMES))
    out = changes.loc[starts, ["fingerprint", "source", "name", "service", "severity"]].copy()
    out["started"] = changes.loc[starts, "at"]
    out["ended"] = ended[starts]
    out["minutes"] = (out["ended"] - out["started"]).dt.total_seconds() / 60
    return out.reset_index(drop=True)


# --- everything a report reads ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the history comes from. Incidents: the API when `api_url`, else the store at
    `redis_url`, else what the engine declared from the recorded alerts."""

    api_url: str | None = None
    token: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "incidentd"
    alert_files: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class History:
    period: Period
    as_of: datetime
    incidents: tuple[IncidentRecord, ...]
    """Declared in the period, oldest first."""
    alerts: AlertHistory | None
    owners: Mapping[str, str]
    """Service -> owning team (services.yaml)."""
    sources: tuple[str, ...]
    """What was read, for people (no credentials)."""
    notes: tuple[str, ...] = ()


def redact(url: str) -> str:
    """The URL without its password."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (
        f":{parts.port}" if parts.port else ""
    )
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


async def _redis_records(
    url: str, prefix: str, period: Period, rules: RuleSet, as_of: datetime
) -> list[IncidentRecord]:
    from incidentd.store.redis_state import RedisState  # only this source needs the client

    try:
        store = RedisState.from_url(url, prefix=prefix)
    except ValueError as exc:  # not a redis:// URL
        raise HistoryError(f"--redis-url: {exc}") from None
    try:
        return await incidents_from_store(store, period, declaration=rules.declaration, as_of=as_of)
    finally:
        await store.close()


async def load(sources: Sources, rules: RuleSet, period: Period, *, as_of: datetime) -> History:
    """Everything a report reads. Raises HistoryError when a source cannot be read."""
    alerts = None
    read: list[str] = []
    notes: list[str] = []
    if sources.alert_files:
        alerts = await asyncio.to_thread(read_recordings, sources.alert_files, rules, as_of=as_of)
        names = ", ".join(p.name for p in alerts.files)
        read.append(
            f"alerts: {alerts.lines:,} recorded lines ({names}), through the engine with "
            f"rules {rules.version}"
        )
        if alerts.skipped:
            notes.append(f"{alerts.skipped:,} recorded lines could not be read and were skipped.")
    if sources.api_url:
        records, more = await incidents_from_api(sources.api_url, period, token=sources.token)
        notes += more
        read.append(f"incidents: the API of {redact(sources.api_url)}")
    elif sources.redis_url:
        records = await _redis_records(
            sources.redis_url, sources.redis_prefix, period, rules, as_of
        )
        read.append(f"incidents: Redis {redact(sources.redis_url)} (prefix {sources.redis_prefix})")
    elif alerts is not None:
        records = [r for r in alerts.incidents if period.holds(r.declared_at)]
        read.append("incidents: those the engine declares from the recorded alerts")
    else:
        raise HistoryError("no history to read: give --url, --redis-url or --alerts")
    owners = {name: service.owner for name, service in rules.services.services.items()}
    return History(period, as_of, tuple(records), alerts, owners, tuple(read), tuple(notes))
