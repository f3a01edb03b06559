"""Grafana Alerting webhook parser: the contact point's default JSON body to normalized alerts.

The wire model follows `ExtendedData`/`ExtendedAlert` of grafana/alerting
(`templates/template_data.go`, sent by `receivers/webhook/v1/webhook.go`): the Alertmanager
shape with `version: "1"`, `orgId`, per-alert `silenceURL`/`dashboardURL`/`panelURL` (often
""), `values` (refId -> float, `null` when the rule has none) and the legacy `valueString`.
An Alertmanager body (`version: "4"`) is refused with a pointer to its own endpoint.

Mapping, one `Alert` per element of `alerts` (the group `status`/`state` are ignored):
- fingerprint: source + sender (`externalURL` without a trailing "/", `orgId`) + the alert's
  labels. Grafana's own `fingerprint` (a hash of the labels alone) is not used: two Grafanas
  or two orgs may share it.
- event_id: fingerprint + status + startsAt + endsAt, both normalized to UTC first, so that
  `+02:00` and `Z` spellings of one instant agree. `endsAt` counts only on resolved alerts;
  Go's zero time `0001-01-01T00:00:00Z` means "not ended" (None).
- severity: labels `severity`, `priority`, `level` through `ingest/severity.py` (critical:
  critical/crit/page/p1/fatal/emergency; error: error/err/high/major/p2; warning:
  warning/warn/medium/minor/p3; info: info/low/none/ok/p4/p5); unknown or missing -> warning.
- name: label `alertname` (required: Grafana sets it to the rule title); title: annotation
  `summary`, else the name; service: label `service`, else `app`, else None.
- url: `generatorURL`, else `panelURL`, else `dashboardURL` (the first that is not empty).
- annotations: the alert's own, plus (never overwriting one of them) `value_<refId>` for
  each entry of `values` (integral numbers without ".0", others as Python's repr),
  `value_string`, `image_url`, `dashboard_url`, `panel_url`, `silence_url` when not empty.
- group_key: the JSON array [externalURL, orgId, receiver, groupKey], the receiver unescaped
  from Go's regexp.QuoteMeta (as in alertmanager.py); None when groupKey is empty.
- auto_resolve_after: from the source options (Grafana resolves, unless the contact point
  disables resolve messages).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated

import orjson
from pydantic import BaseModel, ConfigDict, Field

from incidentd.correlate.fingerprint import event_id, fingerprint
from incidentd.ingest.severity import severity_from_labels
from incidentd.ingest.source import ParseError, RawWebhook, UtcTimestamp, decode
from incidentd.model import EPOCH_ZERO, Alert, Status

SOURCE = "grafana"
ALERTMANAGER_VERSION = "4"

_QUOTED_META = re.compile(r"\\([\\.+*?()|\[\]{}^$])")
"""Undoes Go's regexp.QuoteMeta, which Alertmanager's template data applies to `receiver`."""

Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class GrafanaAlert(BaseModel):
    """One element of `alerts` (grafana/alerting `ExtendedAlert`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Status
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    startsAt: UtcTimestamp
    endsAt: UtcTimestamp | None = None
    generatorURL: str | None = None
    silenceURL: str | None = None
    dashboardURL: str | None = None
    panelURL: str | None = None
    values: dict[str, float] | None = None
    valueString: str | None = None
    imageURL: str | None = None


class GrafanaWebhook(BaseModel):
    """The body (grafana/alerting `webhookMessage`); `orgId` is checked after decoding."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str | None = None
    orgId: Int64 | None = None
    receiver: str = ""
    externalURL: str = ""
    groupKey: str = ""
    alerts: list[GrafanaAlert]


class GrafanaSource:
    default_auto_resolve_after: timedelta | None = None
    name = SOURCE

    def check(self, raw: RawWebhook) -> int:
        return len(self.parse(raw))  # one alert per body, or few: no cheaper check worth it

    def parse(self, raw: RawWebhook) -> list[Alert]:
        wire = decode(GrafanaWebhook, raw.body)
        if wire.version == ALERTMANAGER_VERSION:
            raise ParseError(
                "$.version",
                'this is an Alertmanager webhook (version "4"): post it to /webhooks/alertmanager',
            )
        if wire.orgId is None:
            raise ParseError(
                "$.orgId", "Field required: every Grafana Alerting webhook carries orgId"
            )
        return to_alerts(
            wire,
            org_id=wire.orgId,
            received_at=raw.received_at,
            auto_resolve_after=raw.options.auto_resolve_after,
            sender=raw.options.sender,
        )


def to_alerts(
    wire: GrafanaWebhook,
    *,
    org_id: int,
    received_at: datetime,
    auto_resolve_after: timedelta | None,
    sender: str | None = None,
) -> list[Alert]:
    """Map a decoded body to alerts; raise ParseError for an alert we cannot name or place.

    `sender` (from the config or the URL) replaces `externalURL` in the identity.
    """
    sender = sender or wire.externalURL.rstrip("/")
    org = str(org_id)
    group_key = None
    if wire.groupKey:
        receiver = _QUOTED_META.sub(r"\1", wire.receiver)
        parts = [sender, org_id, receiver, wire.groupKey]
        group_key = orjson.dumps(parts).decode()
    out = []
    for index, alert in enumerate(wire.alerts):
        path = f"$.alerts[{index}]"
        labels = dict(alert.labels or {})
        name = labels.get("alertname", "")
        if not name:
            raise ParseError(f"{path}.labels.alertname", "Field required: names the alert")
        starts_at, ends_at = _times(alert)
        fp = fingerprint(SOURCE, sender, org, labels)
        annotations = dict(alert.annotations or {})
        out.append(
            Alert(
                source=SOURCE,
                fingerprint=fp,
                event_id=event_id(fp, alert.status.value, _iso(starts_at), _iso(ends_at)),
                status=alert.status,
                severity=severity_from_labels(labels),
                name=name,
                title=annotations.get("summary") or name,
                service=labels.get("service") or labels.get("app") or None,
                labels=labels,
                annotations=_with_extras(annotations, alert),
                starts_at=starts_at,
                ends_at=ends_at,
                received_at=received_at,
                url=alert.generatorURL or alert.panelURL or alert.dashboardURL or None,
                group_key=group_key,
                auto_resolve_after=auto_resolve_after,
            )
        )
    return out


def _times(alert: GrafanaAlert) -> tuple[datetime, datetime | None]:
    if alert.status is not Status.RESOLVED or alert.endsAt is None:
        return alert.startsAt, None
    return alert.startsAt, None if alert.endsAt == EPOCH_ZERO else alert.endsAt


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _with_extras(annotations: Mapping[str, str], alert: GrafanaAlert) -> dict[str, str]:
    extras = {f"value_{ref}": _number(v) for ref, v in sorted((alert.values or {}).items())}
    extras |= {
        key: value
        for key, value in (
            ("value_string", alert.valueString),
            ("image_url", alert.imageURL),
            ("dashboard_url", alert.dashboardURL),
            ("panel_url", alert.panelURL),
            ("silence_url", alert.silenceURL),
        )
        if value
    }
    return extras | dict(annotations)


def _number(value: float) -> str:
    # Go prints the refId value 1 as "1"; keep that, and full precision for the rest.
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)
