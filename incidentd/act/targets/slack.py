"""Slack Web API: a channel per incident, its people invited, the declaration and each update
posted in it.

One attempt runs the steps still missing, in order, and records each one's result in the refs
as soon as it is done: `channel` (conversations.create, or the existing channel when the name
is taken), `invited` (conversations.invite), then the message (chat.postMessage; the
declaration's `ts` is kept). A retry after a failed invite therefore never creates the
channel again, and a new responder is invited on the next action without re-inviting the
others.

The message is the stakeholder message of the target's `audience` (responders by default;
see comms.py), turned from Markdown into Slack's mrkdwn (`mrkdwn`); a person is mentioned as
`<@U...>` when the request knows their Slack id. The people invited are the configured
`invite` users, the request's `responders` and the Slack ids of its `people`.

Documented behaviour this module relies on (docs.slack.dev: the methods' pages, "Rate limits",
"Formatting text for app surfaces"):

- Methods answer HTTP 200 with `"ok": false` and an `error` code on failure; HTTP 429 with a
  `Retry-After` header in seconds when rate limited (Tier 2 for conversations.create/invite/
  list, about one message a second per channel for chat.postMessage).
- Channel names: lowercase letters, digits, hyphens and underscores, at most 80 characters
  (`invalid_name_specials`, `invalid_name_maxlength` otherwise).
- `name_taken`: the name exists. Our names start with the incident id, so the channel is most
  likely ours from an attempt whose answer was lost: look it up (conversations.list, which
  shows public channels and the private ones the bot is in) and reuse it, joining it if
  needed. Archived, or not visible to the bot: a permanent failure that says so.
- conversations.invite: `already_in_channel` and `cant_invite_self` mean done. One refused
  user fails the whole call and nobody is invited ("Partially failed calls"), so after a
  refusal each user is invited on their own; users Slack refuses (a bad id) are reported in
  the reason, are not asked again, and do not hold back the message.
- `internal_error`, `fatal_error`, `service_unavailable`, `request_timeout`, `ratelimited`
  are worth retrying; every other error code is permanent.
- mrkdwn: `&`, `<` and `>` are control characters and are escaped as HTML entities unless
  they mark a link `<url|text>` or a mention `<@U...>`; bold is `*bold*`. A section block's
  text holds at most 3000 characters and a message at most 50 blocks. The top-level `text`
  is what notifications show: it carries the title and the mentions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import aiohttp

from incidentd.act.comms import render_message
from incidentd.act.config import SlackConfig
from incidentd.act.http import Reply, attempt, check, exchange, retry_after
from incidentd.act.target import ActionEvent, ActionRequest, Outcome, Person
from incidentd.errors import PermanentError, TransientError

NAME_LIMIT = 80
RETRYABLE = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
INVITE_DONE = frozenset({"already_in_channel", "cant_invite_self"})
_NOT_ALLOWED = re.compile(r"[^a-z0-9_\-]+")
_DASHES = re.compile(r"-{2,}")


def channel_name(incident_id: str, title: str, prefix: str = "") -> str:
    """`inc-1042-checkout-degraded-orders-db-failing`: lowercase ASCII letters, digits, `-`
    and `_` only, at most 80 characters, the id always whole. Accents are folded (`Ü` ->
    `u`); other characters become `-`."""

    def clean(text: str) -> str:
        folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        return _DASHES.sub("-", _NOT_ALLOWED.sub("-", folded.lower())).strip("-_")

    head = clean(f"{prefix}{incident_id}")[:NAME_LIMIT] or "incident"
    tail = clean(title)
    if not tail or len(head) + 1 >= NAME_LIMIT:
        return head
    return f"{head}-{tail}"[:NAME_LIMIT].rstrip("-_")


SECTION_LIMIT = 3000
BLOCK_LIMIT = 50
BODY_LIMIT = 12_000
"""Characters of message body: Slack refuses messages whose blocks hold much more
(`msg_blocks_too_long`, seen from about 13,000), well below the documented 50 x 3000."""
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_INLINE = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)|\*\*(.+?)\*\*|(<@[A-Z0-9]+>)")
_BULLET = re.compile(r"^- ", re.MULTILINE)


def mention(person: Person) -> str:
    """`<@U024BE7LH>` when the person has a Slack id, else their name."""
    return f"<@{person.slack}>" if person.slack else person.name


def mrkdwn(markdown: str, *, mentions: frozenset[str] = frozenset()) -> str:
    """Slack's mrkdwn for the Markdown subset of comms.py: `**b**` -> `*b*`, `[t](u)` ->
    `<u|t>`, `- ` -> `• `; every other `&`, `<`, `>` escaped, so that a title cannot ping a
    channel or forge a link. Only the `mentions` given (the ones we wrote) stay mentions."""

    def inline(text: str) -> str:
        out, at = [], 0
        for found in _INLINE.finditer(text):
            out.append(text[at : found.start()].translate(_ESCAPES))
            label, url, bold, user = found.groups()
            if url is not None:
                out.append(f"<{url.translate(_ESCAPES)}|{label.translate(_ESCAPES)}>")
            elif bold is not None:
                out.append(f"*{inline(bold)}*")
            else:
                out.append(user if user in mentions else user.translate(_ESCAPES))
            at = found.end()
        out.append(text[at:].translate(_ESCAPES))
        return "".join(out)

    return _BULLET.sub("• ", inline(markdown))


def _sections(text: str) -> list[dict[str, Any]]:
    """Section blocks of at most SECTION_LIMIT characters, cut at line ends when possible."""
    chunks: list[str] = []
    for line in text.split("\n"):
        while len(line) > SECTION_LIMIT:
            chunks.append(line[:SECTION_LIMIT])
            line = line[SECTION_LIMIT:]
        if chunks and len(chunks[-1]) + 1 + len(line) <= SECTION_LIMIT:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in chunks[:BLOCK_LIMIT]
        if chunk.strip()
    ]


def message(request: ActionRequest, config: SlackConfig) -> dict[str, Any]:
    """chat.postMessage arguments but the channel: `text` (the title and the mentions: what
    notifications show) and the rendered message as mrkdwn sections. PermanentError when the
    template cannot render."""
    rendered = render_message(config.audience, request, config.templates, mention=mention)
    ours = frozenset(mention(p) for p in request.people if p.slack)
    used = [m for m in sorted(ours) if m in rendered.body]
    body = mrkdwn(rendered.body[:BODY_LIMIT], mentions=ours)
    title = mrkdwn(rendered.title)
    return {
        "text": " ".join([title, *used]),
        "blocks": _sections(f"*{title}*\n{body}" if body else f"*{title}*"),
        "unfurl_links": False,
    }


class SlackTarget:
    def __init__(self, name: str, config: SlackConfig) -> None:
        self.name = name
        self.config = config

    async def _call(
        self,
        session: aiohttp.ClientSession,
        method: str,
        args: dict[str, Any],
        *,
        read: bool = False,
    ) -> dict[str, Any]:
        """One Web API call; `ok: true` answers come back, errors raise (RETRYABLE codes and
        429 as transient). Read methods take query arguments, write methods JSON."""
        headers = {"Authorization": f"Bearer {self.config.token.get_secret_value()}"}
        url = f"{self.config.base_url}/{method}"
        reply = await exchange(
            session,
            "GET" if read else "POST",
            url,
            params={k: str(v) for k, v in args.items()} if read else None,
            json=None if read else args,
            headers=headers,
            seconds=self.config.seconds,
        )
        check(reply, f"Slack {method}")
        return _ok(reply, method)

    async def _lookup(self, session: aiohttp.ClientSession, name: str) -> dict[str, Any]:
        cursor = ""
        for _ in range(self.config.lookup_pages):
            args = {
                "types": "public_channel,private_channel",
                "exclude_archived": "false",
                "limit": "1000",
            }
            if cursor:
                args["cursor"] = cursor
            page = await self._call(session, "conversations.list", args, read=True)
            for channel in page.get("channels") or ():
                if isinstance(channel, dict) and channel.get("name") == name:
                    return channel
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                raise PermanentError(f"Slack: #{name} is taken by a channel the app cannot see")
        raise PermanentError(
            f"Slack: #{name} is taken; not found in {self.config.lookup_pages} pages"
        )

    async def _channel(
        self, request: ActionRequest, session: aiohttp.ClientSession, found: dict[str, str]
    ) -> None:
        name = channel_name(request.facts.id, request.facts.title, self.config.channel_prefix)
        args = {"name": name, "is_private": self.config.private}
        try:
            created = await self._call(session, "conversations.create", args)
            channel: dict[str, Any] = created.get("channel") or {}
        except _SlackError as exc:
            if exc.code != "name_taken":
                raise
            channel = await self._lookup(session, name)
            if channel.get("is_archived"):
                raise PermanentError(f"Slack: #{name} exists but is archived") from None
            if not channel.get("is_member"):
                await self._call(session, "conversations.join", {"channel": channel["id"]})
        if not isinstance(channel.get("id"), str):
            raise PermanentError("Slack: conversations.create answered no channel id")
        found["channel"] = channel["id"]
        found["channel_name"] = str(channel.get("name") or name)

    async def _invite_users(
        self, session: aiohttp.ClientSession, found: dict[str, str], users: list[str]
    ) -> str:
        """One conversations.invite; records the users as done unless the failure is
        transient. Returns the error code of a refused invitation, "" when done."""
        code = ""
        try:
            args = {"channel": found["channel"], "users": ",".join(users)}
            await self._call(session, "conversations.invite", args)
        except _SlackError as exc:
            code = "" if exc.code in INVITE_DONE else exc.code
        done = set(filter(None, found.get("invited", "").split(",")))
        found["invited"] = ",".join(sorted(done | set(users)))
        return code

    async def _invite(
        self, request: ActionRequest, session: aiohttp.ClientSession, found: dict[str, str]
    ) -> str:
        """Invite whoever is not invited yet; returns a note on users that cannot be. A
        refused user is not asked again and does not hold back the message."""
        done = set(filter(None, found.get("invited", "").split(",")))
        people = (p.slack for p in request.people if p.slack)
        asked = (*self.config.invite, *request.responders, *people)
        wanted = [u for u in dict.fromkeys(asked) if u]
        missing = [u for u in wanted if u not in done]
        if not missing:
            return ""
        code = await self._invite_users(session, found, missing)
        if not code:
            return ""
        if len(missing) == 1:
            return f"; not invited: {missing[0]} ({code})"
        # Slack invites nobody when one invitation fails: ask for each user on their own
        refused = []
        for user in missing:
            if one := await self._invite_users(session, found, [user]):
                refused.append(f"{user} ({one})")
        return f"; not invited: {', '.join(refused)}" if refused else ""

    async def send(
        self, request: ActionRequest, session: aiohttp.ClientSession, refs: Mapping[str, str]
    ) -> Outcome:
        async def steps(found: dict[str, str]) -> str:
            post = message(request, self.config)  # first: a broken template changes nothing
            if "channel" not in found:
                await self._channel(request, session, found)
            note = await self._invite(request, session, found)
            post["channel"] = found["channel"]
            posted = await self._call(session, "chat.postMessage", post)
            if request.event is ActionEvent.DECLARED and isinstance(posted.get("ts"), str):
                found["declaration_ts"] = posted["ts"]
            return f"posted {request.event} in #{found.get('channel_name', found['channel'])}{note}"

        return await attempt(refs, steps, secrets=[self.config.token])


class _SlackError(PermanentError):
    def __init__(self, method: str, code: str) -> None:
        super().__init__(f"Slack {method}: {code}")
        self.code = code


def _ok(reply: Reply, method: str) -> dict[str, Any]:
    body = reply.json()
    if not isinstance(body, dict):
        raise TransientError(f"Slack {method}: the answer is not JSON")
    if body.get("ok") is True:
        return body
    code = str(body.get("error") or "unknown_error")
    if code in RETRYABLE:
        raise TransientError(f"Slack {method}: {code}", retry_after=retry_after(reply.headers))
    raise _SlackError(method, code)
