"""Generic JSON parser: incidentd's own documented alert shape (docs/generic-format.md).

For scripts, cron jobs and tools without a parser of their own. A body is one alert object,
or `{"alerts": [...]}` with at most MAX_ALERTS of them. Because the format is ours, it is
strict: unknown keys, wrong types (no "60" for 60), naive timestamps, an unknown severity
word or `ends_at` on a firing alert are a 422 naming the field; the whole body is refused.

Mapping of one alert object:
- fingerprint: source + `sender` + `dedup_key` when given, else source + `sender` + `name`
  + `service` + `labels` (annotations, title and severity are not identity).
- event_id: fingerprint + status + `id` when given (a retry with the same id is a
  redelivery), else fingerprint + status + starts_at + ends_at (as normalized below).
- severity: `severity` through `ingest/severity.py` (critical: critical/crit/page/p1/fatal/
  emergency; error: error/err/high/major/p2; warning: warning/warn/medium/minor/p3; info:
  info/low/none/ok/p4/p5), case-insensitive; an unknown word is a 422; absent -> warning.
- title: `title`, else `name`; service: `service`, "" counts as absent.
- starts_at: `starts_at`, else received_at; ends_at: None while firing, else `ends_at`,
  else received_at. All converted to UTC.
- auto_resolve_after: `auto_resolve_after` seconds, else the source options' value.
- group_key: None (the generic shape carries no sender-side grouping).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from incidentd.correlate.fingerprint import event_id, fingerprint
from incidentd.ingest.severity import SEVERITY_WORDS, severity_from_word
from incidentd.ingest.source import ParseError, RawWebhook, UtcTimestamp, decode
from incidentd.model import Alert, Severity, Status

SOURCE = "generic"
MAX_ALERTS = 1000
MAX_AUTO_RESOLVE_SECONDS = 366 * 24 * 3600


def _known_severity(word: str) -> str:
    if severity_from_word(word) is None:
        raise ValueError(f"unknown severity {word!r}; use one of: {', '.join(SEVERITY_WORDS)}")
    return word


SeverityWord = Annotated[str, AfterValidator(_known_severity)]
NonEmpty = Annotated[str, Field(min_length=1)]


class GenericAlert(BaseModel):
    """One alert object of the generic format; every field is documented in the docs."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: NonEmpty
    status: Status = Status.FIRING
    severity: SeverityWord | None = None
    title: str | None = None
    service: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: UtcTimestamp | None = None
    ends_at: UtcTimestamp | None = None
    url: str | None = None
    dedup_key: NonEmpty | None = None
    sender: str | None = None
    id: NonEmpty | None = None
    auto_resolve_after: (
        Annotated[float, Field(gt=0, le=MAX_AUTO_RESOLVE_SECONDS, allow_inf_nan=False)] | None
    ) = None


class GenericBatch(BaseModel):
    """`{"alerts": [...]}`: several alerts in one body, accepted or refused as a whole."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    alerts: list[GenericAlert] = Field(max_length=MAX_ALERTS)


class _Shape(BaseModel):
    """Tells the two accepted shapes apart: a top-level `alerts` key means a batch."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    alerts: object = None


class GenericSource:
    default_auto_resolve_after: timedelta | None = None
    name = SOURCE

    def check(self, raw: RawWebhook) -> int:
        return len(self.parse(raw))  # one alert per body, or few: no cheaper check worth it

    def parse(self, raw: RawWebhook) -> list[Alert]:
        if "alerts" in decode(_Shape, raw.body).model_fields_set:
            batch = decode(GenericBatch, raw.body).alerts
            located = [(f"$.alerts[{i}]", alert) for i, alert in enumerate(batch)]
        else:
            located = [("$", decode(GenericAlert, raw.body))]
        received_at = raw.received_at.astimezone(UTC)
        ttl = raw.options.auto_resolve_after
        return [
            to_alert(alert, path=path, received_at=received_at, auto_resolve_after=ttl)
            for path, alert in located
        ]


def to_alert(
    alert: GenericAlert,
    *,
    path: str,
    received_at: datetime,
    auto_resolve_after: timedelta | None,
) -> Alert:
    """Map one decoded alert object; `path` (e.g. `$.alerts[3]`) prefixes any ParseError."""
    service = alert.service or None
    if alert.dedup_key is not None:
        fp = fingerprint(SOURCE, "dedup_key", alert.sender, alert.dedup_key)
    else:
        fp = fingerprint(SOURCE, "labels", alert.sender, alert.name, service, alert.labels)
    starts_at, ends_at = _times(alert, path, received_at)
    if alert.id is not None:
        event = event_id(fp, "id", alert.status.value, alert.id)
    else:
        ends = None if ends_at is None else ends_at.isoformat()
        event = event_id(fp, alert.status.value, starts_at.isoformat(), ends)
    ttl = auto_resolve_after
    if alert.auto_resolve_after is not None:
        ttl = timedelta(seconds=alert.auto_resolve_after)
    return Alert(
        source=SOURCE,
        fingerprint=fp,
        event_id=event,
        status=alert.status,
        severity=_severity(alert.severity),
        name=alert.name,
        title=alert.title or alert.name,
        service=service,
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        starts_at=starts_at,
        ends_at=ends_at,
        received_at=received_at,
        url=alert.url or None,
        group_key=None,
        auto_resolve_after=ttl,
    )


def _severity(word: str | None) -> Severity:
    known = None if word is None else severity_from_word(word)
    return Severity.WARNING if known is None else known


def _times(
    alert: GenericAlert, path: str, received_at: datetime
) -> tuple[datetime, datetime | None]:
    starts_at = received_at if alert.starts_at is None else alert.starts_at
    if alert.status is Status.FIRING:
        if alert.ends_at is not None:
            raise ParseError(f"{path}.ends_at", "only allowed when status is resolved")
        return starts_at, None
    if alert.ends_at is None:
        return starts_at, received_at
    return starts_at, alert.ends_at
