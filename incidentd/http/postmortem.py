"""The post-incident review draft over HTTP, from the store (any replica).

- `GET /api/v1/incidents/{id}/postmortem?chart=LINK`: the Markdown draft
  (`text/markdown; charset=utf-8`, insight/postmortem.py), written for the incident as it is
  now. It links the chart at `LINK`: by default this API's own chart URL; `chart=` (empty)
  leaves the chart out.
- `GET /api/v1/incidents/{id}/postmortem/chart.png`: the alert-volume chart (insight/chart.py),
  drawn in a worker thread, at most CHARTS_AT_ONCE at a time.

404 for an unknown incident; reads need the `read` scope unless anonymous reads are on.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from incidentd.declare.incident import Incident
from incidentd.declare.timeline import TimelineEntry
from incidentd.errors import WrongShape
from incidentd.http import access
from incidentd.http.deps import DEPS
from incidentd.http.groups import NotFound
from incidentd.insight.postmortem import draft

CHARTS_AT_ONCE = 2
ACTIONS_READ = 500
CHARTS = web.AppKey("postmortem_charts", asyncio.Semaphore)
"""Bounds the charts drawn at once (matplotlib's CPU, and the default executor's threads)."""
_LINK = re.compile(r"^[A-Za-z0-9._~:/?#@!$&'*+,;=%-]{0,500}$")


async def _found(request: web.Request) -> tuple[Incident, list[TimelineEntry]]:
    access.require(request, "read")
    incident_id = request.match_info["incident_id"]
    found = await request.app[DEPS].state.incident(incident_id)
    if found is None:
        raise NotFound(f"no incident {incident_id[:64]!r}")
    return found


def _chart_link(request: web.Request, incident_id: str) -> str | None:
    raw = request.query.get("chart")
    if raw is None:
        return f"/api/v1/incidents/{incident_id}/postmortem/chart.png"
    if not _LINK.match(raw):
        raise WrongShape("?chart", "must be a URL or a path: up to 500 characters, no spaces")
    return raw or None


async def get_postmortem(request: web.Request) -> web.Response:
    incident, timeline = await _found(request)
    deps = request.app[DEPS]
    chart = _chart_link(request, incident.id)
    actions = await deps.outbox.list(incident_id=incident.id, limit=ACTIONS_READ)
    text = draft(
        incident,
        timeline,
        actions=actions,
        spec=deps.rules.current.declaration,
        now=deps.clock.now(),
        chart=chart,
    )
    return web.Response(
        text=text,
        content_type="text/markdown",
        charset="utf-8",
        headers={"Content-Disposition": f'inline; filename="{incident.id}-postmortem.md"'},
    )


async def get_chart(request: web.Request) -> web.Response:
    incident, timeline = await _found(request)
    from incidentd.insight.chart import chart_png  # matplotlib loads on the first chart only

    now = request.app[DEPS].clock.now()
    async with request.app[CHARTS]:
        body = await asyncio.to_thread(chart_png, incident, timeline, now=now)
    return web.Response(body=body, content_type="image/png")
