"""The OpenAPI document the daemon serves describes exactly the routes it has."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient

from incidentd.clock import ManualClock
from incidentd.http.app import make_app
from incidentd.http.deps import Deps
from incidentd.rules.loader import default_ruleset
from incidentd.rules.reload import RulesHandle
from incidentd.store.memory import MemoryQueue

ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


def _app() -> web.Application:
    deps = Deps(
        rules=RulesHandle(default_ruleset()),
        queue=MemoryQueue(),
        clock=ManualClock(datetime(2026, 3, 1, tzinfo=UTC)),
    )
    return make_app(deps)


def _routes(app: web.Application) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter") or ""
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)  # {action:status|...} -> {action}
        if route.method != "HEAD":
            out.add((route.method.lower(), path))
    return out


async def test_the_served_document_lists_every_route_and_only_those(
    aiohttp_client: ClientFactory,
) -> None:
    app = _app()
    client = await aiohttp_client(app)
    response = await client.get("/api/v1/openapi.yaml")
    assert response.status == 200
    doc: dict[str, Any] = yaml.safe_load(await response.read())
    as_json = await (await client.get("/api/v1/openapi.json")).json()
    assert as_json == doc
    assert doc["openapi"].startswith("3.1")
    documented = {
        (method, path)
        for path, item in doc["paths"].items()
        for method in item
        if method in {"get", "post", "put", "delete", "patch"}
    }
    assert documented == _routes(app)
    refs = re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', str(as_json).replace("'", '"'))
    assert len(refs) > 20
    for kind, name in refs:
        assert name in doc["components"][kind], f"dangling $ref {kind}/{name}"
