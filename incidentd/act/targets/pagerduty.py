"""PagerDuty Events API v2: page on declaration, mirror acknowledge and resolve, page again on
a reopen.

Documented behaviour this module relies on (developer.pagerduty.com, "Send an Alert Event",
"Events API v2 Overview", "Events API Rate Limits"):

- POST `/v2/enqueue`; `routing_key` is the service integration's 32-character key;
  `event_action` is trigger, acknowledge or resolve.
- `dedup_key` (at most 255 characters) ties follow-up events to the alert: we derive it from
  the incident id, so a retried trigger lands on the same alert instead of paging twice.
  Acknowledge and resolve must use the same routing_key as the trigger or they are dropped;
  after a resolve, a trigger with the same key opens a new alert (a reopened incident pages).
- `payload.summary` (required, at most 1024 characters), `payload.source` (required),
  `payload.severity` in {critical, error, warning, info} (required); optional timestamp,
  component, group, class, custom_details; top-level `links[] {href, text}`.
- 202 `{"status": "success", "message": "Event processed", "dedup_key": ...}`; 400
  `{"status": "invalid event", "message": ..., "errors": [...]}` is not retried; 429 and 5xx
  and network errors are retried (the overview's retry table).

A reopened incident triggers again with its dedup_key: the old alert is resolved, so PagerDuty
opens a new one and pages. Mitigated, updated, SLA-breached, reminder and overdue follow-up
events have no PagerDuty counterpart (the responders are already paged; a breach or a reminder
is for the commander, a follow-up for its owner): nothing is sent for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from incidentd.act.config import PagerDutyConfig
from incidentd.act.http import attempt, check, exchange
from incidentd.act.target import ActionEvent, ActionRequest, IncidentFacts, Outcome

SUMMARY_LIMIT = 1024
DEDUP_LIMIT = 255
ACTIONS: Mapping[ActionEvent, str] = {
    ActionEvent.DECLARED: "trigger",
    ActionEvent.ESCALATED: "trigger",
    ActionEvent.REOPENED: "trigger",
    ActionEvent.ACKNOWLEDGED: "acknowledge",
    ActionEvent.RESOLVED: "resolve",
}


def dedup_key(incident_id: str, prefix: str = "") -> str:
    return f"{prefix}{incident_id}"[:DEDUP_LIMIT]


def summary(facts: IncidentFacts) -> str:
    text = f"[{facts.priority}] {facts.id}: {facts.title}"
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def _custom_details(request: ActionRequest) -> dict[str, Any]:
    facts = request.facts
    details: dict[str, Any] = {
        "incident": facts.id,
        "priority": facts.priority.value,
        "status": facts.status,
        "score": facts.score.summary,
        "why": list(facts.score.explanation()),
        "reasons": list(facts.reasons),
        "services": list(facts.services),
        "capabilities": list(facts.capabilities),
        "root_causes": list(facts.root_causes),
    }
    if facts.commander:
        details["commander"] = facts.commander
    if request.bridge_url:
        details["bridge"] = request.bridge_url
    return details


def _links(request: ActionRequest) -> list[dict[str, str]]:
    links = [{"href": link.href, "text": link.text or link.href} for link in request.links]
    if request.bridge_url:
        links.append({"href": request.bridge_url, "text": "Incident bridge"})
    return links


def trigger_body(request: ActionRequest, config: PagerDutyConfig, key: str) -> dict[str, Any]:
    facts = request.facts
    payload: dict[str, Any] = {
        "summary": summary(facts),
        "source": config.source,
        "severity": config.severity[facts.priority],
        "timestamp": facts.declared_at.isoformat(),
        "component": facts.subject,
        "class": "major incident",
        "custom_details": _custom_details(request),
    }
    if facts.capabilities:
        payload["group"] = facts.capabilities[0]
    body: dict[str, Any] = {
        "routing_key": config.routing_key.get_secret_value(),
        "event_action": "trigger",
        "dedup_key": key,
        "payload": payload,
        "client": "incidentd",
        "links": _links(request),
    }
    if config.client_url:
        body["client_url"] = config.client_url
    return body


def _vendor_message(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    errors = body.get("errors")
    detail = "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
    return ": ".join(p for p in (str(body.get("message", "")), detail) if p)


class PagerDutyTarget:
    def __init__(self, name: str, config: PagerDutyConfig) -> None:
        self.name = name
        self.config = config

    async def send(
        self, request: ActionRequest, session: aiohttp.ClientSession, refs: Mapping[str, str]
    ) -> Outcome:
        action = ACTIONS.get(request.event)
        if action is None:
            return Outcome.nothing(request.event, refs=refs)

        async def steps(found: dict[str, str]) -> str:
            # the key PagerDuty acknowledged first wins: stable across retries and restarts
            key = found.get("dedup_key") or dedup_key(request.facts.id, self.config.dedup_prefix)
            if action == "trigger":
                body = trigger_body(request, self.config, key)
            else:
                body = {
                    "routing_key": self.config.routing_key.get_secret_value(),
                    "event_action": action,
                    "dedup_key": key,
                }
            reply = await exchange(
                session,
                "POST",
                f"{self.config.base_url}/v2/enqueue",
                json=body,
                seconds=self.config.seconds,
            )
            check(reply, f"PagerDuty {action}", _vendor_message(reply.json()))
            answered = reply.json()
            if isinstance(answered, dict) and isinstance(answered.get("dedup_key"), str):
                key = answered["dedup_key"]
            found["dedup_key"] = key
            return f"{action} accepted (dedup_key {key})"

        return await attempt(refs, steps, secrets=[self.config.routing_key])
