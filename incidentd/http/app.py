"""The aiohttp application factory: routes, middleware, typed state. No I/O at build time."""

from __future__ import annotations

from aiohttp import web

from incidentd.http import ops, webhooks
from incidentd.http.deps import DEPS, Deps
from incidentd.http.middleware import errors, inflight

MAX_CLIENT_SIZE = 64 * 1024 * 1024
"""aiohttp's own ceiling; each source's (smaller, configurable) limit is enforced per request."""


def make_app(deps: Deps) -> web.Application:
    app = web.Application(client_max_size=MAX_CLIENT_SIZE, middlewares=[inflight, errors])
    app[DEPS] = deps
    app.router.add_post("/webhooks/{source}", webhooks.receive)
    app.router.add_put("/webhooks/{source}", webhooks.receive)  # Grafana can be set to PUT
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", ops.metrics_view)
    return app
