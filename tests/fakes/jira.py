"""Fake Jira for one Jira Service Management project: the Cloud platform REST API v3, or Data
Center's v2 (`api="2"`), per Atlassian's references ("Create issue", "Edit issue", "Search for
issues using JQL enhanced search (POST)", "Add comment", "Get transitions", "Transition issue",
"Atlassian Document Format") and "Rate limiting".

Checks Basic (email:API token) or Bearer credentials (401 otherwise); JSON bodies; on create:
`fields.project.key` is the project, `issuetype.name` one of its types, `summary` required, one
line of at most 255 characters, `description` an ADF document on v3 (a `doc` of version 1 whose
paragraphs hold non-empty text nodes, hard breaks and link marks with an href; bullet lists of
list items) and a string on v2, `priority.name` one of the instance's, `labels` strings
without whitespace; comments the same body rules and `properties[]` of `{key, value}`.
Mistakes answer 400 `{"errorMessages": [...], "errors": {field: message}}` as Jira does.

Search: v3 answers `POST /rest/api/3/search/jql` (issues carry `id`, and `key` and `fields`
when fields are asked for; `isLast`); the older `/rest/api/3/search` answers 410 Gone, as
Jira Cloud does since its removal. v2 answers `POST /rest/api/2/search`. Only the JQL this
target writes is understood: `project = "X" AND labels = "Y" ORDER BY created ASC`.

The workflow: Open -(Investigate)-> Work in progress -(Resolve)-> Resolved (category done)
-(Reopen)-> Open; Open -(Resolve)-> Resolved. Transition answers 204; a transition not
offered from the issue's status answers 400.
"""

from __future__ import annotations

import base64
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeVendor, json_body, respond

PRIORITIES = {"Highest", "High", "Medium", "Low", "Lowest"}
ISSUE_TYPES = {"[System] Incident", "[System] Service request", "Task"}
CATEGORY = {"Open": "new", "Work in progress": "indeterminate", "Resolved": "done"}
WORKFLOW: dict[str, list[tuple[str, str, str]]] = {
    "Open": [("11", "Investigate", "Work in progress"), ("31", "Resolve", "Resolved")],
    "Work in progress": [("31", "Resolve", "Resolved")],
    "Resolved": [("41", "Reopen", "Open")],
}
JQL = re.compile(
    r'^project = "(?P<project>[A-Z][A-Z0-9_]*)" AND labels = "(?P<label>[^"\s]+)"'
    r"(?: ORDER BY created ASC)?$"
)
MARKS = {"strong", "em", "code", "link", "strike", "underline"}


@dataclass
class Issue:
    id: str
    key: str
    fields: dict[str, Any]
    status: str = "Open"
    comments: list[dict[str, Any]] = field(default_factory=list)
    history: list[str] = field(default_factory=list)


def errors(
    status: int, messages: list[str], by_field: dict[str, str] | None = None
) -> web.Response:
    return respond(status, {"errorMessages": messages, "errors": by_field or {}})


# --- Atlassian Document Format ---------------------------------------------------------------


def _check_inline(node: Any, problems: list[str]) -> None:
    if not isinstance(node, dict):
        problems.append("ADF: an inline node is not an object")
    elif node.get("type") == "hardBreak":
        return
    elif node.get("type") != "text":
        problems.append(f"ADF: inline node {node.get('type')!r} is not supported here")
    elif not isinstance(node.get("text"), str) or not node["text"]:
        problems.append("ADF: a text node needs a non-empty text")
    else:
        for mark in node.get("marks", []):
            if mark.get("type") not in MARKS:
                problems.append(f"ADF: unknown mark {mark.get('type')!r}")
            elif mark["type"] == "link" and not isinstance(mark.get("attrs", {}).get("href"), str):
                problems.append("ADF: a link mark needs attrs.href")


def _check_block(node: Any, problems: list[str]) -> None:
    kind = node.get("type") if isinstance(node, dict) else None
    if kind == "paragraph":
        for inline in node.get("content", []):
            _check_inline(inline, problems)
    elif kind == "bulletList":
        for item in node.get("content", []):
            if (
                not isinstance(item, dict)
                or item.get("type") != "listItem"
                or not item.get("content")
            ):
                problems.append("ADF: a bulletList holds listItems with content")
                continue
            for block in item["content"]:
                _check_block(block, problems)
    else:
        problems.append(f"ADF: block node {kind!r} is not supported here")


def check_adf(doc: Any, where: str) -> list[str]:
    problems: list[str] = []
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return [f"{where}: Operation value must be an Atlassian Document (type doc, version 1)"]
    content = doc.get("content")
    if not isinstance(content, list):
        return [f"{where}: an Atlassian Document needs a content array"]
    for block in content:
        _check_block(block, problems)
    return [f"{where}: {p}" for p in problems]


def adf_text(doc: Any) -> str:
    """The plain text of an ADF document (lines at hard breaks and paragraphs)."""
    if isinstance(doc, str):
        return doc
    out: list[str] = []

    def walk(node: Any) -> None:
        if node.get("type") == "text":
            out.append(node["text"])
        elif node.get("type") == "hardBreak":
            out.append("\n")
        for child in node.get("content", []):
            walk(child)
        if node.get("type") == "paragraph":
            out.append("\n")

    walk(doc)
    return "".join(out)


# --- the fake --------------------------------------------------------------------------------


class FakeJira(FakeVendor):
    def __init__(
        self,
        *,
        project: str = "OPS",
        email: str = "",
        token: str = "",
        bearer: str = "",
        api: str = "3",
    ) -> None:
        super().__init__()
        self.project = project
        self.api = api
        if bearer:
            self.authorization = f"Bearer {bearer}"
        else:
            pair = base64.b64encode(f"{email}:{token}".encode()).decode()
            self.authorization = f"Basic {pair}"
        self.issues: dict[str, Issue] = {}
        self._ids = itertools.count(10001)
        self._numbers = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        root = f"/rest/api/{self.api}"
        app.router.add_post(f"{root}/issue", self.create)
        app.router.add_get(f"{root}/issue/{{key}}", self.get_issue)
        app.router.add_put(f"{root}/issue/{{key}}", self.edit)
        app.router.add_post(f"{root}/issue/{{key}}/comment", self.comment)
        app.router.add_get(f"{root}/issue/{{key}}/transitions", self.transitions)
        app.router.add_post(f"{root}/issue/{{key}}/transitions", self.transition)
        if self.api == "3":
            app.router.add_post("/rest/api/3/search/jql", self.search)
            app.router.add_route("*", "/rest/api/3/search", self.removed)
        else:
            app.router.add_post("/rest/api/2/search", self.search)

    # --- shared checks -------------------------------------------------------------------------

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") == self.authorization:
            return None
        self.violate(["missing or wrong credentials"])
        return errors(401, ["You are not authenticated. Authentication required."])

    async def _body(
        self, request: web.Request
    ) -> tuple[dict[str, Any] | None, web.Response | None]:
        body, problem = await json_body(request)
        if problem or not isinstance(body, dict):
            self.violate([problem or "the body is not a JSON object"])
            return None, errors(400, ["Unexpected character in the request body."])
        return body, None

    def _text_problems(self, value: Any, where: str) -> list[str]:
        if self.api == "3":
            return check_adf(value, where)
        return [] if isinstance(value, str) else [f"{where}: must be a string on API v2"]

    def _issue(self, key: str) -> Issue | None:
        return next((i for i in self.issues.values() if key in (i.key, i.id)), None)

    def _missing(self) -> web.Response:
        return errors(404, ["Issue does not exist or you do not have permission to see it."])

    def _check_fields(self, fields: dict[str, Any], *, create: bool) -> dict[str, str]:
        problems: dict[str, str] = {}
        if create:
            if (fields.get("project") or {}).get("key") != self.project:
                problems["project"] = "Specify a valid project ID or key"
            if (fields.get("issuetype") or {}).get("name") not in ISSUE_TYPES:
                problems["issuetype"] = "Specify an issue type"
            summary = fields.get("summary")
            if not isinstance(summary, str) or not summary.strip():
                problems["summary"] = "You must specify a summary of the issue."
            elif len(summary) > 255 or "\n" in summary:
                problems["summary"] = "Summary must be less than 255 characters and one line."
        if "description" in fields:
            found = self._text_problems(fields["description"], "description")
            if found:
                problems["description"] = "; ".join(found)
        if "priority" in fields and (fields["priority"] or {}).get("name") not in PRIORITIES:
            problems["priority"] = "Specify the Priority (id or name) in the string format"
        labels = fields.get("labels", [])
        if not isinstance(labels, list) or not all(
            isinstance(x, str) and x and not re.search(r"\s", x) for x in labels
        ):
            problems["labels"] = "The label must not contain spaces."
        return problems

    # --- handlers ------------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body, error = await self._body(request)
        if body is None:
            return error or errors(400, [])
        fields = body.get("fields")
        problems = (
            self._check_fields(fields, create=True)
            if isinstance(fields, dict)
            else {"fields": "fields is required"}
        )
        if problems:
            self.violate(list(problems.values()))
            return errors(400, [], problems)
        if (scripted := await self.scripted()) is not None:
            return scripted
        issue_id = str(next(self._ids))
        key = f"{self.project}-{next(self._numbers)}"
        self.issues[issue_id] = Issue(issue_id, key, dict(fields))
        return respond(201, {"id": issue_id, "key": key, "self": self._self(issue_id)})

    async def search(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body, error = await self._body(request)
        if body is None:
            return error or errors(400, [])
        parsed = JQL.match(str(body.get("jql", "")))
        if parsed is None:
            self.violate([f"JQL not understood by the fake: {body.get('jql')!r}"])
            return errors(400, ["Error in the JQL Query: the query is not understood."])
        if (scripted := await self.scripted()) is not None:
            return scripted
        found = [
            i
            for i in self.issues.values()
            if i.key.startswith(parsed["project"] + "-")
            and parsed["label"] in i.fields.get("labels", [])
        ][: int(body.get("maxResults", 50))]
        wanted = body.get("fields")
        shown = [self._found(i, wanted) for i in found]
        if self.api == "3":
            return respond(200, {"issues": shown, "isLast": True})
        return respond(
            200, {"startAt": 0, "maxResults": len(shown), "total": len(shown), "issues": shown}
        )

    def _found(self, issue: Issue, wanted: Any) -> dict[str, Any]:
        # enhanced search returns only ids unless fields are asked for
        if self.api == "3" and not wanted:
            return {"id": issue.id}
        return {
            "id": issue.id,
            "key": issue.key,
            "self": self._self(issue.id),
            "fields": {"summary": issue.fields.get("summary"), "status": self._status(issue)},
        }

    async def removed(self, request: web.Request) -> web.Response:
        self.violate(["the removed /rest/api/3/search was called"])
        message = (
            "The requested API has been removed. Please migrate to the /rest/api/3/search/jql "
            "API. A full migration guideline is available at "
            "https://developer.atlassian.com/changelog/#CHANGE-2046"
        )
        return errors(410, [message])

    async def get_issue(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        if (scripted := await self.scripted()) is not None:
            return scripted
        issue = self._issue(request.match_info["key"])
        if issue is None:
            return self._missing()
        shown = {**issue.fields, "status": self._status(issue)}
        return respond(200, {"id": issue.id, "key": issue.key, "fields": shown})

    async def edit(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body, error = await self._body(request)
        if body is None:
            return error or errors(400, [])
        problems = self._check_fields(body.get("fields") or {}, create=False)
        if problems:
            self.violate(list(problems.values()))
            return errors(400, [], problems)
        if (scripted := await self.scripted()) is not None:
            return scripted
        issue = self._issue(request.match_info["key"])
        if issue is None:
            return self._missing()
        issue.fields.update(body.get("fields") or {})
        return web.Response(status=204)

    async def comment(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body, error = await self._body(request)
        if body is None:
            return error or errors(400, [])
        problems = self._text_problems(body.get("body"), "body")
        for prop in body.get("properties", []):
            if not isinstance(prop, dict) or not isinstance(prop.get("key"), str):
                problems.append("each comment property needs a key and a value")
        if problems:
            self.violate(problems)
            return errors(400, [], {"comment": "; ".join(problems)})
        if (scripted := await self.scripted()) is not None:
            return scripted
        issue = self._issue(request.match_info["key"])
        if issue is None:
            return self._missing()
        comment = {"id": str(next(self._ids)), **body}
        issue.comments.append(comment)
        return respond(201, {**comment, "self": f"{self._self(issue.id)}/comment/{comment['id']}"})

    async def transitions(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        if (scripted := await self.scripted()) is not None:
            return scripted
        issue = self._issue(request.match_info["key"])
        if issue is None:
            return self._missing()
        offered = [
            {
                "id": tid,
                "name": name,
                "to": {"name": to, "statusCategory": {"key": CATEGORY[to]}},
                "hasScreen": False,
                "isGlobal": False,
                "isInitial": False,
                "isConditional": False,
            }
            for tid, name, to in WORKFLOW[issue.status]
        ]
        return respond(200, {"expand": "transitions", "transitions": offered})

    async def transition(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body, error = await self._body(request)
        if body is None:
            return error or errors(400, [])
        wanted = (body.get("transition") or {}).get("id")
        if not isinstance(wanted, str):
            self.violate(["transition.id is required (a string)"])
            return errors(400, ["Missing 'transition' identifier"])
        if (scripted := await self.scripted()) is not None:
            return scripted
        issue = self._issue(request.match_info["key"])
        if issue is None:
            return self._missing()
        move = next((t for t in WORKFLOW[issue.status] if t[0] == wanted), None)
        if move is None:
            return errors(400, [f"Transition id '{wanted}' is not valid for this issue."])
        issue.status = move[2]
        issue.history.append(move[1])
        return web.Response(status=204)

    def _status(self, issue: Issue) -> dict[str, Any]:
        return {"name": issue.status, "statusCategory": {"key": CATEGORY[issue.status]}}

    def _self(self, issue_id: str) -> str:
        return f"{self.url}/rest/api/{self.api}/issue/{issue_id}"
