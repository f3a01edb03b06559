"""Grafana legacy dashboard alerting webhook (Grafana 4 to 10, `evalMatches`): one `Alert`.

Before unified alerting (default from Grafana 9, removed in 11) a dashboard panel's alert rule
posted one body per state change of the whole rule, without timestamps (grafana/grafana
`pkg/services/alerting/notifiers/webhook.go`):
`{title, ruleId, ruleName, ruleUrl, state, evalMatches[{value, metric, tags}], message,
imageUrl, orgId, dashboardId, panelId, tags}`. Grafana 4 spelt the links `rule_url` and
`image_url` and sent neither `message`, `orgId`, the dashboard/panel ids nor `tags`. The
**Test** button of a legacy notification channel posts rule 0, "Test notification".

Mapping:
- status: `state` alerting or no_data -> firing; ok or paused -> resolved (a paused rule is no
  longer evaluated and sends nothing more). Legacy alerting never notifies `pending`; any other
  state is a 422.
- fingerprint: source + sender (the source's `sender`, else scheme and host of the rule URL) +
  org (`orgId`, else the rule URL's `orgId` query parameter, else 1) + `ruleId` (the rule's
  database id; `ruleName` for rule 0, the test). The matched series are not identity: the rule
  alerts as a whole.
- event_id: fingerprint + state + received_at. The body has no timestamp and Grafana does not
  retry, so every notification is a report of its own.
- name: `ruleName`, else `title` without its `[State]` prefix; title: the same.
- labels: the rule's `tags` (strings), plus `alertname` (the name, unless a tag sets it) and
  `grafana_rule_id`, `grafana_dashboard_id`, `grafana_panel_id` when known.
- annotations: `message`, `state`, `image_url`, and `eval_matches`, the matched series as
  `metric=value` joined with "; " (at most 20; a null value is `null`).
- severity: the tags `severity`, `priority`, `level` (ingest/severity.py), else warning;
  service: tag `service`, else `app`.
- starts_at: received_at; ends_at: received_at when resolved.
- url: the rule URL. group_key: None. auto_resolve_after: the source options.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import SplitResult, parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict

from incidentd.correlate.fingerprint import event_id, fingerprint
from incidentd.ingest.severity import severity_from_labels
from incidentd.ingest.source import Int64, RawWebhook, decode
from incidentd.model import Alert, Status

SOURCE = "grafana"
LEGACY_KEYS = frozenset({"evalMatches", "ruleId", "ruleName"})
"""A body with one of these and no `alerts` is the legacy alerting body."""
DEFAULT_ORG = 1
MAX_MATCHES = 20
_STATUS = {
    "alerting": Status.FIRING,
    "no_data": Status.FIRING,
    "ok": Status.RESOLVED,
    "paused": Status.RESOLVED,
}
_STATE_PREFIX = re.compile(r"^\s*\[[^\]]*\]\s*")


class _EvalMatch(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    value: float | None = None
    metric: str = ""


class LegacyWebhook(BaseModel):
    """The legacy notifier's body; Grafana 4's snake_case link names are accepted too."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    state: Literal["alerting", "no_data", "ok", "paused"]
    title: str = ""
    ruleId: Int64 | None = None
    ruleName: str = ""
    ruleUrl: str = ""
    rule_url: str = ""
    imageUrl: str = ""
    image_url: str = ""
    message: str = ""
    evalMatches: list[_EvalMatch] | None = None
    orgId: Int64 | None = None
    dashboardId: Int64 | None = None
    panelId: Int64 | None = None
    tags: dict[str, str] | None = None


def parse(raw: RawWebhook) -> list[Alert]:
    wire = decode(LegacyWebhook, raw.body)
    rule_url = wire.ruleUrl or wire.rule_url
    link = _split(rule_url)
    sender = raw.options.sender or (f"{link.scheme}://{link.netloc}" if link.netloc else "")
    org = str(wire.orgId if wire.orgId is not None else _url_org(rule_url))
    rule: tuple[str, str] = ("rule", str(wire.ruleId)) if wire.ruleId else ("name", wire.ruleName)
    fp = fingerprint(SOURCE, sender, org, "legacy", *rule)
    name = wire.ruleName.strip() or _STATE_PREFIX.sub("", wire.title).strip() or "unnamed"
    status = _STATUS[wire.state]
    tags = dict(wire.tags or {})
    labels = {"alertname": name} | tags
    ids = (
        ("grafana_rule_id", wire.ruleId),
        ("grafana_dashboard_id", wire.dashboardId),
        ("grafana_panel_id", wire.panelId),
    )
    labels |= {key: str(value) for key, value in ids if value is not None}
    annotations = {
        "message": wire.message.strip(),
        "state": wire.state,
        "image_url": wire.imageUrl or wire.image_url,
        "eval_matches": _matches(wire.evalMatches or []),
    }
    resolved = status is Status.RESOLVED
    alert = Alert(
        source=SOURCE,
        fingerprint=fp,
        event_id=event_id(fp, wire.state, raw.received_at.isoformat()),
        status=status,
        severity=severity_from_labels(tags),
        name=name,
        title=name,
        service=tags.get("service") or tags.get("app") or None,
        labels=labels,
        annotations={key: value for key, value in annotations.items() if value},
        starts_at=raw.received_at,
        ends_at=raw.received_at if resolved else None,
        received_at=raw.received_at,
        url=rule_url or None,
        group_key=None,
        auto_resolve_after=raw.options.auto_resolve_after,
    )
    return [alert]


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError:  # a malformed link names no server
        return urlsplit("")


def _url_org(url: str) -> int:
    """The `orgId` query parameter of the rule URL (Grafana 4 and 5 bodies have no orgId)."""
    values = parse_qs(_split(url).query).get("orgId", [])
    text = values[0].strip() if values else ""
    return int(text) if text.isdigit() and len(text) < 19 else DEFAULT_ORG


def _matches(matches: list[_EvalMatch]) -> str:
    shown = [
        f"{m.metric}={'null' if m.value is None else number(m.value)}"
        for m in matches[:MAX_MATCHES]
    ]
    more = len(matches) - MAX_MATCHES
    return "; ".join(shown) + (f"; ... {more} more" if more > 0 else "")


def number(value: float) -> str:
    """A value as Go prints it: 1 as "1", full precision for the rest."""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)
