"""Fake Opsgenie Alert API v2, per docs.opsgenie.com "Alert API" and "Response".

Checks `Authorization: GenieKey <key>` (401 otherwise); create: `message` required and at
most 130 characters, `alias` at most 512, `description` at most 15000, `priority` P1-P5,
`details` a map of strings, `responders[]` of {id|name|username, type}; actions by alias need
`identifierType=alias`. Every accepted request answers 202 `{"result": "Request will be
processed", "took", "requestId"}` and is processed later: only when the test calls
`process()` does GET /v2/alerts/requests/{id} answer its status (404 "not processed yet"
before). Bad bodies answer 422 `{"message": ..., "errors": {...}}` as Opsgenie does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeVendor, json_body, respond

PRIORITIES = {"P1", "P2", "P3", "P4", "P5"}
RESPONDER_TYPES = {"team", "user", "escalation", "schedule"}


@dataclass
class OgAlert:
    id: str
    alias: str
    message: str
    priority: str
    status: str = "open"
    acknowledged: bool = False
    count: int = 1
    notes: list[str] = field(default_factory=list)


@dataclass
class OgRequest:
    id: str
    action: str
    alias: str
    body: dict[str, Any]
    processed: dict[str, Any] | None = None


def _check_create(body: dict[str, Any]) -> dict[str, str]:
    problems: dict[str, str] = {}
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        problems["message"] = "Message can not be empty."
    elif len(message) > 130:
        problems["message"] = "Message can not be longer than 130 characters."
    if len(str(body.get("alias", ""))) > 512:
        problems["alias"] = "Alias can not be longer than 512 characters."
    if len(str(body.get("description", ""))) > 15000:
        problems["description"] = "Description can not be longer than 15000 characters."
    if "priority" in body and body["priority"] not in PRIORITIES:
        problems["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]"
    details = body.get("details", {})
    if not isinstance(details, dict) or not all(isinstance(v, str) for v in details.values()):
        problems["details"] = "Details should be a map of strings."
    for responder in body.get("responders", []):
        ids = [k for k in ("id", "name", "username") if responder.get(k)]
        if responder.get("type") not in RESPONDER_TYPES or len(ids) != 1:
            problems["responders"] = "Responder should have a type and one of id, name, username"
    return problems


class FakeOpsgenie(FakeVendor):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.alerts: list[OgAlert] = []
        self.requests_by_id: dict[str, OgRequest] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/alerts", self.create)
        app.router.add_post("/v2/alerts/{alias}/{action:acknowledge|close|notes}", self.act)
        app.router.add_put("/v2/alerts/{alias}/priority", self.act)
        app.router.add_get("/v2/alerts/requests/{request_id}", self.status)

    def _authorized(self, request: web.Request) -> bool:
        if request.headers.get("Authorization") == f"GenieKey {self.api_key}":
            return True
        self.violate(["missing or wrong 'Authorization: GenieKey ...'"])
        return False

    def _unauthorized(self) -> web.Response:
        return respond(401, {"message": "Could not authenticate", "took": 0.0, "requestId": "x"})

    def _accept(self, action: str, alias: str, body: dict[str, Any]) -> web.Response:
        request_id = str(uuid.uuid4())
        self.requests_by_id[request_id] = OgRequest(request_id, action, alias, body)
        answer = {"result": "Request will be processed", "took": 0.01, "requestId": request_id}
        return respond(202, answer)

    async def create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        body, problem = await json_body(request)
        problems = {"body": problem} if problem else _check_create(body)
        if problems:
            self.violate(list(problems.values()))
            message = "Request body is not processable. Please check the errors."
            return respond(422, {"message": message, "errors": problems, "took": 0.0})
        if (scripted := await self.scripted()) is not None:
            return scripted
        return self._accept("Create", body.get("alias") or body["message"], body)

    async def act(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        if request.query.get("identifierType") != "alias":
            self.violate(["an action by alias needs identifierType=alias"])
        body, problem = await json_body(request)
        if problem:
            self.violate([problem])
            return respond(400, {"message": "Invalid JSON body", "took": 0.0})
        if (scripted := await self.scripted()) is not None:
            return scripted
        action = request.match_info.get("action", "priority")
        return self._accept(action, request.match_info["alias"], body)

    async def status(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        if (scripted := await self.scripted()) is not None:
            return scripted
        found = self.requests_by_id.get(request.match_info["request_id"])
        if found is None or found.processed is None:
            message = "Request not found. It might not be processed, yet."
            return respond(404, {"message": message, "took": 0.0, "requestId": "x"})
        return respond(200, {"data": found.processed, "took": 0.01, "requestId": found.id})

    # --- what Opsgenie does later ----------------------------------------------------------------

    def open_alert(self, alias: str) -> OgAlert | None:
        return next((a for a in self.alerts if a.alias == alias and a.status == "open"), None)

    def process(self) -> None:
        """Process every accepted request, as Opsgenie's workers would."""
        for pending in self.requests_by_id.values():
            if pending.processed is None:
                pending.processed = self._process(pending)

    def _process(self, pending: OgRequest) -> dict[str, Any]:
        alert = self.open_alert(pending.alias)
        if pending.action == "Create":
            if alert is not None:
                alert.count += 1
            else:
                body = pending.body
                alert = OgAlert(
                    str(uuid.uuid4()), pending.alias, body["message"], body.get("priority", "P3")
                )
                self.alerts.append(alert)
            return _status(True, "Create", "Created alert", alert)
        if alert is None:
            return _status(False, pending.action, "Alert does not exist", None)
        if pending.action == "close":
            alert.status = "closed"
        elif pending.action == "acknowledge":
            alert.acknowledged = True
        elif pending.action == "notes":
            alert.notes.append(str(pending.body.get("note", "")))
        else:
            alert.priority = str(pending.body.get("priority"))
        return _status(True, pending.action, "Processed", alert)


def _status(ok: bool, action: str, status: str, alert: OgAlert | None) -> dict[str, Any]:
    return {
        "success": ok,
        "action": action,
        "processedAt": "2026-03-01T10:00:00.000Z",
        "integrationId": "c9cec2cb-e782-4ebb-bc1d-1b2fa703cf03",
        "isSuccess": ok,
        "status": status,
        "alertId": alert.id if alert else "",
        "alias": alert.alias if alert else "",
    }
