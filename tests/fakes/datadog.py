"""Fake Datadog: Events API v1 (POST /api/v1/events) and the Incidents API v2 (POST
/api/v2/incidents, PATCH /api/v2/incidents/{id}, GET /api/v2/incidents/search), per
docs.datadoghq.com "Post an event", "Create an incident", "Update an existing incident",
"Search for incidents" and "Rate Limits", and datadog-api-client's v2 models.

Events: checks `DD-API-KEY` (403 `{"errors": ["Forbidden"]}`), `title` and `text` required,
`text` at most 4000 characters, `aggregation_key` at most 100, `alert_type` in Datadog's enum,
`tags` a list of strings (400 `{"errors": [...]}`). Accepts with 202 `{"status": "ok", "event":
...}`.

Incidents: need `DD-API-KEY` and `DD-APPLICATION-KEY` (403 `{"errors": ["Forbidden"]}`); a
JSON:API body `{"data": {"type": "incidents", "attributes": {...}}}` with `title` and
`customer_impacted` required on create, `customer_impact_scope` required when impacted, fields
as `{"type": "dropdown", "value": ...}` (`severity` SEV-0..SEV-5 or UNKNOWN, `state` active,
stable or resolved), `relationships.commander_user.data` a `users` id; an update's `data.id`
is the path's id (400 otherwise, 404 `{"errors": ["Not Found"]}` for an unknown id). Answers
201/200 `{"data": <incident>}`. Search understands the documented `state:(a OR b)` facet only
(400 for anything else), `sort` created/-created and `page[size]` at most 100, and answers
`{"data": {"type": "incidents_search_results", "attributes": {"incidents": [{"data": ...}],
"facets": {}, "total": n}}, "meta": {"pagination": {...}}}`.

A scripted 429 should carry the X-RateLimit-* headers Datadog sends.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import re
import uuid
import zlib
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import FakeVendor, json_body, respond

ALERT_TYPES = {"error", "warning", "info", "success", "user_update", "recommendation", "snapshot"}
SEVERITIES = {"UNKNOWN", "SEV-0", "SEV-1", "SEV-2", "SEV-3", "SEV-4", "SEV-5"}
STATES = {"active", "stable", "resolved"}
CREATE_KEYS = {
    "customer_impact_scope",
    "customer_impacted",
    "fields",
    "incident_type_uuid",
    "initial_cells",
    "is_test",
    "notification_handles",
    "title",
}
UPDATE_KEYS = {
    "customer_impact_end",
    "customer_impact_scope",
    "customer_impact_start",
    "customer_impacted",
    "detected",
    "fields",
    "notification_handles",
    "title",
}
NOW = "2026-03-02T09:06:01.000000+00:00"


def check(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["Event body must be a JSON object"]
    problems = []
    for key in ("title", "text"):
        if not isinstance(body.get(key), str) or not body[key]:
            problems.append(f"Event {key} is required")
    if len(str(body.get("text", ""))) > 4000:
        problems.append("Event text is longer than 4000 characters")
    if len(str(body.get("aggregation_key", ""))) > 100:
        problems.append("aggregation_key is longer than 100 characters")
    if "alert_type" in body and body["alert_type"] not in ALERT_TYPES:
        problems.append("Invalid alert_type")
    tags = body.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.append("tags must be a list of strings")
    return problems


def check_fields(fields: Any) -> list[str]:
    if not isinstance(fields, dict):
        return ["fields must be an object"]
    problems = []
    for name, field in fields.items():
        if not isinstance(field, dict) or set(field) - {"type", "value"}:
            problems.append(f"fields.{name} must be {{type, value}}")
            continue
        single = field.get("type", "dropdown") in ("dropdown", "textbox")
        if single and not isinstance(field.get("value"), str | None):
            problems.append(f"fields.{name}.value must be a string")
    if "severity" in fields and (fields["severity"] or {}).get("value") not in SEVERITIES:
        problems.append("Invalid severity")
    if "state" in fields and (fields["state"] or {}).get("value") not in STATES:
        problems.append("Invalid state")
    return problems


def check_attributes(attributes: dict[str, Any], *, create: bool) -> list[str]:
    unknown = set(attributes) - (CREATE_KEYS if create else UPDATE_KEYS)
    problems = [f"attributes.{k} is not allowed" for k in sorted(unknown)]
    title = attributes.get("title")
    if (create or "title" in attributes) and (not isinstance(title, str) or not title.strip()):
        problems.append("title is required")
    impacted = attributes.get("customer_impacted")
    if (create or "customer_impacted" in attributes) and not isinstance(impacted, bool):
        problems.append("customer_impacted is required (a boolean)")
    if create and impacted is True and not attributes.get("customer_impact_scope"):
        problems.append("customer_impact_scope is required if customer_impacted is true")
    if "fields" in attributes:
        problems += check_fields(attributes["fields"])
    handles = attributes.get("notification_handles", [])
    if not isinstance(handles, list) or not all(
        isinstance(h, dict) and isinstance(h.get("handle"), str) for h in handles
    ):
        problems.append("notification_handles must be a list of {handle, display_name}")
    return problems


def check_commander(relationships: Any) -> list[str]:
    commander = (relationships or {}).get("commander_user")
    user = commander.get("data") if isinstance(commander, dict) else None
    if commander is None or user is None:
        return []
    if not isinstance(user, dict) or user.get("type") != "users" or not user.get("id"):
        return ["commander_user.data must be {type: users, id}"]
    return []


def check_incident(body: Any, *, create: bool, incident_id: str = "") -> list[str]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return ["data is required"]
    problems = []
    if data.get("type") != "incidents":
        problems.append("data.type must be incidents")
    if not create and data.get("id") != incident_id:
        problems.append("data.id must be the incident's id")
    attributes = data.get("attributes", None if create else {})
    if not isinstance(attributes, dict):
        return [*problems, "data.attributes is required"]
    return (
        problems
        + check_attributes(attributes, create=create)
        + check_commander(data.get("relationships"))
    )


class FakeDatadog(FakeVendor):
    def __init__(self, api_key: str, app_key: str = "") -> None:
        super().__init__()
        self.api_key = api_key
        self.app_key = app_key
        self.events: list[dict[str, Any]] = []
        self.incidents: dict[str, dict[str, Any]] = {}
        """Incident resources by id, as Datadog answers them."""
        self._ids = itertools.count(7_000_000_000_000_000_001)
        self._public_ids = itertools.count(1)
        self._lose: list[float] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/events", self.post)
        app.router.add_post("/api/v2/incidents", self.create_incident)
        app.router.add_get("/api/v2/incidents/search", self.search_incidents)
        app.router.add_patch("/api/v2/incidents/{incident_id}", self.update_incident)

    def lose_next_create(self, seconds: float) -> None:
        """The next incident is made, then its answer waits `seconds` (beyond a client's
        timeout, the answer is lost)."""
        self._lose.append(seconds)

    async def post(self, request: web.Request) -> web.Response:
        if request.headers.get("DD-API-KEY") != self.api_key:
            self.violate(["missing or wrong DD-API-KEY"])
            return respond(403, {"errors": ["Forbidden"]})
        raw = await request.read()
        encoding = request.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        problems = check(body)
        if problems:
            self.violate(problems)
            return respond(400, {"errors": problems})
        if (scripted := await self.scripted()) is not None:
            return scripted
        event_id = next(self._ids)
        self.events.append(body)
        event = {
            "id": event_id,
            "id_str": str(event_id),
            "title": body["title"],
            "text": body["text"],
            "date_happened": 1764339120,
            "tags": body.get("tags", []),
            "url": f"https://app.datadoghq.com/event/event?id={event_id}",
        }
        return respond(202, {"status": "ok", "event": event})

    # --- Incidents API v2 ------------------------------------------------------------------------

    def _refused(self, request: web.Request) -> web.Response | None:
        if (
            request.headers.get("DD-API-KEY") == self.api_key
            and self.app_key
            and request.headers.get("DD-APPLICATION-KEY") == self.app_key
        ):
            return None
        self.violate(["missing or wrong DD-API-KEY or DD-APPLICATION-KEY"])
        return respond(403, {"errors": ["Forbidden"]})

    async def _body(self, request: web.Request, *, create: bool, incident_id: str = "") -> Any:
        body, problem = await json_body(request)
        problems = (
            [problem] if problem else check_incident(body, create=create, incident_id=incident_id)
        )
        if problems:
            self.violate(problems)
            return respond(400, {"errors": problems})
        return body

    async def create_incident(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body = await self._body(request, create=True)
        if isinstance(body, web.Response):
            return body
        if (scripted := await self.scripted()) is not None:
            return scripted
        data = body["data"]
        attributes = data["attributes"]
        fields = {
            "state": {"type": "dropdown", "value": "active"},
            "severity": {"type": "dropdown", "value": "UNKNOWN"},
            **attributes.get("fields", {}),
        }
        incident_id = str(uuid.uuid4())
        commander = ((data.get("relationships") or {}).get("commander_user") or {}).get("data")
        incident = {
            "id": incident_id,
            "type": "incidents",
            "attributes": {
                "public_id": next(self._public_ids),
                "title": attributes["title"],
                "customer_impacted": attributes["customer_impacted"],
                "customer_impact_scope": attributes.get("customer_impact_scope"),
                "customer_impact_start": NOW if attributes["customer_impacted"] else None,
                "customer_impact_end": None,
                "fields": fields,
                "severity": fields["severity"]["value"],
                "state": fields["state"]["value"],
                "is_test": attributes.get("is_test", False),
                "notification_handles": attributes.get("notification_handles", []),
                "created": NOW,
                "modified": NOW,
                "declared": NOW,
                "detected": NOW,
                "resolved": NOW if fields["state"]["value"] == "resolved" else None,
            },
            "relationships": {
                "commander_user": {"data": commander},
            },
        }
        self.incidents[incident_id] = incident
        if self._lose:
            await asyncio.sleep(self._lose.pop(0))
        return respond(201, {"data": incident})

    async def update_incident(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        incident_id = request.match_info["incident_id"]
        body = await self._body(request, create=False, incident_id=incident_id)
        if isinstance(body, web.Response):
            return body
        if (scripted := await self.scripted()) is not None:
            return scripted
        incident = self.incidents.get(incident_id)
        if incident is None:
            return respond(404, {"errors": ["Not Found"]})
        changes = dict(body["data"].get("attributes", {}))
        current = incident["attributes"]
        fields = {**current["fields"], **changes.pop("fields", {})}
        current.update(changes, fields=fields, modified=NOW)
        current["severity"] = fields["severity"]["value"]
        state = fields["state"]["value"]
        if state == "resolved" and current["state"] != "resolved":
            current["resolved"] = NOW
        elif state != "resolved":
            current["resolved"] = None
        current["state"] = state
        return respond(200, {"data": incident})

    async def search_incidents(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        query = request.query.get("query", "")
        match = re.fullmatch(r"state:\(([a-z]+(?: OR [a-z]+)*)\)", query)
        size = request.query.get("page[size]", "10")
        problems = [] if match else [f"Invalid query: {query!r}"]
        if request.query.get("sort", "created") not in ("created", "-created"):
            problems.append("Invalid sort")
        if not size.isdigit() or not 1 <= int(size) <= 100:
            problems.append("page[size] must be between 1 and 100")
        if problems:
            self.violate(problems)
            return respond(400, {"errors": problems})
        if (scripted := await self.scripted()) is not None:
            return scripted
        states = set(match.group(1).split(" OR ")) if match else set()
        found = [i for i in self.incidents.values() if i["attributes"]["state"] in states]
        if request.query.get("sort") == "-created":
            found.reverse()
        offset = int(request.query.get("page[offset]", "0"))
        page = found[offset : offset + int(size)]
        return respond(
            200,
            {
                "data": {
                    "type": "incidents_search_results",
                    "attributes": {
                        "incidents": [{"data": i} for i in page],
                        "facets": {},
                        "total": len(found),
                    },
                },
                "meta": {
                    "pagination": {
                        "offset": offset,
                        "next_offset": offset + int(size),
                        "size": int(size),
                    }
                },
            },
        )
