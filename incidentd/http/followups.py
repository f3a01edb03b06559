"""Follow-up actions over HTTP: the preventive work a review assigns, tracked to the end.

- `POST /api/v1/incidents/{id}/followups` `{"title", "owner", "due", "note", "by"}`: add one
  (201 with the follow-up, `Location`); `due` is an RFC 3339 time with an offset, or a date
  (`2026-03-10`: due by the end of that day, UTC).
- `PATCH /api/v1/incidents/{id}/followups/{fid}` `{"status": "open" | "done" | "cancelled",
  "owner", "due", "title", "note", "by"}`: change what is given (`owner: null` clears the
  owner, `due: null` the due date); 200 with the follow-up.
- `GET /api/v1/incidents/{id}/followups`: the incident's follow-ups.
- `GET /api/v1/followups?status=open&overdue=true&owner=bob&limit=N`: across incidents (the
  newest 5,000), overdue and soonest due first.

Follow-ups live on the incident record, so adding or changing one is a person's command the
engine applies (store/commands.py), like a note: 404 for an unknown incident or follow-up,
409 past 100 follow-ups on one incident, 422 with the JSON path for a wrong body, 503 when
no engine answers in time. Writes need the `write` scope. Reads are served from the store.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, PlainValidator, StringConstraints

from incidentd.declare.declarer import Command
from incidentd.declare.followup import (
    OWNER_LIMIT,
    TITLE_LIMIT,
    FollowUp,
    FollowUpEdit,
    FollowUpStatus,
    followup_view,
    overdue,
)
from incidentd.declare.incident import Incident
from incidentd.declare.timeline import person
from incidentd.errors import WrongShape
from incidentd.http import access
from incidentd.http.deps import DEPS
from incidentd.http.groups import NotFound, _limit
from incidentd.http.incidents import MAX_SCAN, Name, Text, _choices, parse_body
from incidentd.http.middleware import json_response
from incidentd.http.silences import _read_body

_ID = re.compile(r"^F[1-9][0-9]{0,3}$")
_STATUSES = frozenset(s.value for s in FollowUpStatus)


def _due(value: object) -> datetime:
    """An RFC 3339 time with an offset, or a date: due by the end of that day (UTC)."""
    if not isinstance(value, str):
        # pydantic turns a ValueError into a 422; a TypeError would escape as a 500
        raise ValueError("must be a text: an RFC 3339 time with an offset, or YYYY-MM-DD")  # noqa: TRY004
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC) + (
                timedelta(days=1)
            )
        at = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise ValueError(f"{text[:40]!r} is not an RFC 3339 time or a date") from None
    if at.tzinfo is None:
        raise ValueError("needs an offset, e.g. 2026-03-10T17:00:00Z")
    return at.astimezone(UTC)


Due = Annotated[datetime, PlainValidator(_due)]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_LIMIT)
]
Owner = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=OWNER_LIMIT)
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    by: Name | None = None
    """Who does it, for the timeline; by default the name of the API token."""
    note: Text = ""


class NewFollowUp(_Body):
    title: Title
    owner: Owner | None = None
    due: Due | None = None


class FollowUpChange(_Body):
    status: Literal["open", "done", "cancelled"] = "open"
    title: Title = ""
    owner: Owner | None = None
    due: Due | None = None


def _view(incident: Incident, followup: FollowUp, now: datetime) -> dict[str, Any]:
    return {
        **followup_view(followup, now),
        "incident_id": incident.id,
        "incident_title": incident.title,
        "incident_status": incident.status.value,
        "priority": incident.priority.value,
    }


def _followup_id(request: web.Request) -> str:
    fid = request.match_info["followup_id"]
    if not _ID.match(fid):
        raise NotFound(f"no follow-up {fid[:20]!r}: ids are F1, F2, ...")
    return fid


async def add_followup(request: web.Request) -> web.Response:
    client = access.require(request, "write") or "anonymous"
    deps = request.app[DEPS]
    incident_id = request.match_info["incident_id"]
    body = parse_body(NewFollowUp, await _read_body(request))
    edit = FollowUpEdit(
        fields=frozenset({"title", "owner", "due"}),
        title=body.title,
        owner=body.owner,
        due=body.due,
    )
    actor = person(body.by or client)
    command = Command(incident_id, "followup", actor, text=body.note, edit=edit)
    incident = await deps.commands.submit(command)
    made = incident.followups[-1]  # the engine answers with the incident right after it
    where = f"/api/v1/incidents/{incident.id}/followups/{made.id}"
    return json_response(201, _view(incident, made, deps.clock.now()), {"Location": where})


async def change_followup(request: web.Request) -> web.Response:
    client = access.require(request, "write") or "anonymous"
    deps = request.app[DEPS]
    incident_id = request.match_info["incident_id"]
    fid = _followup_id(request)
    body = parse_body(FollowUpChange, await _read_body(request))
    given = body.model_fields_set & {"status", "title", "owner", "due"}
    if not given:
        raise WrongShape("$", "give at least one of status, owner, due, title")
    edit = FollowUpEdit(
        fields=frozenset(given),
        status=FollowUpStatus(body.status),
        title=body.title,
        owner=body.owner,
        due=body.due,
    )
    actor = person(body.by or client)
    command = Command(
        incident_id, "followup_update", actor, text=body.note, followup=fid, edit=edit
    )
    incident = await deps.commands.submit(command)
    changed = next(f for f in incident.followups if f.id == fid)
    return json_response(200, _view(incident, changed, deps.clock.now()))


async def incident_followups(request: web.Request) -> web.Response:
    access.require(request, "read")
    deps = request.app[DEPS]
    incident_id = request.match_info["incident_id"]
    found = await deps.state.incident(incident_id)
    if found is None:
        raise NotFound(f"no incident {incident_id[:64]!r}")
    incident, _ = found
    now = deps.clock.now()
    return json_response(200, {"followups": [_view(incident, f, now) for f in incident.followups]})


def _flag(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise WrongShape(f"?{name}", "must be true or false")
    return raw == "true"


async def list_followups(request: web.Request) -> web.Response:
    """Across the newest MAX_SCAN incidents: `status=` and `owner=` (comma-separated),
    `overdue=true|false`; overdue first, then by due date (none last), then incident."""
    access.require(request, "read")
    statuses = _choices(request, "status", _STATUSES)
    owners = _choices(request, "owner", None)
    late = _flag(request, "overdue")
    limit = _limit(request, 100)
    deps = request.app[DEPS]
    now = deps.clock.now()
    found = [
        (incident, f)
        for incident in await deps.state.incidents(limit=MAX_SCAN)
        for f in incident.followups
        if (not statuses or f.status.value in statuses)
        and (not owners or f.owner in owners)
        and (late is None or overdue(f, now) is late)
    ]
    far = datetime.max.replace(tzinfo=UTC)
    found.sort(key=lambda pair: (not overdue(pair[1], now), pair[1].due or far, pair[0].number))
    return json_response(200, {"followups": [_view(i, f, now) for i, f in found[:limit]]})
