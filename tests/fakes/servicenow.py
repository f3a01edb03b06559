"""Fake ServiceNow Table API on the incident table, per ServiceNow's "Table API" reference
(POST, GET and PATCH /api/now/table/{tableName}).

Checks HTTP Basic or Bearer credentials (401 `{"error": {"message": "User Not
Authenticated", ...}, "status": "failure"}`), JSON object bodies of string values,
`short_description` at most 160 and `correlation_id` at most 100 characters. Creates answer
201 `{"result": {...}}` with `sys_id` and `number`; GET supports `sysparm_query` on
`correlation_id=<value>` and `sysparm_limit`; PATCH of an unknown sys_id answers 404 "No
Record found". `work_notes` is a journal: each write appends an entry.
"""

from __future__ import annotations

import base64
import itertools
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeVendor, json_body, respond

LIMITS = {"short_description": 160, "correlation_id": 100}


def _failure(status: int, message: str, detail: str) -> web.Response:
    return respond(status, {"error": {"message": message, "detail": detail}, "status": "failure"})


def check(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    problems = [f"{k} is not a string" for k, v in body.items() if not isinstance(v, str)]
    problems += [
        f"{k} is longer than {n}" for k, n in LIMITS.items() if len(str(body.get(k, ""))) > n
    ]
    return problems


class FakeServiceNow(FakeVendor):
    def __init__(self, username: str, password: str) -> None:
        super().__init__()
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.authorization = f"Basic {token}"
        self.records: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(10001)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/now/table/incident", self.create)
        app.router.add_get("/api/now/table/incident", self.query)
        app.router.add_patch("/api/now/table/incident/{sys_id}", self.update)

    def _authorized(self, request: web.Request) -> bool:
        if request.headers.get("Authorization") == self.authorization:
            return True
        self.violate(["wrong or missing credentials"])
        return False

    def _unauthorized(self) -> web.Response:
        return _failure(401, "User Not Authenticated", "Required to provide Auth information")

    def _view(self, record: dict[str, Any], request: web.Request) -> dict[str, Any]:
        fields = request.query.get("sysparm_fields")
        view = {k: v for k, v in record.items() if k != "work_notes_journal"}
        if fields:
            view = {k: v for k, v in view.items() if k in fields.split(",")}
        return view

    async def _body(
        self, request: web.Request
    ) -> tuple[dict[str, Any] | None, web.Response | None]:
        body, problem = await json_body(request)
        problems = [problem] if problem else check(body)
        if problems:
            self.violate(problems)
            return None, _failure(400, "Invalid request", "; ".join(problems))
        return body, None

    async def create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        body, error = await self._body(request)
        if error is not None or body is None:
            return error or _failure(400, "Invalid request", "")
        if (scripted := await self.scripted()) is not None:
            return scripted
        sys_id = uuid.uuid4().hex
        record = {k: v for k, v in body.items() if k != "work_notes"}
        record.update(
            sys_id=sys_id, number=f"INC00{next(self._numbers)}", state=body.get("state", "1")
        )
        record["work_notes_journal"] = [body["work_notes"]] if body.get("work_notes") else []
        self.records[sys_id] = record
        return respond(201, {"result": self._view(record, request)})

    async def query(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        if (scripted := await self.scripted()) is not None:
            return scripted
        field, _, value = request.query.get("sysparm_query", "").partition("=")
        found = [r for r in self.records.values() if not field or r.get(field) == value]
        limit = int(request.query.get("sysparm_limit", "10000"))
        return respond(200, {"result": [self._view(r, request) for r in found[:limit]]})

    async def update(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        body, error = await self._body(request)
        if error is not None or body is None:
            return error or _failure(400, "Invalid request", "")
        if (scripted := await self.scripted()) is not None:
            return scripted
        record = self.records.get(request.match_info["sys_id"])
        if record is None:
            return _failure(
                404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
            )
        record.update({k: v for k, v in body.items() if k != "work_notes"})
        if body.get("work_notes"):
            record["work_notes_journal"].append(body["work_notes"])
        return respond(200, {"result": self._view(record, request)})
