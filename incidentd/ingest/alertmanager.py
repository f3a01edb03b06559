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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import msgspec
import orjson

from incidentd.correlate.fingerprint import event_id, fingerprint
from incidentd.ingest.severity import SEVERITY_LABELS, severity_from_labels
from incidentd.ingest.source import ParseError, RawWebhook, decode_struct, rfc3339_utc_all
from incidentd.model import EPOCH_ZERO, Alert, Status

_SERVICE_LABELS = ("service", "app", "app_kubernetes_io_name", "job")
_TITLE_ANNOTATIONS = ("summary", "title", "description")
_NOT_IN_TITLE = frozenset({"alertname", *SEVERITY_LABELS})
_TITLE_MAX = 200
TRUNCATED_ANNOTATION = "incidentd_truncated_alerts"
_STATUS = {"firing": Status.FIRING, "resolved": Status.RESOLVED}
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"
_TIMESTAMP_FIELDS = (".startsAt", ".endsAt")
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
"""Every character str.splitlines() splits on."""
_QUOTE_META = re.compile(r"\\([\\.+*?()|\[\]{}^$])")


class _WireAlert(msgspec.Struct, frozen=True, gc=False):
    # msgspec rather than pydantic: the request path checks every alert of every body, and
    # this costs about a quarter as much. Timestamps are strings here: _instants() converts them.
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    starts_at: str = msgspec.field(name="startsAt")
    annotations: dict[str, str] | None = None
    ends_at: str | None = msgspec.field(default=None, name="endsAt")
    generator_url: str | None = msgspec.field(default=None, name="generatorURL")


class _Notification(msgspec.Struct, frozen=True, gc=False):
    version: str
    alerts: list[_WireAlert]
    org_id: object = msgspec.field(default=None, name="orgId")  # only to recognise Grafana
    receiver: str = ""
    external_url: str = msgspec.field(default="", name="externalURL")
    group_key: str = msgspec.field(default="", name="groupKey")
    truncated_alerts: int = msgspec.field(default=0, name="truncatedAlerts")


class _Envelope(msgspec.Struct, frozen=True, gc=False):
    """What a body that fails the wire model says it is, so that a Grafana body is told so."""

    version: str = "4"
    org_id: object = msgspec.field(default=None, name="orgId")


_NOTIFICATION = msgspec.json.Decoder(_Notification)
_ENVELOPE = msgspec.json.Decoder(_Envelope)


@dataclass(frozen=True, slots=True)
class _Instants:
    """A body's timestamps in UTC: converted for all its alerts together, not alert by alert."""

    starts: list[datetime]
    ends: dict[int, datetime]
    """endsAt by alert index, where it is neither absent nor Go's zero time."""


def _instants(alerts: list[_WireAlert]) -> _Instants:
    starts = rfc3339_utc_all([w.starts_at for w in alerts], lambda i: f"$.alerts[{i}].startsAt")
    if EPOCH_ZERO in starts:
        raise ParseError(
            f"$.alerts[{starts.index(EPOCH_ZERO)}].startsAt",
            "startsAt is Go's zero time: the alert has no start",
        )
    # Every firing alert carries Go's zero time: only the other ones need converting.
    ended = [
        (i, text)
        for i, w in enumerate(alerts)
        if (text := w.ends_at) is not None and text != _GO_ZERO_TIME
    ]
    if not ended:  # a notification of firing alerts
        return _Instants(starts, {})
    ends = rfc3339_utc_all([text for _, text in ended], lambda k: f"$.alerts[{ended[k][0]}].endsAt")
    return _Instants(
        starts, {i: end for (i, _), end in zip(ended, ends, strict=True) if end != EPOCH_ZERO}
    )


def _read(body: bytes) -> tuple[_Notification, _Instants]:
    """The whole validation of a body (ParseError, NotJSON); normalizing cannot fail after."""
    try:
        note = decode_struct(_NOTIFICATION, body)
    except ParseError as exc:
        raise _explained(exc, body) from None
    if (wrong_version := _version_error(note.version, note.org_id)) is not None:
        raise wrong_version
    if note.truncated_alerts < 0:
        raise ParseError("$.truncatedAlerts", f"Expected `int` >= 0, got {note.truncated_alerts}")
    return note, _instants(note.alerts)


def _explained(exc: ParseError, body: bytes) -> ParseError:
    """The version's verdict comes first, as it names the endpoint the body was meant for; a
    timestamp of the wrong type is named a timestamp (the wire model reads it as a string)."""
    try:
        envelope = _ENVELOPE.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        envelope = _Envelope()
    if (wrong_version := _version_error(envelope.version, envelope.org_id)) is not None:
        return wrong_version
    reason = exc.reason_text
    if exc.path.endswith(_TIMESTAMP_FIELDS) and reason.startswith("Expected `str`"):
        found = reason.removeprefix("Expected `str`")
        return ParseError(exc.path, f"Expected an RFC 3339 timestamp string{found}")
    if exc.path.endswith(".status") and reason.startswith("Invalid enum value "):
        found = reason.removeprefix("Invalid enum value ")
        found = found if len(found) <= 42 else found[:40] + "…"
        return ParseError(exc.path, f"Expected 'firing' or 'resolved', got {found}")
    return exc


def _version_error(version: str, org_id: object) -> ParseError | None:
    if version == "4":
        return None
    if version == "1" or org_id is not None:
        return ParseError(
            "$.version",
            f"version {version!r} is a Grafana alerting webhook, not Alertmanager's "
            "version '4': post it to /webhooks/grafana",
        )
    return ParseError(
        "$.version", f"unsupported version {version!r}: Alertmanager webhooks are version '4'"
    )


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
        """The wire model and _read are the whole validation: normalizing cannot fail."""
        return len(_read(raw.body)[0].alerts)

    def parse(self, raw: RawWebhook) -> list[Alert]:
        note, instants = _read(raw.body)
        sender = raw.options.sender or note.external_url.rstrip("/")
        group_key = None
        if note.group_key:
            parts = [sender, unquote_meta(note.receiver), note.group_key]
            group_key = orjson.dumps(parts).decode()
        extra = {TRUNCATED_ANNOTATION: str(note.truncated_alerts)} if note.truncated_alerts else {}
        return [
            self._alert(
                raw,
                wire,
                starts_at=starts_at,
                ends_at=instants.ends.get(i),
                sender=sender,
                group=group_key,
                extra=extra,
            )
            for i, (wire, starts_at) in enumerate(zip(note.alerts, instants.starts, strict=True))
        ]

    def _alert(
        self,
        raw: RawWebhook,
        wire: _WireAlert,
        *,
        starts_at: datetime,
        ends_at: datetime | None,
        sender: str,
        group: str | None,
        extra: dict[str, str],
    ) -> Alert:
        fp = fingerprint(self.name, sender, wire.labels)
        resolved = wire.status == "resolved"
        ends = ends_at if resolved else None
        ends_id = None if ends is None else ends.isoformat()
        name = wire.labels.get("alertname") or "unnamed"
        annotations = {**(wire.annotations or {}), **extra}
        return Alert(
            source=self.name,
            fingerprint=fp,
            event_id=event_id(fp, wire.status, starts_at.isoformat(), ends_id),
            status=_STATUS[wire.status],
            severity=severity_from_labels(wire.labels),
            name=name,
            title=title_of(name, wire.labels, annotations),
            service=service_of(wire.labels),
            labels=dict(wire.labels),
            annotations=annotations,
            starts_at=starts_at,
            ends_at=(ends or raw.received_at) if resolved else None,
            received_at=raw.received_at,
            url=wire.generator_url or None,
            group_key=group,
            auto_resolve_after=raw.options.auto_resolve_after,
        )
