"""Prometheus Alertmanager webhook (`version: "4"`): one `Alert` per entry of `alerts[]`.

A POST is one notification for one aggregation group. The group `status` stays "firing" while
any alert in it fires, so a firing notification can carry resolved alerts: everything here is
decided per alert, never per group.

- fingerprint: hash of the source, `externalURL` (without a trailing "/") and the alert's label
  set, sorted. The same identity as Alertmanager's `fingerprint` (a hash of the labels), but
  computed here, not trusted; Alertmanager's value is not read. HA peers must therefore share
  one `--web.external-url`, or each peer's notifications count as other alerts; where they
  cannot, the source's `sender` (sources.yaml, or `?sender=` in the URL) replaces externalURL.
- event_id: fingerprint + status + startsAt + the endsAt of a resolved alert (as UTC instants,
  so "…22.5Z" and "…22.500Z" agree): a redelivery, a repeat_interval re-send, or the same alert
  again in its group's next notification has the same id.
- labels: exactly the alert's labels. annotations: the alert's own, plus
  `incidentd_truncated_alerts: "N"` on every alert when `truncatedAlerts` N > 0 (max_alerts
  dropped N alerts of the group; they are never sent, not even resolved).
- starts_at: `startsAt` (required, Go's zero time refused). ends_at: `endsAt` of a resolved
  alert (received_at if it has none); None while firing, whatever `endsAt` says (Alertmanager
  sends `0001-01-01T00:00:00Z` then).
- severity (incidentd.ingest.severity, shared with Grafana): the first of the labels
  `severity`, `priority`, `level` whose value, stripped and lower-cased, is in this map (an
  unknown value falls through to the next label); else warning:
      critical: critical crit page p1 fatal emergency
      error:    error err high major p2
      warning:  warning warn medium minor p3
      info:     info low none ok p4 p5
- service: the first non-empty label of `service`, `app`, `app_kubernetes_io_name`, `job` (the
  scrape job: a weak last resort), else None.
- name: label `alertname`, or "unnamed" when it is missing or empty (the format allows that).
- title: the first non-empty line of annotation `summary`, else `title`, else `description`;
  else `alertname (k=v, ...)` with up to three other labels by name, severity labels left out,
  whitespace runs made one space ("unnamed" if nothing is left). At most 200 characters.
- group_key: the JSON array [externalURL, receiver, groupKey], the receiver unescaped from Go's
  regexp.QuoteMeta (`db.pager (prod)` arrives as `db\\.pager \\(prod\\)`): groupKey alone
  repeats across clusters and receivers. None when groupKey is empty.
- url: `generatorURL`, None when empty. auto_resolve_after: raw.options, None by default
  (Alertmanager sends resolves, unless a receiver sets send_resolved: false).

Accepted: `version` "4" only; a Grafana body (version "1", `orgId`) gets a 422 that points at
/webhooks/grafana. Nothing is coerced (a number where a string belongs is a 422): labels and
annotations map strings to strings (annotations may be null), timestamps are RFC 3339 strings
with an offset (digits past the microsecond are dropped). An empty `alerts` list gives no
alert rather than an error: Alertmanager never sends one, and it is harmless. A missing
receiver, externalURL or groupKey is taken as "" (hand-made senders); groupLabels,
commonLabels, commonAnnotations, the group status and alerts[].fingerprint are not read.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from incidentd.correlate.fingerprint import event_id, fingerprint
from incidentd.ingest.severity import SEVERITY_LABELS, severity_from_labels
from incidentd.ingest.source import RawWebhook, UtcTimestamp, decode
from incidentd.model import EPOCH_ZERO, Alert, Status

_SERVICE_LABELS = ("service", "app", "app_kubernetes_io_name", "job")
_TITLE_ANNOTATIONS = ("summary", "title", "description")
_NOT_IN_TITLE = frozenset({"alertname", *SEVERITY_LABELS})
_TITLE_MAX = 200
TRUNCATED_ANNOTATION = "incidentd_truncated_alerts"
_STATUS = {"firing": Status.FIRING, "resolved": Status.RESOLVED}
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
"""Every character str.splitlines() splits on."""
_QUOTE_META = re.compile(r"\\([\\.+*?()|\[\]{}^$])")


def _not_zero(value: datetime) -> datetime:
    if value == EPOCH_ZERO:
        raise ValueError("startsAt is Go's zero time: the alert has no start")
    return value


def _zero_is_none(value: datetime | None) -> datetime | None:
    return None if value == EPOCH_ZERO else value


class _WireAlert(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] | None = None
    starts_at: Annotated[UtcTimestamp, AfterValidator(_not_zero)] = Field(alias="startsAt")
    ends_at: Annotated[UtcTimestamp | None, AfterValidator(_zero_is_none)] = Field(
        default=None, alias="endsAt"
    )
    generator_url: str | None = Field(default=None, alias="generatorURL")


class _Notification(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    org_id: Any = Field(default=None, alias="orgId")  # only to recognise a Grafana body
    version: str
    alerts: list[_WireAlert]
    receiver: str = ""
    external_url: str = Field(default="", alias="externalURL")
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")

    @field_validator("version")
    @classmethod
    def _version_4(cls, value: str, info: ValidationInfo) -> str:
        if value == "4":
            return value
        if value == "1" or info.data.get("org_id") is not None:
            raise ValueError(
                f"version {value!r} is a Grafana alerting webhook, not Alertmanager's "
                "version '4': post it to /webhooks/grafana"
            )
        raise ValueError(f"unsupported version {value!r}: Alertmanager webhooks are version '4'")


def service_of(labels: dict[str, str]) -> str | None:
    return next((labels[k] for k in _SERVICE_LABELS if labels.get(k, "").strip()), None)


def _first_line(text: str) -> str:
    if _LINE_BREAK.search(text) is None:  # the usual one-line summary: no split needed
        return text.strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def title_of(name: str, labels: dict[str, str], annotations: dict[str, str]) -> str:
    title = next(
        (line for key in _TITLE_ANNOTATIONS if (line := _first_line(annotations.get(key, "")))),
        "",
    )
    if not title:
        shown = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in _NOT_IN_TITLE][:3]
        title = " ".join((f"{name} ({', '.join(shown)})" if shown else name).split()) or "unnamed"
    return title if len(title) <= _TITLE_MAX else title[: _TITLE_MAX - 1] + "…"


def unquote_meta(receiver: str) -> str:
    """Undo Go's regexp.QuoteMeta, which Alertmanager applies to the receiver name."""
    return _QUOTE_META.sub(r"\1", receiver)


class AlertmanagerSource:
    default_auto_resolve_after: timedelta | None = None
    name = "alertmanager"

    def check(self, raw: RawWebhook) -> int:
        """The wire model is the whole validation: normalizing a valid alert cannot fail."""
        return len(decode(_Notification, raw.body).alerts)

    def parse(self, raw: RawWebhook) -> list[Alert]:
        note = decode(_Notification, raw.body)
        sender = raw.options.sender or note.external_url.rstrip("/")
        group_key = None
        if note.group_key:
            parts = [sender, unquote_meta(note.receiver), note.group_key]
            group_key = orjson.dumps(parts).decode()
        extra = {TRUNCATED_ANNOTATION: str(note.truncated_alerts)} if note.truncated_alerts else {}
        return [self._alert(raw, wire, sender, group_key, extra) for wire in note.alerts]

    def _alert(
        self,
        raw: RawWebhook,
        wire: _WireAlert,
        sender: str,
        group: str | None,
        extra: dict[str, str],
    ) -> Alert:
        fp = fingerprint(self.name, sender, wire.labels)
        resolved = wire.status == "resolved"
        ends = wire.ends_at if resolved else None
        ends_id = None if ends is None else ends.isoformat()
        name = wire.labels.get("alertname") or "unnamed"
        annotations = {**(wire.annotations or {}), **extra}
        return Alert(
            source=self.name,
            fingerprint=fp,
            event_id=event_id(fp, wire.status, wire.starts_at.isoformat(), ends_id),
            status=_STATUS[wire.status],
            severity=severity_from_labels(wire.labels),
            name=name,
            title=title_of(name, wire.labels, annotations),
            service=service_of(wire.labels),
            labels=dict(wire.labels),
            annotations=annotations,
            starts_at=wire.starts_at,
            ends_at=(ends or raw.received_at) if resolved else None,
            received_at=raw.received_at,
            url=wire.generator_url or None,
            group_key=group,
            auto_resolve_after=raw.options.auto_resolve_after,
        )
