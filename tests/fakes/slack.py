"""Fake Slack Web API, per docs.slack.dev's method pages (conversations.create, .list, .join,
.invite, chat.postMessage).

Every method answers HTTP 200 with `ok: false` and an error code on failure, as Slack does;
a scripted 429 carries Retry-After. Checks: `Authorization: Bearer <token>` (`not_authed` /
`invalid_auth`), JSON bodies for write methods; channel names lowercase letters, digits, `-`
and `_`, at most 80 characters (`invalid_name_specials`, `invalid_name_maxlength`), unique
(`name_taken`); invites of known users to a channel the bot is in; messages need `text` or
`blocks` and a channel the bot is a member of (`not_in_channel`, `is_archived`); blocks are
at most 50, each section's text a `mrkdwn` or `plain_text` object of at most 3000 characters
(`invalid_blocks`, Block Kit's section block reference). Members named in the message
(`<@U...>`) are kept in `mentions` of each recorded message.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeVendor, json_body, respond

NAME = re.compile(r"^[a-z0-9_\-]+$")
MENTION = re.compile(r"<@([A-Z0-9]+)>")
BOT = "UBOT00001"


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    members: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": True,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_member": BOT in self.members,
            "name_normalized": self.name,
        }


class FakeSlack(FakeVendor):
    def __init__(self, token: str, users: set[str] | None = None) -> None:
        super().__init__()
        self.token = token
        self.users = users if users is not None else {"U0COMMANDER", "U0ONCALL1", "U0ONCALL2"}
        self.channels: list[Channel] = []
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)

    def add_channel(self, name: str, *, archived: bool = False, member: bool = True) -> Channel:
        channel = Channel(f"C{next(self._ids):08d}", name, is_archived=archived)
        if member:
            channel.members.add(BOT)
        self.channels.append(channel)
        return channel

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)

    def routes(self, app: web.Application) -> None:
        for method in (
            "conversations.create",
            "conversations.join",
            "conversations.invite",
            "chat.postMessage",
        ):
            app.router.add_post(f"/api/{method}", self.write)
        app.router.add_get("/api/conversations.list", self.list)

    def _auth_error(self, request: web.Request) -> str | None:
        given = request.headers.get("Authorization", "")
        if not given:
            return "not_authed"
        if given != f"Bearer {self.token}":
            return "invalid_auth"
        return None

    async def write(self, request: web.Request) -> web.Response:
        if error := self._auth_error(request):
            self.violate([error])
            return respond(200, {"ok": False, "error": error})
        body, problem = await json_body(request)
        if problem or not isinstance(body, dict):
            self.violate([problem or "body is not an object"])
            return respond(200, {"ok": False, "error": "invalid_json"})
        if (scripted := await self.scripted()) is not None:
            return scripted
        method = request.path.removeprefix("/api/")
        handler = {
            "conversations.create": self._create,
            "conversations.join": self._join,
            "conversations.invite": self._invite,
            "chat.postMessage": self._post,
        }[method]
        answer = handler(body)
        if not answer.get("ok") and answer.get("error") in (
            "invalid_name_specials",
            "invalid_name_maxlength",
            "no_text",
            "invalid_blocks",
        ):
            self.violate([f"{method}: {answer['error']}"])
        return respond(200, answer)

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return {"ok": False, "error": "invalid_name_required"}
        if len(name) > 80:
            return {"ok": False, "error": "invalid_name_maxlength"}
        if not NAME.match(name):
            return {"ok": False, "error": "invalid_name_specials"}
        if self.channel(name) is not None:
            return {"ok": False, "error": "name_taken"}
        channel = self.add_channel(name)
        channel.is_private = bool(body.get("is_private"))
        return {"ok": True, "channel": channel.view()}

    def _find(self, channel_id: Any) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def _join(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._find(body.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_archived:
            return {"ok": False, "error": "is_archived"}
        channel.members.add(BOT)
        return {"ok": True, "channel": channel.view()}

    def _invite(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._find(body.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if BOT not in channel.members:
            return {"ok": False, "error": "not_in_channel"}
        users = [u for u in str(body.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "no_user"}
        if any(u not in self.users for u in users):
            return {"ok": False, "error": "user_not_found"}
        if all(u in channel.members for u in users):
            return {"ok": False, "error": "already_in_channel"}
        channel.members.update(users)
        return {"ok": True, "channel": channel.view()}

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._find(body.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_archived:
            return {"ok": False, "error": "is_archived"}
        if BOT not in channel.members:
            return {"ok": False, "error": "not_in_channel"}
        if not body.get("text") and not body.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if not valid_blocks(body.get("blocks") or []):
            return {"ok": False, "error": "invalid_blocks"}
        ts = f"1700000000.{next(self._ts):06d}"
        texts = [str(body.get("text") or ""), *section_texts(body.get("blocks") or [])]
        mentions = sorted({m for t in texts for m in MENTION.findall(t)})
        channel.messages.append({**body, "ts": ts, "mentions": mentions})
        return {"ok": True, "channel": channel.id, "ts": ts, "message": {"text": body.get("text")}}

    async def list(self, request: web.Request) -> web.Response:
        if error := self._auth_error(request):
            self.violate([error])
            return respond(200, {"ok": False, "error": error})
        if (scripted := await self.scripted()) is not None:
            return scripted
        limit = int(request.query.get("limit", "100"))
        start = int(request.query.get("cursor") or 0)
        visible = [c for c in self.channels if not c.is_private or BOT in c.members]
        page = visible[start : start + limit]
        following = start + limit if start + limit < len(visible) else None
        meta = {"next_cursor": str(following) if following is not None else ""}
        return respond(
            200, {"ok": True, "channels": [c.view() for c in page], "response_metadata": meta}
        )


def valid_blocks(blocks: object) -> bool:
    """At most 50 blocks; a section's text is a text object of at most 3000 characters."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return False
        if block["type"] != "section":
            continue
        text = block.get("text")
        if not isinstance(text, dict) or text.get("type") not in ("mrkdwn", "plain_text"):
            return False
        if not isinstance(text.get("text"), str) or not 1 <= len(text["text"]) <= 3000:
            return False
    return True


def section_texts(blocks: Iterable[dict[str, Any]]) -> list[str]:
    return [str(b["text"]["text"]) for b in blocks if b.get("type") == "section"]
