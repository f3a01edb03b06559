"""Fake Atlassian Statuspage REST API v1 for one page, per developer.statuspage.io ("Create an
incident", "Update an incident", "Get a list of unresolved incidents", "Rate Limiting").

Checks `Authorization: OAuth <api key>` (401 otherwise) and the page id (404); bodies are
`{"incident": {...}}` with `name` (required on create, at most 255 characters), `status` in
investigating/identified/monitoring/resolved, `impact_override` in none/minor/major/critical,
`body` at most 25000 characters, `components` a map of the page's component ids to
operational/under_maintenance/degraded_performance/partial_outage/major_outage,
`component_ids` the page's ids, `metadata` whose top-level values are objects,
`deliver_notifications` a boolean. Mistakes answer 422 with the API's error entity
`{"message": ...}`. Create answers 201, update 200, with the incident (its components and
`incident_updates`, newest first); a `body` or a status change adds an incident update.

Statuspage limits each API token to about one request a second and answers **420** (or 429)
when it is exceeded: script it with `fail_next(1, 420, ...)`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeVendor, json_body, respond

STATUSES = {"investigating", "identified", "monitoring", "resolved"}
IMPACTS = {"none", "minor", "major", "critical"}
COMPONENT_STATUSES = {
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
}


@dataclass
class SpIncident:
    id: str
    name: str
    status: str
    impact: str
    metadata: dict[str, Any]
    updates: list[dict[str, Any]] = field(default_factory=list)
    components: list[str] = field(default_factory=list)


class FakeStatuspage(FakeVendor):
    def __init__(self, api_key: str, page_id: str, components: dict[str, str]) -> None:
        super().__init__()
        self.api_key = api_key
        self.page_id = page_id
        self.component_names = dict(components)
        self.component_status = dict.fromkeys(components, "operational")
        self.incidents: dict[str, SpIncident] = {}
        self._ids = (f"p31zjtct{n:04d}" for n in itertools.count(1))

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/pages/{page_id}/incidents", self.create)
        app.router.add_get("/v1/pages/{page_id}/incidents/unresolved", self.unresolved)
        app.router.add_patch("/v1/pages/{page_id}/incidents/{incident_id}", self.update)

    # --- checks ----------------------------------------------------------------------------------

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"OAuth {self.api_key}":
            self.violate(["missing or wrong 'Authorization: OAuth <api key>'"])
            return respond(401, {"message": "Could not authenticate"})
        if request.match_info["page_id"] != self.page_id:
            self.violate([f"unknown page {request.match_info['page_id']!r}"])
            return respond(404, {"message": "The requested resource could not be found."})
        return None

    def _check(self, incident: dict[str, Any], *, create: bool) -> list[str]:
        problems: list[str] = []
        name = incident.get("name")
        if create and (not isinstance(name, str) or not name.strip()):
            problems.append("Name can't be blank")
        if isinstance(name, str) and len(name) > 255:
            problems.append("Name is too long (maximum is 255 characters)")
        if "status" in incident and incident["status"] not in STATUSES:
            problems.append(f"Status {incident['status']!r} is not a realtime incident status")
        if "impact_override" in incident and incident["impact_override"] not in IMPACTS:
            problems.append("Impact override is not included in the list")
        if len(str(incident.get("body", ""))) > 25000:
            problems.append("Body is too long (maximum is 25000 characters)")
        if not isinstance(incident.get("deliver_notifications", True), bool):
            problems.append("deliver_notifications must be a boolean")
        problems += self._check_components(incident)
        metadata = incident.get("metadata", {})
        if not isinstance(metadata, dict) or not all(
            isinstance(v, dict) for v in metadata.values()
        ):
            problems.append("Metadata top-level values must be objects")
        return problems

    def _check_components(self, incident: dict[str, Any]) -> list[str]:
        problems = []
        states = incident.get("components", {})
        if not isinstance(states, dict):
            return ["components must be a map of component id to status"]
        for component, status in states.items():
            if component not in self.component_names:
                problems.append(f"Component {component} not found")
            if status not in COMPONENT_STATUSES:
                problems.append(f"Component status {status!r} is invalid")
        ids = incident.get("component_ids", [])
        if not isinstance(ids, list) or not all(i in self.component_names for i in ids):
            problems.append("component_ids must be ids of the page's components")
        return problems

    async def _incident(
        self, request: web.Request, *, create: bool
    ) -> tuple[dict[str, Any] | None, web.Response | None]:
        body, problem = await json_body(request)
        incident = body.get("incident") if isinstance(body, dict) else None
        if problem or not isinstance(incident, dict):
            self.violate([problem or 'the body must be {"incident": {...}}'])
            return None, respond(400, {"message": "Bad request"})
        problems = self._check(incident, create=create)
        if problems:
            self.violate(problems)
            return None, respond(422, {"message": "; ".join(problems)})
        return incident, None

    # --- handlers --------------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        incident, error = await self._incident(request, create=True)
        if incident is None:
            return error or respond(400, {"message": "Bad request"})
        if (scripted := await self.scripted()) is not None:
            return scripted
        made = SpIncident(
            next(self._ids),
            incident["name"],
            incident.get("status", "investigating"),
            incident.get("impact_override", "none"),
            incident.get("metadata", {}),
        )
        self.incidents[made.id] = made
        self._apply(made, incident)
        return respond(201, self._view(made))

    async def update(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        incident, error = await self._incident(request, create=False)
        if incident is None:
            return error or respond(400, {"message": "Bad request"})
        if (scripted := await self.scripted()) is not None:
            return scripted
        found = self.incidents.get(request.match_info["incident_id"])
        if found is None:
            return respond(404, {"message": "The requested resource could not be found."})
        for key in ("name", "status"):
            if key in incident:
                setattr(found, key, incident[key])
        found.impact = incident.get("impact_override", found.impact)
        self._apply(found, incident)
        return respond(200, self._view(found))

    async def unresolved(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        if (scripted := await self.scripted()) is not None:
            return scripted
        shown = [self._view(i) for i in reversed(self.incidents.values()) if i.status != "resolved"]
        per_page = int(request.query.get("per_page", "100"))
        return respond(200, shown[:per_page])

    # --- what Statuspage keeps -------------------------------------------------------------------

    def _apply(self, incident: SpIncident, changes: dict[str, Any]) -> None:
        for component, status in changes.get("components", {}).items():
            self.component_status[component] = status
            if component not in incident.components:
                incident.components.append(component)
        for component in changes.get("component_ids", []):
            if component not in incident.components:
                incident.components.append(component)
        if "body" in changes or "status" in changes:
            incident.updates.insert(
                0,
                {
                    "id": f"upd{len(incident.updates) + 1:09d}",
                    "status": incident.status,
                    "body": changes.get("body", ""),
                    "deliver_notifications": changes.get("deliver_notifications", True),
                },
            )

    def _view(self, incident: SpIncident) -> dict[str, Any]:
        return {
            "id": incident.id,
            "page_id": self.page_id,
            "name": incident.name,
            "status": incident.status,
            "impact": incident.impact,
            "shortlink": f"https://stspg.io/{incident.id[-5:]}",
            "metadata": incident.metadata,
            "components": [
                {"id": c, "name": self.component_names[c], "status": self.component_status[c]}
                for c in incident.components
            ],
            "incident_updates": incident.updates,
        }
