"""Microsoft Teams, through a Workflows (Power Automate) webhook: an adaptive card per event,
for stakeholder channels.

The card carries the stakeholder message of the target's `audience` (business by default;
see comms.py): its title as a coloured heading, its Markdown body as text blocks, and the
bridge and links as buttons.

Documented behaviour this module relies on (learn.microsoft.com: "Create incoming webhooks
with Workflows", "Send Adaptive Cards using an Incoming Webhook", the Office 365 connectors
retirement notice):

- The body is a message envelope `{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}`; the workflow's
  "Post card in a chat or channel" step posts the first attachment's content. Card version
  1.4 renders in Teams clients.
- A message is at most 28 KB; the body is cut to stay well below.
- TextBlock Markdown ("Format cards in Teams"): `**bold**`, `_italic_`, `[text](url)`, lists
  whose items are separated by one CR or LF; a line break elsewhere takes two LFs. No
  headings, tables or HTML.
- Throttling above about 4 requests a second answers 429; back off. The workflow endpoint
  answers 202 with an empty body when it accepted the run, so any 2xx is success.
- The URL carries the workflow's signature (`sig=`): it is a credential and never appears in
  a reason.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

import aiohttp

from incidentd.act.comms import Message, render_message
from incidentd.act.config import TeamsConfig
from incidentd.act.http import attempt, check, exchange, text_of
from incidentd.act.target import ActionEvent, ActionRequest, Outcome

BODY_LIMIT = 16_000
"""Characters of message body on a card: with the envelope, well below the 28 KB limit."""
COLOURS: Mapping[ActionEvent, str] = {
    ActionEvent.DECLARED: "Attention",
    ActionEvent.ESCALATED: "Attention",
    ActionEvent.ACKNOWLEDGED: "Warning",
    ActionEvent.MITIGATED: "Accent",
    ActionEvent.RESOLVED: "Good",
    ActionEvent.UPDATED: "Default",
    ActionEvent.REOPENED: "Attention",
    ActionEvent.SLA_BREACHED: "Warning",
    ActionEvent.REMINDER: "Accent",
    ActionEvent.FOLLOWUP_OVERDUE: "Warning",
}
_PARAGRAPHS = re.compile(r"\n\s*\n")


def text_blocks(markdown: str) -> list[dict[str, Any]]:
    """One TextBlock per run of list items (joined by CR) or of other lines (joined by two
    LFs, Teams' line break); a blank line starts a new paragraph, with more space."""
    blocks: list[dict[str, Any]] = []
    for paragraph in _PARAGRAPHS.split(markdown.strip()):
        runs = itertools.groupby(paragraph.split("\n"), key=lambda line: line.startswith("- "))
        for i, (listed, lines) in enumerate(runs):
            text = ("\r" if listed else "\n\n").join(lines)
            block: dict[str, Any] = {"type": "TextBlock", "wrap": True, "text": text}
            if blocks:
                block["spacing"] = "Medium" if i == 0 else "Small"
            blocks.append(block)
    return blocks


def card(request: ActionRequest, rendered: Message) -> dict[str, Any]:
    """The workflow's message envelope around the adaptive card of one event."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "size": "Large",
            "weight": "Bolder",
            "wrap": True,
            "color": COLOURS[request.event],
            "text": rendered.title,
        },
        *text_blocks(rendered.body[:BODY_LIMIT]),
    ]
    actions = [{"type": "Action.OpenUrl", "title": "Join bridge", "url": request.bridge_url}]
    actions = actions if request.bridge_url else []
    actions += [
        {"type": "Action.OpenUrl", "title": link.text or "Open", "url": link.href}
        for link in request.links
    ]
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": content,
            }
        ],
    }


class TeamsTarget:
    def __init__(self, name: str, config: TeamsConfig) -> None:
        self.name = name
        self.config = config

    async def send(
        self, request: ActionRequest, session: aiohttp.ClientSession, refs: Mapping[str, str]
    ) -> Outcome:
        async def steps(found: dict[str, str]) -> str:
            rendered = render_message(self.config.audience, request, self.config.templates)
            reply = await exchange(
                session,
                "POST",
                self.config.webhook_url.get_secret_value(),
                json=card(request, rendered),
                seconds=self.config.seconds,
            )
            check(reply, "Teams workflow", "" if reply.ok else text_of(reply))
            return f"card posted ({reply.status})"

        return await attempt(refs, steps, secrets=[self.config.webhook_url])
