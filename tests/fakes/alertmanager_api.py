"""Fake Alertmanager API v2 (the two calls incidentd makes), per Alertmanager's OpenAPI spec
(api/v2/openapi.yaml): `GET /api/v2/alerts` answers the gettableAlerts it holds (resolved ones
are not listed: the tests set `active`), `GET /api/v2/status` its status with `uptime` (when it
started). Alertmanager has no authentication of its own; a proxy in front of it answers 401
without the expected `Authorization` header (`token`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from tests.fakes.base import FakeVendor, respond


def gettable(labels: dict[str, str]) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "annotations": {"summary": "still firing"},
        "endsAt": (now + timedelta(minutes=4)).isoformat().replace("+00:00", "Z"),
        "fingerprint": "0123456789abcdef",
        "receivers": [{"name": "incidentd"}],
        "startsAt": (now - timedelta(minutes=10)).isoformat().replace("+00:00", "Z"),
        "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
        "updatedAt": now.isoformat().replace("+00:00", "Z"),
        "generatorURL": "http://prometheus.example:9090/graph",
        "labels": labels,
    }


class FakeAlertmanagerApi(FakeVendor):
    def __init__(self, *, token: str | None = None) -> None:
        super().__init__()
        self.active: list[dict[str, str]] = []
        self.up_since = datetime.now(UTC) - timedelta(hours=3)
        self.token = token

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v2/alerts", self._alerts)
        app.router.add_get("/api/v2/status", self._status)

    def _denied(self, request: web.Request) -> web.Response | None:
        if (
            self.token is not None
            and request.headers.get("Authorization") != f"Bearer {self.token}"
        ):
            return respond(401, "Unauthorized")
        return None

    async def _alerts(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        if (scripted := await self.scripted()) is not None:
            return scripted
        for flag in ("active", "silenced", "inhibited"):
            if request.query.get(flag, "true") not in ("true", "false"):
                return respond(
                    422, {"code": 606, "message": f"{flag} in query must be of type bool"}
                )
        return respond(200, [gettable(labels) for labels in self.active])

    async def _status(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        uptime = self.up_since.isoformat().replace("+00:00", "Z")
        return respond(
            200,
            {
                "cluster": {"name": "01ABC", "peers": [], "status": "ready"},
                "config": {"original": "global: {}\n"},
                "uptime": uptime,
                "versionInfo": {"version": "0.27.0", "branch": "HEAD"},
            },
        )
