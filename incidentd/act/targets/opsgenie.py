"""Opsgenie Alert API v2: an alert per incident (alias = incident id), mirrored until closed,
created again when the incident reopens.

Documented behaviour this module relies on (docs.opsgenie.com: Alert API, Response,
Rate Limiting, Alerts and alert fields):

- `Authorization: GenieKey <key>` of an API integration; `https://api.eu.opsgenie.com` for
  EU accounts (`base_url`).
- Create: POST `/v2/alerts`; `message` required, at most 130 characters; `alias` (at most
  512) is the dedup key: while an alert with that alias is open, a create only increments its
  count, so a retried create does not page twice. `description` at most 15000 characters,
  `details` a map of strings, `priority` P1-P5 (ours map one to one), `responders[]`.
- Acknowledge, close, add note, update priority: POST `/v2/alerts/{alias}/acknowledge`,
  `/close`, `/notes`, PUT `/priority`, each with `?identifierType=alias`.
- Every one of these answers 202 `{"result": "Request will be processed", "requestId": ...}`:
  accepted, not done. The outcome ("Alert does not exist", ...) is only visible through GET
  `/v2/alerts/requests/{requestId}` (`data.isSuccess`, `data.status`). So a 202 is recorded in
  the refs as pending and answered `retry` after `confirm_after`; the next attempt asks for
  the request's status instead of sending again. A 404 there means "not processed yet"
  (what clients observe: `Request not found. It might not be processed, yet.`): retry.
- Errors: 400 invalid JSON, 401 bad key, 402/403 plan or permission, 404, 422
  `{"message": ..., "errors": {...}}` are permanent; 429 (token bucket per domain) and 5xx
  are retried.

Responders are the configured ones plus the request's people that have an Opsgenie username
(`{"type": "user", "username": ...}`), each once. A reopened incident is created again with
the same alias: its alert was closed, so Opsgenie opens a new one and notifies. An SLA breach
is a note on the alert; a reminder (the commander owes an update) and an overdue follow-up
(review work, not a page) send nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from incidentd.act.config import OpsgenieConfig
from incidentd.act.http import Reply, attempt, check, exchange
from incidentd.act.target import TEAM_EVENTS, ActionEvent, ActionRequest, Outcome
from incidentd.errors import PermanentError, TransientError

MESSAGE_LIMIT = 130
ALIAS_LIMIT = 512
DESCRIPTION_LIMIT = 15000
PENDING = "pending:"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alias(incident_id: str, prefix: str = "") -> str:
    return f"{prefix}{incident_id}"[:ALIAS_LIMIT]


def describe(request: ActionRequest) -> str:
    facts = request.facts
    lines = [facts.title, "", facts.score.summary, *facts.score.explanation()]
    if facts.services:
        lines += ["", "Services: " + ", ".join(facts.services)]
    if request.bridge_url:
        lines += ["", f"Bridge: {request.bridge_url}"]
    lines += [f"{link.text or 'Link'}: {link.href}" for link in request.links]
    return _cut("\n".join(lines), DESCRIPTION_LIMIT)


def responders(request: ActionRequest, config: OpsgenieConfig) -> list[dict[str, str]]:
    """The configured responders, then the people with an Opsgenie username not among them."""
    given = [r.model_dump(exclude_none=True) for r in config.responders]
    known = {r.username for r in config.responders if r.username}
    for person in request.people:
        if person.opsgenie and person.opsgenie not in known:
            known.add(person.opsgenie)
            given.append({"type": "user", "username": person.opsgenie})
    return given


def create_body(request: ActionRequest, config: OpsgenieConfig) -> dict[str, Any]:
    facts = request.facts
    details = {
        "incident": facts.id,
        "score": str(facts.score.value),
        "services": ", ".join(facts.services),
        "capabilities": ", ".join(facts.capabilities),
    }
    if request.bridge_url:
        details["bridge"] = request.bridge_url
    return {
        "message": _cut(f"{facts.id}: {facts.title}", MESSAGE_LIMIT),
        "alias": alias(facts.id, config.alias_prefix),
        "description": describe(request),
        "responders": responders(request, config),
        "tags": ["incidentd", facts.priority.value, *config.tags],
        "details": details,
        "entity": facts.subject,
        "source": "incidentd",
        "priority": facts.priority.value,
    }


def _note(request: ActionRequest) -> str:
    facts = request.facts
    if request.event is ActionEvent.SLA_BREACHED:
        text = f"{facts.id}: {facts.breach_summary() or 'SLA breached'}"
    else:
        text = request.note or f"{facts.id} {request.event.value}: {facts.status}"
    return _cut(text, 25000)


def _vendor_message(reply: Reply) -> str:
    body = reply.json()
    if not isinstance(body, dict):
        return ""
    errors = body.get("errors")
    detail = f" {errors}" if isinstance(errors, dict) and errors else ""
    return f"{body.get('message', '')}{detail}".strip()


class OpsgenieTarget:
    def __init__(self, name: str, config: OpsgenieConfig) -> None:
        self.name = name
        self.config = config

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"GenieKey {self.config.api_key.get_secret_value()}"}

    def _call(self, request: ActionRequest) -> tuple[str, str, dict[str, Any]]:
        """The method, path and body of the request's action."""
        facts = request.facts
        one = quote(alias(facts.id, self.config.alias_prefix), safe="")
        about = {"source": "incidentd", "note": _note(request)}
        if request.event in (ActionEvent.DECLARED, ActionEvent.REOPENED):
            return "POST", "/v2/alerts", create_body(request, self.config)
        if request.event is ActionEvent.ESCALATED:
            return "PUT", f"/v2/alerts/{one}/priority", {"priority": facts.priority.value}
        if request.event is ActionEvent.ACKNOWLEDGED:
            return "POST", f"/v2/alerts/{one}/acknowledge", about
        if request.event is ActionEvent.RESOLVED:
            return "POST", f"/v2/alerts/{one}/close", about
        return "POST", f"/v2/alerts/{one}/notes", {"source": "incidentd", "note": _note(request)}

    async def _submit(
        self, request: ActionRequest, session: aiohttp.ClientSession, found: dict[str, str]
    ) -> str:
        method, path, body = self._call(request)
        params = None if path == "/v2/alerts" else {"identifierType": "alias"}
        reply = await exchange(
            session,
            method,
            f"{self.config.base_url}{path}",
            json=body,
            params=params,
            headers=self._headers(),
            seconds=self.config.seconds,
        )
        check(reply, f"Opsgenie {request.event}", _vendor_message(reply))
        answer = reply.json()
        request_id = answer.get("requestId") if isinstance(answer, dict) else None
        if not isinstance(request_id, str) or not request_id:
            raise PermanentError("Opsgenie accepted the request but gave no requestId")
        found[PENDING + request.key] = request_id
        raise TransientError(
            f"Opsgenie accepted {request.event} (request {request_id}): confirming",
            retry_after=self.config.confirm_after.total_seconds(),
        )

    async def _confirm(
        self, request: ActionRequest, session: aiohttp.ClientSession, found: dict[str, str]
    ) -> str:
        request_id = found[PENDING + request.key]
        reply = await exchange(
            session,
            "GET",
            f"{self.config.base_url}/v2/alerts/requests/{quote(request_id, safe='')}",
            headers=self._headers(),
            seconds=self.config.seconds,
        )
        if reply.status == 404:
            raise TransientError(
                f"Opsgenie has not processed request {request_id} yet",
                retry_after=self.config.confirm_after.total_seconds(),
            )
        check(reply, "Opsgenie request status", _vendor_message(reply))
        answer = reply.json()
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict):
            raise TransientError(f"Opsgenie request {request_id}: no status in the answer")
        del found[PENDING + request.key]
        status = str(data.get("status", ""))
        if data.get("isSuccess") is not True:
            raise PermanentError(f"Opsgenie {request.event} failed: {status or 'no status'}")
        if isinstance(data.get("alertId"), str) and data["alertId"]:
            found["alert_id"] = data["alertId"]
        return f"Opsgenie {request.event}: {status}"

    async def send(
        self, request: ActionRequest, session: aiohttp.ClientSession, refs: Mapping[str, str]
    ) -> Outcome:
        if request.event in TEAM_EVENTS:
            return Outcome.nothing(request.event, refs=refs)

        async def steps(found: dict[str, str]) -> str:
            if PENDING + request.key in found:
                return await self._confirm(request, session, found)
            return await self._submit(request, session, found)

        return await attempt(refs, steps, secrets=[self.config.api_key])
