"""Fake Zoom: the Server-to-Server OAuth token endpoint and create-meeting, per
developers.zoom.us ("Server-to-Server OAuth", "Create a meeting").

Token: POST /oauth/token?grant_type=account_credentials&account_id=... with HTTP Basic
client_id:client_secret; 400 `{"reason", "error": "invalid_client"}` otherwise. Meetings:
POST /v2/users/{userId}/meetings with a bearer token it issued (401 `{"code": 124, "message":
"Invalid access token."}` otherwise); `topic` at most 200 characters, `type` in 1, 2, 3, 8,
10; 201 with a large integer `id`, `join_url`, `start_url`, `password`; 300 validation
errors as Zoom words them.
"""

from __future__ import annotations

import base64
import itertools
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeVendor, json_body, respond

TYPES = {1, 2, 3, 8, 10}


class FakeZoom(FakeVendor):
    def __init__(self, account_id: str, client_id: str, client_secret: str) -> None:
        super().__init__()
        self.account_id = account_id
        self.basic = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.tokens: list[str] = []
        self.meetings: list[dict[str, Any]] = []
        self._ids = itertools.count(85746065432)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/oauth/token", self.token)
        app.router.add_post("/v2/users/{user}/meetings", self.create)

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    async def token(self, request: web.Request) -> web.Response:
        query = request.query
        if (
            query.get("grant_type") != "account_credentials"
            or query.get("account_id") != self.account_id
        ):
            self.violate(["token: grant_type=account_credentials and the account_id are required"])
            return respond(400, {"reason": "unsupported grant type", "error": "invalid_request"})
        if request.headers.get("Authorization") != self.basic:
            self.violate(["token: wrong Basic credentials"])
            return respond(
                400, {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
            )
        if (scripted := await self.scripted()) is not None:
            return scripted
        token = uuid.uuid4().hex
        self.tokens.append(token)
        return respond(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": 3599,
                "scope": "meeting:write:meeting",
                "api_url": "https://api.zoom.us",
            },
        )

    async def create(self, request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if given not in self.tokens:
            return respond(401, {"code": 124, "message": "Invalid access token."})
        body, problem = await json_body(request)
        errors = _check(body) if not problem else [{"field": "body", "message": problem}]
        if errors:
            self.violate([e["message"] for e in errors])
            return respond(400, {"code": 300, "message": "Validation Failed.", "errors": errors})
        if (scripted := await self.scripted()) is not None:
            return scripted
        meeting_id = next(self._ids)
        meeting = {
            "uuid": uuid.uuid4().hex,
            "id": meeting_id,
            "host_id": "z8yCxjabcdEFGHfp8uQ",
            "topic": body["topic"],
            "type": body.get("type", 2),
            "status": "waiting",
            "start_url": f"https://zoom.us/s/{meeting_id}?zak=SECRET",
            "join_url": f"https://zoom.us/j/{meeting_id}?pwd=abc",
            "password": "SECRET",
            "settings": body.get("settings", {}),
        }
        self.meetings.append(meeting)
        return respond(201, meeting)


def _check(body: Any) -> list[dict[str, str]]:
    if not isinstance(body, dict):
        return [{"field": "body", "message": "Invalid request body."}]
    errors = []
    topic = body.get("topic", "")
    if not isinstance(topic, str) or len(topic) > 200:
        errors.append({"field": "topic", "message": "Topic is longer than 200 characters."})
    if body.get("type", 2) not in TYPES:
        errors.append({"field": "type", "message": "Invalid field."})
    return errors
