"""The correlation state over HTTP, read-only: groups, one group with its alerts, decisions.

- `GET /api/v1/groups?state=open|resolved&limit=N`: newest activity first, without members.
- `GET /api/v1/groups/{id}`: the group, its root-cause candidates and blast radius, and every
  member alert (status, silenced, flapping, counts).
- `GET /api/v1/decisions?limit=N`: the latest engine decisions with their reasons.

Served by every replica from the store (with Redis, whichever replica runs the engine).
"""

from __future__ import annotations

from aiohttp import web

from incidentd.correlate.grouping import GroupState
from incidentd.errors import InputError, WrongShape
from incidentd.http import access
from incidentd.http.deps import DEPS
from incidentd.http.middleware import json_response

MAX_LIMIT = 1000


class NotFound(InputError):
    status = 404
    reason = "not_found"


def _limit(request: web.Request, default: int) -> int:
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or not 0 < int(raw) <= MAX_LIMIT:
        raise WrongShape("?limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


async def list_groups(request: web.Request) -> web.Response:
    access.require(request, "read")
    raw_state = request.query.get("state")
    state = None
    if raw_state is not None:
        if raw_state not in {s.value for s in GroupState}:
            raise WrongShape("?state", "must be open or resolved")
        state = GroupState(raw_state)
    store = request.app[DEPS].state
    groups = await store.groups(state=state, limit=_limit(request, 100))
    return json_response(200, {"groups": [g.view(members=False) for g in groups]})


async def get_group(request: web.Request) -> web.Response:
    access.require(request, "read")
    gid = request.match_info["group_id"]
    found = await request.app[DEPS].state.group(gid)
    if found is None:
        raise NotFound(f"no group {gid[:64]!r}")
    group, alerts = found
    return json_response(200, group.view({a.fingerprint: a for a in alerts}))


async def list_decisions(request: web.Request) -> web.Response:
    access.require(request, "read")
    store = request.app[DEPS].state
    decisions = await store.recent_decisions(limit=_limit(request, 100))
    return json_response(200, {"decisions": decisions})
