"""Fake Datadog Events API v1 (POST /api/v1/events), per docs.datadoghq.com "Post an event"
and "Rate Limits".

Checks `DD-API-KEY` (403 `{"errors": ["Forbidden"]}`), `title` and `text` required, `text` at
most 4000 characters, `aggregation_key` at most 100, `alert_type` in Datadog's enum, `tags`
a list of strings (400 `{"errors": [...]}`). Accepts with 202 `{"status": "ok", "event": ...}`.
A scripted 429 should carry the X-RateLimit-* headers Datadog sends.
"""

from __future__ import annotations

import gzip
import itertools
import zlib
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import FakeVendor, respond

ALERT_TYPES = {"error", "warning", "info", "success", "user_update", "recommendation", "snapshot"}


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


class FakeDatadog(FakeVendor):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(7_000_000_000_000_000_001)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/events", self.post)

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
