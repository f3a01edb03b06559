"""Fake PagerDuty Events API v2 (POST /v2/enqueue), per "Send an Alert Event".

Checks: JSON body; `routing_key` 32 characters; `event_action` trigger/acknowledge/resolve;
`dedup_key` at most 255 (required for acknowledge and resolve); on trigger a `payload` with
`summary` (at most 1024), `source` and `severity` in {critical, error, warning, info}, an
ISO 8601 `timestamp` if any, `custom_details` an object, `links[].href`, `images[].src` on
https; at most 512 KB. Answers 202 with the dedup_key, 400 "invalid event" with `errors`.

Keeps the alerts as PagerDuty would: a trigger opens an alert per dedup_key (or adds to the
open one), acknowledge/resolve apply only to an open alert of the same routing key (else
they are dropped), and a trigger after a resolve opens a new alert.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeVendor, json_body, require_str, respond

SEVERITIES = {"critical", "error", "warning", "info"}
ACTIONS = {"trigger", "acknowledge", "resolve"}
MAX_BYTES = 512 * 1024


@dataclass
class Alert:
    dedup_key: str
    routing_key: str
    status: str
    triggers: int
    severity: str
    summary: str


def _check_trigger(body: dict[str, Any], problems: list[str]) -> None:
    payload = body.get("payload")
    if not isinstance(payload, dict):
        problems.append("'payload' is missing or not an object")
        return
    require_str(payload, "summary", problems, limit=1024)
    require_str(payload, "source", problems, limit=10_000)
    if payload.get("severity") not in SEVERITIES:
        problems.append("'severity' must be one of critical, error, warning, info")
    if "timestamp" in payload:
        try:
            datetime.fromisoformat(str(payload["timestamp"]))
        except ValueError:
            problems.append("'timestamp' is not ISO 8601")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        problems.append("'custom_details' must be an object")
    for link in body.get("links") or []:
        if not isinstance(link, dict) or not isinstance(link.get("href"), str):
            problems.append("each link needs an href")
    for image in body.get("images") or []:
        if not isinstance(image, dict) or not str(image.get("src", "")).startswith("https://"):
            problems.append("each image needs an https src")


def check(body: Any, size: int) -> list[str]:
    problems: list[str] = []
    if size > MAX_BYTES:
        return ["payload is larger than 512 KB"]
    if not isinstance(body, dict):
        return ["event must be a JSON object"]
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        problems.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = body.get("event_action")
    if action not in ACTIONS:
        problems.append("'event_action' is invalid (must be trigger, acknowledge or resolve)")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        problems.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        problems.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        _check_trigger(body, problems)
    return problems


class FakePagerDuty(FakeVendor):
    def __init__(self) -> None:
        super().__init__()
        self.alerts: list[Alert] = []

    def open_alert(self, dedup_key: str) -> Alert | None:
        for alert in reversed(self.alerts):
            if alert.dedup_key == dedup_key and alert.status != "resolved":
                return alert
        return None

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/enqueue", self.enqueue)

    async def enqueue(self, request: web.Request) -> web.Response:
        body, problem = await json_body(request)
        problems = [problem] if problem else check(body, request.content_length or 0)
        if problems:
            self.violate(problems)
            error = {"status": "invalid event", "message": "Event object is invalid"}
            return respond(400, {**error, "errors": problems})
        if (scripted := await self.scripted()) is not None:
            return scripted
        key = body.get("dedup_key") or uuid.uuid4().hex
        self._apply(body, key)
        return respond(202, {"status": "success", "message": "Event processed", "dedup_key": key})

    def _apply(self, body: dict[str, Any], key: str) -> None:
        alert = self.open_alert(key)
        action = body["event_action"]
        if action == "trigger":
            payload = body["payload"]
            if alert is None:
                alert = Alert(key, body["routing_key"], "triggered", 0, "", "")
                self.alerts.append(alert)
            alert.triggers += 1
            alert.severity, alert.summary = payload["severity"], payload["summary"]
        elif alert is not None and alert.routing_key == body["routing_key"]:
            alert.status = "acknowledged" if action == "acknowledge" else "resolved"
