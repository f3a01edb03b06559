"""The war-room bridge: a Zoom meeting created through its API, or a configured URL.

Either way the outcome's refs carry `bridge_url`, which the outbox hands to the page, the
channel message and the timeline. The bridge is made once per incident: when the refs
already hold a `bridge_url`, nothing is called again; events other than `declared` need no
bridge work.

Zoom, documented behaviour relied on (developers.zoom.us: "Server-to-Server OAuth",
"Create a meeting", "Rate limits"):

- Token: POST `https://zoom.us/oauth/token?grant_type=account_credentials&account_id=...`
  with HTTP Basic `client_id:client_secret`; answers `{"access_token", "token_type":
  "bearer", "expires_in": 3600}`; no refresh token, several tokens may be live at once. The
  token is kept in memory until a minute before it expires, and dropped on a 401.
- Meeting: POST `/v2/users/{userId}/meetings` with `Authorization: Bearer`; `type` 1 is an
  instant meeting; 201 with `id` (a large integer: kept as text), `join_url`, and `start_url`
  and `password`, which are secrets and are not kept.
- Errors: `{"code", "message", "errors": [{"field", "message"}]}`; 429 when the account's or
  the user's limits are reached (a user creates at most 100 meetings a day).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from incidentd.act.config import BridgeUrlConfig, ZoomConfig
from incidentd.act.http import Reply, attempt, basic_auth, check, exchange
from incidentd.act.render import render_text
from incidentd.act.target import ActionEvent, ActionRequest, Outcome
from incidentd.errors import PermanentError, TransientError

TOPIC_LIMIT = 200
TOKEN_MARGIN = 60.0
"""Seconds before a token's expiry at which it is no longer used (clock skew, slow calls)."""


def _zoom_message(reply: Reply) -> str:
    body = reply.json()
    if not isinstance(body, dict):
        return ""
    fields = body.get("errors")
    detail = ""
    if isinstance(fields, list):
        detail = "; ".join(
            f"{e.get('field')}: {e.get('message')}" for e in fields if isinstance(e, dict)
        )
    text = str(body.get("message") or body.get("reason") or body.get("error") or "")
    return f"{text} {detail}".strip()


def meeting_body(request: ActionRequest, meeting_type: int) -> dict[str, Any]:
    facts = request.facts
    topic = f"{facts.id} bridge: {facts.title}"
    return {
        "topic": topic if len(topic) <= TOPIC_LIMIT else topic[: TOPIC_LIMIT - 1] + "…",
        "type": meeting_type,
        "agenda": f"{facts.priority} major incident {facts.id}, opened by incidentd",
        "settings": {"join_before_host": True, "waiting_room": False, "mute_upon_entry": True},
    }


class ZoomBridge:
    def __init__(
        self, name: str, config: ZoomConfig, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.config = config
        self._monotonic = monotonic
        self._token: tuple[str, float] | None = None

    async def _access_token(self, session: aiohttp.ClientSession) -> str:
        if self._token is not None and self._monotonic() < self._token[1]:
            return self._token[0]
        secret = self.config.client_secret.get_secret_value()
        reply = await exchange(
            session,
            "POST",
            self.config.token_url,
            params={"grant_type": "account_credentials", "account_id": self.config.account_id},
            headers={"Authorization": basic_auth(self.config.client_id.get_secret_value(), secret)},
            seconds=self.config.seconds,
        )
        check(reply, "Zoom token", _zoom_message(reply))
        body = reply.json()
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise TransientError("Zoom token: no access_token in the answer")
        lifetime = body.get("expires_in", 3600)
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 3600.0
        self._token = (token, self._monotonic() + max(0.0, seconds - TOKEN_MARGIN))
        return token

    async def _create(self, request: ActionRequest, session: aiohttp.ClientSession) -> Reply:
        token = await self._access_token(session)
        user = quote(self.config.user, safe="@.")
        reply = await exchange(
            session,
            "POST",
            f"{self.config.base_url}/users/{user}/meetings",
            json=meeting_body(request, self.config.meeting_type),
            headers={"Authorization": f"Bearer {token}"},
            seconds=self.config.seconds,
        )
        if reply.status == 401:
            # revoked or expired early: the next attempt fetches a new token
            self._token = None
            raise TransientError(f"Zoom create meeting: HTTP 401: {_zoom_message(reply)}")
        return check(reply, "Zoom create meeting", _zoom_message(reply))

    async def send(
        self, request: ActionRequest, session: aiohttp.ClientSession, refs: Mapping[str, str]
    ) -> Outcome:
        if request.event is not ActionEvent.DECLARED or "bridge_url" in refs:
            return Outcome.sent("bridge already open" if "bridge_url" in refs else "", refs=refs)

        async def steps(found: dict[str, str]) -> str:
            body = (await self._create(request, session)).json()
            if not isinstance(body, dict) or not isinstance(body.get("join_url"), str):
                raise PermanentError("Zoom create meeting: no join_url in the answer")
            found["bridge_url"] = body["join_url"]
            found["zoom_meeting_id"] = str(body.get("id", ""))
            return f"Zoom meeting {found['zoom_meeting_id']} opened"

        return await attempt(refs, steps, secrets=[self.config.client_secret])


class UrlBridge:
    """A bridge URL from a Jinja2 template over the incident (`incident`, `event`)."""

    def __init__(self, name: str, config: BridgeUrlConfig) -> None:
        self.name = name
        self.config = config

    def url(self, request: ActionRequest) -> str:
        url = render_text(
            self.config.url, {"incident": dict(request.incident), "event": request.event.value}
        ).strip()
        if not url.startswith(("https://", "http://")):
            raise PermanentError("bridge url template did not render an http(s) URL")
        return url

    async def send(
        self, request: ActionRequest, session: aiohttp.ClientSession, refs: Mapping[str, str]
    ) -> Outcome:
        if "bridge_url" in refs:
            return Outcome.sent("bridge already set", refs=refs)

        async def steps(found: dict[str, str]) -> str:
            found["bridge_url"] = self.url(request)
            return "bridge URL set"

        return await attempt(refs, steps)
