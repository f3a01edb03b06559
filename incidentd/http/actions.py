"""The outbox over HTTP: what incidentd did (or failed to do) in other tools, and the retry
of a dead-lettered action by a person.

- `GET /api/v1/incidents/{id}/actions`: every action of the incident (page, channel, bridge,
  ITSM record, reminders), newest first, with its state, attempts and last outcome.
- `GET /api/v1/actions?state=dead&limit=N`: actions across incidents, by state.
- `POST /api/v1/actions/{key}/retry` `{"by": "alice"}`: a dead action is sent again (attempts
  reset); 404 for an unknown key, 409 when it is not dead. Needs the `write` scope; the retry
  is recorded on the incident's timeline.

Served by every replica from the outbox store.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints

from incidentd.act.outbox import ActionState
from incidentd.declare.declarer import Command
from incidentd.declare.timeline import person
from incidentd.errors import IncidentdError, InvalidTransition, WrongShape
from incidentd.http import access
from incidentd.http.deps import DEPS
from incidentd.http.groups import NotFound, _limit
from incidentd.http.incidents import parse_body
from incidentd.http.middleware import json_response

_STATES = {s.value: s for s in ActionState}


class RetryBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    by: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    """Who retries, for the timeline; by default the name of the API token."""


async def incident_actions(request: web.Request) -> web.Response:
    access.require(request, "read")
    deps = request.app[DEPS]
    incident_id = request.match_info["incident_id"]
    found = await deps.outbox.list(incident_id=incident_id, limit=_limit(request, 500))
    if not found and await deps.state.incident(incident_id) is None:
        raise NotFound(f"no incident {incident_id[:64]!r}")
    return json_response(200, {"actions": [a.view() for a in found]})


async def list_actions(request: web.Request) -> web.Response:
    access.require(request, "read")
    raw = request.query.get("state")
    if raw is not None and raw not in _STATES:
        raise WrongShape("?state", f"{raw[:40]!r} is not one of {', '.join(_STATES)}")
    state = _STATES[raw] if raw is not None else None
    found = await request.app[DEPS].outbox.list(state=state, limit=_limit(request, 100))
    return json_response(200, {"actions": [a.view() for a in found]})


async def retry_action(request: web.Request) -> web.Response:
    client = access.require(request, "write") or "anonymous"
    deps = request.app[DEPS]
    key = request.match_info["key"]
    body = await request.read()
    by = (parse_body(RetryBody, body).by if body.strip() else None) or client
    try:
        again = await deps.outbox.retry(key, deps.clock.now())
    except ValueError as exc:
        raise InvalidTransition(str(exc)) from None
    if again is None:
        raise NotFound(f"no action {key[:200]!r}")
    note = Command(
        incident_id=again.incident_id,
        action="record",
        actor=person(by),
        text=f"retried by hand after {again.last_reason or 'a dead letter'}",
        target=again.target,
        event=again.event.value,
        outcome="retry_requested",
    )
    with suppress(IncidentdError):  # the retry is done; its timeline line is best effort
        await deps.commands.post(note, f"{key}:retry:{deps.clock.now().isoformat()}")
    return json_response(200, again.view())
