"""The offline driver: recorded alerts through the same Engine on virtual time.

Input is JSON Lines of either normalized alerts (as `incidentd normalize` prints them) or raw
webhook records `{"source": ..., "received_at": ..., "body": ...}` (as the daemon records
them), in the order they were received. Each alert is processed at its own `received_at`;
after the last one, the timers due within `settle` run (groups that would have resolved).
As fast as the CPU allows: no clock is read and nothing sleeps.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from incidentd.declare import incident as inc
from incidentd.declare.timeline import TimelineEntry
from incidentd.engine import Changes, Decision, Engine
from incidentd.errors import InputError
from incidentd.ingest.registry import SOURCES
from incidentd.ingest.source import RawWebhook, SourceOptions, run_parser
from incidentd.model import Alert, UtcDatetime
from incidentd.rules.loader import RuleSet

BATCH = 512
YOUNG_GENERATION = 10_000
"""Allocations between two collections of the garbage collector's youngest generation while
replaying (Python's default: 700). The engine allocates dozens of objects per alert and
reference counting frees nearly all of them: with the default, the cyclic collector takes a
tenth of a replay walking young objects that are not garbage; with this, 3-4% (measured
with 50,000 alerts of the example storm)."""


class WebhookRecord(BaseModel):
    """One received webhook as the daemon records it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    source: str
    received_at: UtcDatetime
    body: str


class ReplayEngine(Engine):
    """The engine, and the timelines a store would have kept."""

    def __init__(self) -> None:
        super().__init__()
        self.timelines: dict[str, list[TimelineEntry]] = {}


class ReplayError(InputError):
    """A line of the replay file that cannot be read: names the line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(slots=True)
class Summary:
    lines: int = 0
    alerts: int = 0
    skipped: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    seconds: float = 0.0


def _alerts_of(line_no: int, record: dict[str, Any], rules: RuleSet) -> list[Alert]:
    if "fingerprint" in record:
        return [Alert.model_validate(record)]
    webhook = WebhookRecord.model_validate(record)
    source = SOURCES.get(webhook.source)
    if source is None:
        raise ReplayError(line_no, f"unknown source {webhook.source!r}")
    spec = rules.sources.source(webhook.source)
    raw = RawWebhook(
        source=webhook.source,
        body=webhook.body.encode("utf-8", "surrogatepass"),
        headers={},
        received_at=webhook.received_at,
        options=SourceOptions(
            auto_resolve_after=spec.ttl(source.default_auto_resolve_after), sender=spec.sender
        ),
    )
    return run_parser(source, raw)


def read_alerts(
    lines: Iterable[bytes], rules: RuleSet, summary: Summary, *, strict: bool
) -> Iterator[Alert]:
    """Alerts of every line; a bad line raises ReplayError (strict) or is counted as skipped."""
    for line_no, line in enumerate(lines, start=1):
        summary.lines = line_no
        if not line.strip():
            continue
        try:
            if b'"body"' not in line:  # a normalized alert: parsed and validated in one pass
                yield Alert.model_validate_json(line)
                continue
            record = orjson.loads(line)
            if not isinstance(record, dict):
                raise ReplayError(line_no, "not a JSON object")
            yield from _alerts_of(line_no, record, rules)
        except (orjson.JSONDecodeError, ValidationError, InputError) as exc:
            if strict:
                if isinstance(exc, ReplayError):
                    raise
                raise ReplayError(line_no, _short(exc)) from None
            summary.skipped += 1


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc).splitlines()[0]


def replay(
    lines: Iterable[bytes],
    rules: RuleSet,
    *,
    settle: timedelta = timedelta(hours=1),
    strict: bool = True,
    on_decision: Any = None,
) -> tuple[ReplayEngine, Summary]:
    """Run every alert through a fresh Engine; return it (its state holds the groups and the
    incidents; `timelines` the incidents' timelines)."""
    engine = ReplayEngine()
    summary = Summary()
    started = time.perf_counter()
    batch: list[Alert] = []

    def flush() -> None:
        _count(engine.process(batch, rules=rules), summary, on_decision)
        keep(engine.take_changes())
        batch.clear()
        gc.freeze()  # the engine's state so far: out of the collector's scans (see below)

    def keep(changes: Changes) -> None:
        """What a store would keep of the incidents: their timelines, in order."""
        for incident_id, entry in changes.incidents.entries:
            engine.timelines.setdefault(incident_id, []).append(entry)

    with _young_generation(YOUNG_GENERATION):
        for alert in read_alerts(lines, rules, summary, strict=strict):
            summary.alerts += 1
            summary.first = summary.first or alert.received_at
            summary.last = alert.received_at
            batch.append(alert)
            if len(batch) >= BATCH:
                flush()
        flush()
        if summary.last is not None:
            _count(engine.tick(rules=rules, now=summary.last + settle), summary, on_decision)
            keep(engine.take_changes())
    summary.seconds = time.perf_counter() - started
    return engine, summary


@contextmanager
def _young_generation(threshold: int) -> Iterator[None]:
    """The collector's first threshold set to `threshold` within the block, then restored;
    what the block froze (`gc.freeze` after each batch: the engine's state, which holds no
    reference cycles, is then not scanned again by every collection of the older
    generations: 4-10% of a replay) is unfrozen at its end, and collected as usual after."""
    before = gc.get_threshold()
    gc.set_threshold(threshold, *before[1:])
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def _count(decisions: list[Decision], summary: Summary, on_decision: Any) -> None:
    for decision in decisions:
        summary.decisions[decision.kind] = summary.decisions.get(decision.kind, 0) + 1
        if on_decision is not None:
            on_decision(decision)


def write_groups(engine: Engine, out: IO[bytes]) -> int:
    groups = sorted(engine.state.groups.values(), key=lambda g: (g.opened_at, g.id))
    for group in groups:
        out.write(orjson.dumps(group.view(engine.state.alerts)) + b"\n")
    return len(groups)


def write_incidents(engine: ReplayEngine, out: IO[bytes]) -> int:
    """The incidents the replay declared, oldest first, each with its timeline."""
    incidents = sorted(engine.state.declare.incidents.values(), key=lambda i: i.number)
    for incident in incidents:
        out.write(orjson.dumps(inc.view(incident, engine.timelines.get(incident.id, []))) + b"\n")
    return len(incidents)


def decision_record(decision: Decision) -> bytes:
    return orjson.dumps(decision) + b"\n"
