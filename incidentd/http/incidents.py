"""Incidents over HTTP: the records managers receive, and what people do to them.

- `GET /api/v1/incidents?open=true&status=...&priority=P1,P2&service=...&capability=...&limit=N`:
  newest first, without timelines (filters look at the newest 5,000 of the page);
  `next_before` in the answer pages on: `&before=<next_before>` (null: nothing older).
- `GET /api/v1/incidents/{id}`: the incident, its score explained factor by factor, its SLA
  clocks (target, due, met / breached / running) and its whole timeline in order.
- `POST /api/v1/incidents` `{"title", "priority", "services", "note", "by"}`: declare by hand
  (201 with the incident).
- `POST /api/v1/incidents/{id}/status` `{"status": "acknowledged", "by": "alice", "note": ""}`,
  `/reopen` `{"by", "note"}`, `/notes` `{"by", "text"}`, `/commander` `{"by", "commander"}`,
  `/merge` `{"into": "INC-1042", "by", "note"}` (this one into that one, then resolved):
  a person's change. It is applied by the engine (the one replica that writes incidents), in
  order with the alerts, and the answer waits for it: 200 with the incident, 404 for an
  incident the engine no longer works with, 409 for a move the status rules forbid, 503 when
  no engine answers in time. Writes need a token with the `write` scope (http/access.py).

Served by every replica from the store.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from incidentd.declare import incident as inc
from incidentd.declare.declarer import Command, sla_view
from incidentd.declare.incident import IncidentStatus
from incidentd.declare.timeline import person
from incidentd.errors import WrongShape
from incidentd.http import access
from incidentd.http.deps import DEPS
from incidentd.http.groups import NotFound, _limit
from incidentd.http.middleware import json_response
from incidentd.ingest.source import json_path
from incidentd.model import Priority

M = TypeVar("M", bound=BaseModel)
MAX_SCAN = 5000
"""Filters look at the newest this many incidents."""
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=10_000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    by: Name | None = None
    """Who does it, as recorded on the timeline; by default the name of the API token."""


class StatusBody(_Body):
    status: Literal["acknowledged", "mitigated", "resolved"]
    note: Text = ""


class ReopenBody(_Body):
    note: Text = ""


class NoteBody(_Body):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


class CommanderBody(_Body):
    commander: Name | None = Field(default=None)


class MergeBody(_Body):
    into: Name
    """The incident that takes this one's groups and alerts; this one is then resolved."""
    note: Text = ""


class DeclareBody(_Body):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    priority: Literal["P1", "P2", "P3", "P4", "P5"] | None = None
    """Default: the policy's declaration threshold."""
    services: tuple[Name, ...] = Field(default=(), max_length=50)
    """Failing services (names of services.yaml): their blast radius is the impact, and the
    groups of their alerts join the incident."""
    note: Text = ""


def parse_body(model: type[M], body: bytes) -> M:
    """A request body read as `model`; WrongShape (422) naming the JSON path of the first
    problem."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        if first["type"] == "json_invalid":
            raise WrongShape("$", f"body is not valid JSON: {first['msg']}") from None
        message = str(first["msg"]).removeprefix("Value error, ")
        raise WrongShape(json_path(tuple(first["loc"])), message) from None


_STATUSES = frozenset(s.value for s in IncidentStatus)
_PRIORITIES = frozenset(p.value for p in Priority)


def _choices(request: web.Request, name: str, allowed: frozenset[str] | None) -> set[str]:
    """`?name=a,b` (or repeated): the values asked for, checked when the set is closed."""
    values = {v for raw in request.query.getall(name, []) for v in raw.split(",") if v}
    if allowed is not None and not values <= allowed:
        wrong = sorted(values - allowed)[0]
        raise WrongShape(f"?{name}", f"{wrong[:40]!r} is not one of {', '.join(sorted(allowed))}")
    return values


async def list_incidents(request: web.Request) -> web.Response:
    """Filters: `open=true`, `status=`, `priority=`, `service=` (impacted, or a root cause),
    `capability=`; each takes a comma-separated list; all must hold. Newest first."""
    access.require(request, "read")
    raw = request.query.get("open", "false")
    if raw not in ("true", "false"):
        raise WrongShape("?open", "must be true or false")
    statuses = _choices(request, "status", _STATUSES)
    priorities = _choices(request, "priority", _PRIORITIES)
    services = _choices(request, "service", None)
    capabilities = _choices(request, "capability", None)
    limit = _limit(request, 100)
    before = _before(request)
    filtered = bool(statuses or priorities or services or capabilities)
    store = request.app[DEPS].state
    scan = MAX_SCAN if filtered else limit
    found = await store.incidents(open_only=raw == "true", limit=scan, before=before)
    kept = [
        i
        for i in found
        if (not statuses or i.status.value in statuses)
        and (not priorities or i.priority.value in priorities)
        and (not services or services & {*i.services, *i.root_causes})
        and (not capabilities or capabilities & set(i.capabilities))
    ]
    # The next page: `?before=<next>` with the same filters (null: nothing older).
    nxt = None
    if len(kept) > limit:
        nxt = kept[limit - 1].number
    elif len(found) == scan and found:
        nxt = found[-1].number
    body: dict[str, object] = {"incidents": [inc.view(i) for i in kept[:limit]], "next_before": nxt}
    return json_response(200, body)


def _before(request: web.Request) -> int | None:
    raw = request.query.get("before")
    if raw is None:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 10**12:
        raise WrongShape("?before", "must be an incident number (a positive integer)")
    return int(raw)


async def get_incident(request: web.Request) -> web.Response:
    access.require(request, "read")
    incident_id = request.match_info["incident_id"]
    found = await request.app[DEPS].state.incident(incident_id)
    if found is None:
        raise NotFound(f"no incident {incident_id[:64]!r}")
    incident, timeline = found
    deps = request.app[DEPS]
    out = inc.view(incident, timeline)
    out["sla"] = sla_view(incident, deps.rules.current.declaration, deps.clock.now())
    return json_response(200, out)


def _command(action: str, incident_id: str, body: bytes, client: str) -> Command:
    """The command of a request; the actor is `by` when given, else the token's name."""
    if action == "status":
        st = parse_body(StatusBody, body)
        actor = person(st.by or client)
        return Command(incident_id, "status", actor, IncidentStatus(st.status), st.note)
    if action == "reopen":
        r = parse_body(ReopenBody, body)
        return Command(incident_id, "reopen", person(r.by or client), text=r.note)
    if action == "notes":
        n = parse_body(NoteBody, body)
        return Command(incident_id, "note", person(n.by or client), text=n.text)
    if action == "merge":
        m = parse_body(MergeBody, body)
        return Command(incident_id, "merge", person(m.by or client), text=m.note, into=m.into)
    c = parse_body(CommanderBody, body)
    return Command(incident_id, "commander", person(c.by or client), commander=c.commander)


async def declare_incident(request: web.Request) -> web.Response:
    """A person declares an incident no alert shows (yet)."""
    client = access.require(request, "write") or "anonymous"
    d = parse_body(DeclareBody, await request.read())
    command = Command(
        "",
        "declare",
        person(d.by or client),
        text=d.note,
        title=d.title,
        priority=None if d.priority is None else Priority(d.priority),
        services=d.services,
    )
    incident = await request.app[DEPS].commands.submit(command)
    return json_response(201, inc.view(incident), {"Location": f"/api/v1/incidents/{incident.id}"})


async def act_on_incident(request: web.Request) -> web.Response:
    client = access.require(request, "write") or "anonymous"
    deps = request.app[DEPS]
    incident_id = request.match_info["incident_id"]
    command = _command(request.match_info["action"], incident_id, await request.read(), client)
    incident = await deps.commands.submit(command)
    return json_response(200, inc.view(incident))
