"""The aiohttp application factory: routes, middleware, typed state. No I/O at build time."""

from __future__ import annotations

import asyncio

from aiohttp import web

from incidentd.http import (
    actions,
    followups,
    groups,
    incidents,
    ops,
    postmortem,
    silences,
    webhooks,
)
from incidentd.http.deps import DEPS, Deps
from incidentd.http.middleware import guard

MAX_CLIENT_SIZE = 64 * 1024 * 1024
"""aiohttp's own ceiling; each source's (smaller, configurable) limit is enforced per request."""


def make_app(deps: Deps) -> web.Application:
    app = web.Application(client_max_size=MAX_CLIENT_SIZE, middlewares=[guard])
    app[DEPS] = deps
    app[postmortem.CHARTS] = asyncio.Semaphore(postmortem.CHARTS_AT_ONCE)
    app.router.add_post("/webhooks/{source}", webhooks.receive)
    app.router.add_put("/webhooks/{source}", webhooks.receive)  # Grafana can be set to PUT
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", ops.metrics_view)
    app.router.add_get("/api/v1/openapi.yaml", ops.openapi_yaml)
    app.router.add_get("/api/v1/openapi.json", ops.openapi_json)
    app.router.add_get("/api/v1/silences", silences.list_silences)
    app.router.add_post("/api/v1/silences", silences.create_silence)
    app.router.add_get("/api/v1/silences/{id}", silences.get_silence)
    app.router.add_delete("/api/v1/silences/{id}", silences.expire_silence)
    app.router.add_get("/api/v1/groups", groups.list_groups)
    app.router.add_get("/api/v1/groups/{group_id}", groups.get_group)
    app.router.add_get("/api/v1/decisions", groups.list_decisions)
    app.router.add_get("/api/v1/incidents", incidents.list_incidents)
    app.router.add_get("/api/v1/incidents/{incident_id}", incidents.get_incident)
    app.router.add_post("/api/v1/incidents", incidents.declare_incident)
    app.router.add_post(
        "/api/v1/incidents/{incident_id}/{action:status|reopen|notes|commander|merge}",
        incidents.act_on_incident,
    )
    app.router.add_get("/api/v1/incidents/{incident_id}/actions", actions.incident_actions)
    app.router.add_get("/api/v1/incidents/{incident_id}/postmortem", postmortem.get_postmortem)
    app.router.add_get("/api/v1/incidents/{incident_id}/postmortem/chart.png", postmortem.get_chart)
    app.router.add_get("/api/v1/incidents/{incident_id}/followups", followups.incident_followups)
    app.router.add_post("/api/v1/incidents/{incident_id}/followups", followups.add_followup)
    app.router.add_patch(
        "/api/v1/incidents/{incident_id}/followups/{followup_id}", followups.change_followup
    )
    app.router.add_get("/api/v1/followups", followups.list_followups)
    app.router.add_get("/api/v1/actions", actions.list_actions)
    app.router.add_post("/api/v1/actions/{key}/retry", actions.retry_action)
    return app
