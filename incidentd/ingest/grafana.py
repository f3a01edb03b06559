"""Grafana Alerting webhook parser: the contact point's default JSON body to normalized alerts.

The wire model follows `ExtendedData`/`ExtendedAlert` of grafana/alerting
(`templates/template_data.go`, sent by `receivers/webhook/v1/webhook.go`): the Alertmanager
shape with `version: "1"`, `orgId`, per-alert `silenceURL`/`dashboardURL`/`panelURL` (often
""), `values` (refId -> float, `null` when the rule has none), the legacy `valueString` and,
from Grafana 11, a per-alert `orgId`. Older and other bodies Grafana really sends are read too:
- Grafana 8.0 embedded Alertmanager's plain `template.Data`: no `orgId`, no Grafana fields,
  and Grafana's private `__x__` labels and annotations (`__alert_rule_uid__`,
  `__value_string__`, ...) still in the body;
- `version: "4"`, the Alertmanager body, which Grafana 12 sends through a webhook receiver of an
  imported Alertmanager/Mimir configuration (grafana/alerting `receivers/webhook/v0mimir1`),
  private labels and annotations included (a real Alertmanager posting here is read the same);
- the legacy dashboard alerting body (Grafana 4 to 10, `evalMatches`): see grafana_legacy.py.

Mapping, one `Alert` per element of `alerts` (the group `status`/`state` are ignored):
- private `__x__` labels and annotations are dropped, as Grafana's own ExtendedData does, so an
  alert has the same labels (and identity) whichever of the shapes above carried it; the
  annotations `__orgId__`, `__values__`, `__value_string__`, `__dashboardUid__`, `__panelId__`
  fill in the org, values and dashboard when the body has no `orgId`/`values`/`valueString`/
  `dashboardURL`/`panelURL` of its own.
- org: top-level `orgId`, else the alert's `orgId`, else its `__orgId__` annotation, else 1
  (Grafana 8.0, the one version without `orgId`, ran Grafana alerting in the main org only).
- fingerprint: source + sender (`externalURL` without a trailing "/", org) + the alert's
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
  `value_string`, `image_url`, `dashboard_url` (else `dashboard_uid`), `panel_url` (else
  `panel_id`), `silence_url` when not empty.
- group_key: the JSON array [externalURL, org, receiver, groupKey], the receiver unescaped
  from Go's regexp.QuoteMeta (as in alertmanager.py); None when groupKey is empty.
- auto_resolve_after: from the source options (Grafana resolves, unless the contact point
  disables resolve messages).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta

import orjson
from pydantic import BaseModel, ConfigDict, RootModel

from incidentd.correlate.fingerprint import event_id, fingerprint
from incidentd.ingest import grafana_legacy
from incidentd.ingest.severity import severity_from_labels
from incidentd.ingest.source import Int64, ParseError, RawWebhook, UtcTimestamp, decode
from incidentd.model import EPOCH_ZERO, Alert, Status

SOURCE = "grafana"
DEFAULT_ORG = 1
"""The org of a body without any: Grafana 8.0 ran Grafana alerting in the main org only."""

_QUOTED_META = re.compile(r"\\([\\.+*?()|\[\]{}^$])")
"""Undoes Go's regexp.QuoteMeta, which Alertmanager's template data applies to `receiver`."""


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
    orgId: Int64 | None = None


class GrafanaWebhook(BaseModel):
    """The body (grafana/alerting `webhookMessage`, or Alertmanager's `template.Data`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str | None = None
    orgId: Int64 | None = None
    receiver: str = ""
    externalURL: str = ""
    groupKey: str = ""
    alerts: list[GrafanaAlert]


class _Keys(RootModel[dict[str, object]]):
    """The top-level keys only: tells the legacy alerting body from the others."""


class GrafanaSource:
    default_auto_resolve_after: timedelta | None = None
    name = SOURCE

    def check(self, raw: RawWebhook) -> int:
        return len(self.parse(raw))  # one alert per body, or few: no cheaper check worth it

    def parse(self, raw: RawWebhook) -> list[Alert]:
        keys = decode(_Keys, raw.body).root
        if "alerts" not in keys and grafana_legacy.LEGACY_KEYS & keys.keys():
            return grafana_legacy.parse(raw)
        wire = decode(GrafanaWebhook, raw.body)
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
    org_id: int | None,
    received_at: datetime,
    auto_resolve_after: timedelta | None,
    sender: str | None = None,
) -> list[Alert]:
    """Map a decoded body to alerts; raise ParseError for an alert we cannot name or place.

    `sender` (from the config or the URL) replaces `externalURL` in the identity; `org_id`
    None means the body has none (see the module's docstring).
    """
    sender = sender or wire.externalURL.rstrip("/")
    if org_id is None:
        org_id = next((_org_of(alert) for alert in wire.alerts), None) or DEFAULT_ORG
    org = str(org_id)
    group_key = None
    if wire.groupKey:
        receiver = _QUOTED_META.sub(r"\1", wire.receiver)
        parts = [sender, org_id, receiver, wire.groupKey]
        group_key = orjson.dumps(parts).decode()
    out = []
    for index, alert in enumerate(wire.alerts):
        path = f"$.alerts[{index}]"
        labels = _public(alert.labels or {})
        name = labels.get("alertname", "")
        if not name:
            raise ParseError(f"{path}.labels.alertname", "Field required: names the alert")
        starts_at, ends_at = _times(alert)
        fp = fingerprint(SOURCE, sender, org, labels)
        annotations = _public(alert.annotations or {})
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


def _is_private(key: str) -> bool:
    return len(key) > 4 and key.startswith("__") and key.endswith("__")


def _public(items: Mapping[str, str]) -> dict[str, str]:
    """Without Grafana's private `__x__` keys, as grafana/alerting's removePrivateItems."""
    return {key: value for key, value in items.items() if not _is_private(key)}


def _org_of(alert: GrafanaAlert) -> int | None:
    """The alert's own org: `orgId` (Grafana 11+), else the `__orgId__` annotation."""
    if alert.orgId is not None:
        return alert.orgId
    text = (alert.annotations or {}).get("__orgId__", "").strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


def _times(alert: GrafanaAlert) -> tuple[datetime, datetime | None]:
    if alert.status is not Status.RESOLVED or alert.endsAt is None:
        return alert.startsAt, None
    return alert.startsAt, None if alert.endsAt == EPOCH_ZERO else alert.endsAt


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _values(alert: GrafanaAlert) -> dict[str, float]:
    """`values`, else the `__values__` annotation (a JSON object of refId -> number) that
    bodies without Grafana's fields still carry; anything else in it is ignored."""
    if alert.values is not None:
        return alert.values
    try:
        loaded = json.loads((alert.annotations or {}).get("__values__", "{}"))
    except ValueError:
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {
        str(ref): float(v)
        for ref, v in loaded.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def _with_extras(annotations: Mapping[str, str], alert: GrafanaAlert) -> dict[str, str]:
    extras = {f"value_{ref}": grafana_legacy.number(v) for ref, v in sorted(_values(alert).items())}
    private = alert.annotations or {}
    extras |= {
        key: value
        for key, value in (
            ("value_string", alert.valueString or private.get("__value_string__")),
            ("dashboard_uid", None if alert.dashboardURL else private.get("__dashboardUid__")),
            ("panel_id", None if alert.panelURL else private.get("__panelId__")),
            ("image_url", alert.imageURL),
            ("dashboard_url", alert.dashboardURL),
            ("panel_url", alert.panelURL),
            ("silence_url", alert.silenceURL),
        )
        if value
    }
    return extras | dict(annotations)
