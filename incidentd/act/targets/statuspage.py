"""Atlassian Statuspage: public communication for the big incidents: an incident on the page
with the affected components' status, updated as the incident moves, resolved with the
components back to operational.

Documented behaviour this module relies on (developer.statuspage.io: "Create an incident",
"Update an incident", "Get a list of unresolved incidents", "Authentication", "Rate
Limiting"):

- `Authorization: OAuth <api key>`; `https://api.statuspage.io/v1/pages/{page_id}/...`.
- Create: POST `/incidents` `{"incident": {name (at most 255), status (investigating,
  identified, monitoring, resolved), body (the first incident update, at most 25000),
  impact_override (none, minor, major, critical), components {id: degraded_performance |
  partial_outage | major_outage | operational | under_maintenance}, component_ids,
  deliver_notifications, metadata (top-level values are objects)}}` answers 201 with the
  incident (`id`, `shortlink`, ...). Update: PATCH `/incidents/{incident_id}` with the same
  keys; a status or a body makes a new incident update, which subscribers are notified of
  when `deliver_notifications` is true.
- Errors: 400, 401, 404 and 422 (`{"message": ...}`; some answers say `error`) are permanent.
  Each API token may make about one request a second: beyond it, Statuspage answers **420**
  (or 429); both are retried, as is a 5xx.

Statuspage has no idempotency key, so each incident carries `metadata.incidentd.incident` =
our id, and before creating an attempt looks through the page's unresolved incidents for it
and adopts the one it finds. The refs keep `incident_id`.

Only incidents of the configured priorities go public (an escalation into them does too);
acknowledged, mitigated and resolved move the public status (identified, monitoring,
resolved); a reopened incident goes back to investigating with its components down again; a
person's status update is published only when `public_updates` is set; SLA breaches,
reminders and overdue follow-ups are internal and send nothing. The text is the configured
templates', never the internal title, score or timeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from incidentd.act.config import PublicStep, StatuspageConfig
from incidentd.act.http import Reply, attempt, check, exchange, retry_after
from incidentd.act.render import render_text
from incidentd.act.target import TEAM_EVENTS, ActionEvent, ActionRequest, Outcome
from incidentd.errors import PermanentError, TransientError

NAME_LIMIT = 255
BODY_LIMIT = 25000
STATUS_ON: Mapping[ActionEvent, PublicStep] = {
    ActionEvent.DECLARED: "investigating",
    ActionEvent.ESCALATED: "investigating",
    ActionEvent.REOPENED: "investigating",
    ActionEvent.ACKNOWLEDGED: "identified",
    ActionEvent.MITIGATED: "monitoring",
    ActionEvent.RESOLVED: "resolved",
}
PUBLIC_STATUS: Mapping[str, str] = {
    "declared": "investigating",
    "acknowledged": "identified",
    "mitigated": "monitoring",
    "resolved": "resolved",
}
"""Our incident status -> the public one (for an update published as it is)."""
OPENING = (ActionEvent.DECLARED, ActionEvent.ESCALATED)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def affected(request: ActionRequest) -> str:
    """What the public text names: the business capabilities, else the services."""
    facts = request.facts
    return ", ".join(facts.capabilities or facts.services) or "our services"


def component_ids(request: ActionRequest, config: StatuspageConfig) -> list[str]:
    """The page's components for the incident's services and capabilities, each once."""
    facts = request.facts
    names = (*facts.services, *facts.capabilities)
    return list(dict.fromkeys(config.components[n] for n in names if n in config.components))


def _text(source: str, request: ActionRequest) -> str:
    context = {"incident": request.incident, "affected": affected(request), "note": request.note}
    return render_text(source, context).strip()


def _step(event: ActionEvent) -> PublicStep:
    """Which configured message an event publishes."""
    return "reopened" if event is ActionEvent.REOPENED else STATUS_ON.get(event, "investigating")


def _down(request: ActionRequest, config: StatuspageConfig) -> dict[str, Any]:
    ids = component_ids(request, config)
    if not ids:
        return {}
    status = config.component_status[request.facts.priority]
    return {"component_ids": ids, "components": dict.fromkeys(ids, status)}


def create_body(request: ActionRequest, config: StatuspageConfig) -> dict[str, Any]:
    """The public incident, opened at the status the event means."""
    facts = request.facts
    name = _cut(_text(config.name, request), NAME_LIMIT)
    if not name:
        raise PermanentError("Statuspage: the name template rendered an empty name")
    incident: dict[str, Any] = {
        "name": name,
        "status": STATUS_ON.get(request.event, "investigating"),
        "body": _cut(_text(config.messages[_step(request.event)], request), BODY_LIMIT),
        "impact_override": config.impact[facts.priority],
        "deliver_notifications": config.deliver_notifications,
        "metadata": {"incidentd": {"incident": facts.id}},
        **_down(request, config),
    }
    return {"incident": incident}


def update_body(request: ActionRequest, config: StatuspageConfig) -> dict[str, Any] | None:
    """The change an event makes to the public incident; None when it makes none."""
    event = request.event
    if event is ActionEvent.UPDATED:
        if not (config.public_updates and request.note.strip()):
            return None
        status = PUBLIC_STATUS.get(request.facts.status, "investigating")
        body = request.note.strip()
    elif event in STATUS_ON and event not in OPENING:
        status = STATUS_ON[event]
        body = _text(config.messages[_step(event)], request)
    else:
        return None
    incident: dict[str, Any] = {
        "status": status,
        "body": _cut(body, BODY_LIMIT),
        "deliver_notifications": config.deliver_notifications,
    }
    if event is ActionEvent.REOPENED:
        incident.update(
            _down(request, config), impact_override=config.impact[request.facts.priority]
        )
    elif event is ActionEvent.RESOLVED and (ids := component_ids(request, config)):
        incident["components"] = dict.fromkeys(ids, "operational")
    return {"incident": incident}


def _vendor_message(reply: Reply) -> str:
    body = reply.json()
    if not isinstance(body, dict):
        return ""
    said = body.get("message") or body.get("error") or ""
    return "; ".join(str(s) for s in said) if isinstance(said, list) else str(said)


class StatuspageTarget:
    def __init__(self, name: str, config: StatuspageConfig) -> None:
        self.name = name
        self.config = config

    async def _call(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        what: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        page = quote(self.config.page_id, safe="")
        reply = await exchange(
            session,
            method,
            f"{self.config.base_url}/v1/pages/{page}{path}",
            json=json,
            params=params,
            headers={
                "Accept": "application/json",
                "Authorization": f"OAuth {self.config.api_key.get_secret_value()}",
            },
            seconds=self.config.seconds,
        )
        if reply.status == 420:
            # Statuspage's own "rate limited" (not 429): worth a retry like any rate limit
            raise TransientError(
                f"Statuspage {what}: HTTP 420 (rate limited)",
                retry_after=retry_after(reply.headers),
            )
        check(reply, f"Statuspage {what}", _vendor_message(reply))
        return reply.json()

    async def _find(self, session: aiohttp.ClientSession, incident_id: str) -> str | None:
        """The unresolved public incident that carries our id in its metadata, if any."""
        listed = await self._call(
            session,
            "GET",
            "/incidents/unresolved",
            "unresolved incidents",
            params={"per_page": "100"},
        )
        for incident in listed if isinstance(listed, list) else []:
            metadata = incident.get("metadata") if isinstance(incident, dict) else None
            ours = metadata.get("incidentd") if isinstance(metadata, dict) else None
            if (
                isinstance(ours, dict)
                and ours.get("incident") == incident_id
                and incident.get("id")
            ):
                return str(incident["id"])
        return None

    async def _open(
        self, request: ActionRequest, session: aiohttp.ClientSession, found: dict[str, str]
    ) -> str:
        """No public incident in the refs: go public if the incident qualifies."""
        facts = request.facts
        if facts.priority not in self.config.priorities:
            public = ", ".join(self.config.priorities) or "none"
            return f"{facts.priority} is not public (public: {public})"
        if request.event in (ActionEvent.RESOLVED, ActionEvent.UPDATED):
            return f"no public incident to {request.event.value}"
        existing = await self._find(session, facts.id)
        if existing is None:
            made = await self._call(
                session,
                "POST",
                "/incidents",
                "create incident",
                json=create_body(request, self.config),
            )
            if not isinstance(made, dict) or not made.get("id"):
                raise PermanentError("Statuspage create incident: no id in the answer")
            found["incident_id"] = str(made["id"])
            return f"created incident {found['incident_id']} ({made.get('status', '?')})"
        found["incident_id"] = existing
        if request.event in OPENING:
            return f"adopted incident {existing}"
        return await self._update(request, session, existing)

    async def _update(
        self, request: ActionRequest, session: aiohttp.ClientSession, incident_id: str
    ) -> str:
        body = update_body(request, self.config)
        if body is None:
            return f"nothing public for {request.event}"
        path = f"/incidents/{quote(incident_id, safe='')}"
        await self._call(session, "PATCH", path, "update incident", json=body)
        return f"incident {incident_id} {body['incident']['status']}"

    async def send(
        self, request: ActionRequest, session: aiohttp.ClientSession, refs: Mapping[str, str]
    ) -> Outcome:
        if request.event is ActionEvent.SLA_BREACHED or request.event in TEAM_EVENTS:
            return Outcome.nothing(request.event, refs=refs)

        async def steps(found: dict[str, str]) -> str:
            if "incident_id" not in found:
                return await self._open(request, session, found)
            return await self._update(request, session, found["incident_id"])

        return await attempt(refs, steps, secrets=[self.config.api_key])
