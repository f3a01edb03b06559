"""GET /healthz (the process answers), /readyz (config loaded, queue reachable, not shutting
down) and /metrics (Prometheus text format)."""

from __future__ import annotations

import asyncio
import functools
from importlib.resources import files

import orjson
import yaml
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from incidentd import metrics
from incidentd.errors import Overloaded
from incidentd.http.deps import DEPS
from incidentd.http.middleware import json_response

_PROBE_TIMEOUT = 1.0


async def healthz(request: web.Request) -> web.Response:
    return json_response(200, {"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    rules = deps.rules.current
    problems = []
    if not deps.accepting:
        problems.append("shutting down")
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT):
            await deps.queue.ping()
    except Overloaded as exc:
        problems.append(f"queue unreachable: {exc.message}")
    except TimeoutError:
        problems.append("queue unreachable: no answer within 1 s")
    body: dict[str, object] = {"config_version": rules.version}
    if problems:
        body.update(status="unavailable", problems=problems)
        return json_response(503, body)
    body["status"] = "ready"
    return json_response(200, body)


async def metrics_view(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT):
            metrics.QUEUE_DEPTH.set(await deps.queue.depth())
    except (Overloaded, TimeoutError):
        pass  # the gauge keeps its last value; readyz reports the outage
    body = await asyncio.to_thread(generate_latest)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


@functools.cache
def _openapi() -> tuple[bytes, bytes]:
    text = (files("incidentd.http") / "openapi.yaml").read_bytes()
    return text, orjson.dumps(yaml.safe_load(text))


async def openapi_yaml(request: web.Request) -> web.Response:
    """The API description (incidentd/http/openapi.yaml), as written."""
    return web.Response(body=_openapi()[0], content_type="application/yaml")


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=_openapi()[1], content_type="application/json")
