"""Fake Teams Workflows webhook ("When a Teams webhook request is received" trigger), per
learn.microsoft.com ("Create incoming webhooks with Workflows", adaptive cards in webhooks).

Checks the workflow signature in the query (`sig`; 401 DirectApiAuthorizationRequired
otherwise), the message envelope (`type: message`, attachments with contentType
`application/vnd.microsoft.card.adaptive` and an `AdaptiveCard` content with a version and a
body whose elements each have a `type`, TextBlocks a `text` string, Action.OpenUrl a `url`),
and the 28 KB message limit (413). Accepts with 202 and an empty body.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.base import FakeVendor, json_body, respond

CARD = "application/vnd.microsoft.card.adaptive"
LIMIT = 28 * 1024
PATH = "/workflows/4f2c1d/triggers/manual/paths/invoke"


def check(body: Any) -> list[str]:
    if not isinstance(body, dict) or body.get("type") != "message":
        return ["the envelope must be {'type': 'message', 'attachments': [...]}"]
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["attachments must be a non-empty list"]
    problems = []
    for attachment in attachments:
        content = attachment.get("content") if isinstance(attachment, dict) else None
        if attachment.get("contentType") != CARD or not isinstance(content, dict):
            problems.append(f"each attachment is an adaptive card ({CARD})")
            continue
        if content.get("type") != "AdaptiveCard" or not content.get("version"):
            problems.append("content must be an AdaptiveCard with a version")
        if not isinstance(content.get("body"), list):
            problems.append("an AdaptiveCard has a body list")
            continue
        problems += elements(content["body"], content.get("actions") or [])
    return problems


def elements(body: list[Any], actions: list[Any]) -> list[str]:
    problems = []
    for element in body:
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            problems.append("each body element has a type")
        elif element["type"] == "TextBlock" and not isinstance(element.get("text"), str):
            problems.append("a TextBlock has a text string")
    for action in actions:
        if not isinstance(action, dict) or action.get("type") != "Action.OpenUrl":
            problems.append("actions are Action.OpenUrl here")
        elif not isinstance(action.get("url"), str) or not action["url"]:
            problems.append("an Action.OpenUrl has a url")
    return problems


class FakeTeams(FakeVendor):
    def __init__(self, sig: str) -> None:
        super().__init__()
        self.sig = sig
        self.cards: list[dict[str, Any]] = []

    def webhook_url(self) -> str:
        query = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0"
        return f"{self.url}{PATH}?{query}&sig={self.sig}"

    def routes(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.invoke)

    async def invoke(self, request: web.Request) -> web.Response:
        if request.query.get("sig") != self.sig:
            self.violate(["wrong workflow signature"])
            error = {
                "code": "DirectApiAuthorizationRequired",
                "message": "The request must be authenticated",
            }
            return respond(401, {"error": error})
        if (request.content_length or 0) > LIMIT:
            self.violate(["message larger than 28 KB"])
            return respond(413, {"error": {"code": "MessageTooLarge", "message": "too large"}})
        body, problem = await json_body(request)
        problems = [problem] if problem else check(body)
        if problems:
            self.violate(problems)
            return respond(
                400, {"error": {"code": "InvalidRequestContent", "message": problems[0]}}
            )
        if (scripted := await self.scripted()) is not None:
            return scripted
        self.cards.append(body["attachments"][0]["content"])
        return respond(202)
