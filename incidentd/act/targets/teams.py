"""Microsoft Teams, through a Workflows (Power Automate) webhook: an adaptive card per event,
for stakeholder channels.

Documented behaviour this module relies on (learn.microsoft.com: "Create incoming webhooks
with Workflows", "Send Adaptive Cards using an Incoming Webhook", the Office 365 connectors
retirement notice):

- The body is a message envelope `{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}`; the workflow's
  "Post card in a chat or channel" step posts the first attachment's content. Card version
  1.4 renders in Teams clients.
- A message is at most 28 KB; the card's explanation is cut to stay well below.
- Throttling above about 4 requests a second answers 429; back off. The workflow endpoint
  answers 202 with an empty body when it accepted the run, so any 2xx is success.
- The URL carries the workflow's signature (`sig=`): it is a credential and never appears in
  a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from incidentd.act.config import TeamsConfig
from incidentd.act.http import attempt, check, exchange, text_of
from incidentd.act.target import ActionEvent, ActionRequest, Outcome

EXPLANATION_LINES = 8
COLOURS: Mapping[ActionEvent, str] = {
    ActionEvent.DECLARED: "Attention",
    ActionEvent.ESCALATED: "Attention",
    ActionEvent.ACKNOWLEDGED: "Warning",
    ActionEvent.MITIGATED: "Accent",
    ActionEvent.RESOLVED: "Good",
    ActionEvent.UPDATED: "Default",
}


def card(request: ActionRequest) -> dict[str, Any]:
    """The adaptive card for one event."""
    facts = request.facts
    facts_set = [
        {"title": "Priority", "value": facts.priority.value},
        {"title": "Status", "value": facts.status},
        {"title": "Services", "value": ", ".join(facts.services) or "none mapped"},
    ]
    if facts.capabilities:
        facts_set.append({"title": "Capabilities", "value": ", ".join(facts.capabilities)})
    if facts.commander:
        facts_set.append({"title": "Commander", "value": facts.commander})
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "size": "Large",
            "weight": "Bolder",
            "wrap": True,
            "color": COLOURS[request.event],
            "text": f"{facts.id} {request.event.value}: {facts.title}",
        },
        {"type": "FactSet", "facts": facts_set},
        {"type": "TextBlock", "wrap": True, "text": facts.score.summary},
    ]
    if request.note:
        body.append({"type": "TextBlock", "wrap": True, "text": request.note})
    if request.event is ActionEvent.DECLARED:
        lines = facts.score.explanation()[:EXPLANATION_LINES]
        body.append(
            {"type": "TextBlock", "wrap": True, "isSubtle": True, "text": "\n\n".join(lines)}
        )
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
            reply = await exchange(
                session,
                "POST",
                self.config.webhook_url.get_secret_value(),
                json=card(request),
                seconds=self.config.seconds,
            )
            check(reply, "Teams workflow", "" if reply.ok else text_of(reply))
            return f"card posted ({reply.status})"

        return await attempt(refs, steps, secrets=[self.config.webhook_url])
