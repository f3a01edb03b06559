"""Jira Service Management: an issue per incident, its comments carrying the incident's
timeline, moved through the project's workflow as the incident moves.

Documented behaviour this module relies on (developer.atlassian.com, Jira Cloud platform REST
API v3: "Create issue", "Edit issue", "Search for issues using JQL enhanced search (POST)",
"Add comment", "Get transitions", "Transition issue", "Atlassian Document Format", "Rate
limiting"; Jira Data Center REST API v2 for the same resources):

- Cloud: `/rest/api/3`, Basic auth with the account's email and an API token; rich text
  (description, comment bodies) is an ADF document (`{"type": "doc", "version": 1, ...}`,
  text nodes never empty). Data Center: `/rest/api/2`, a personal access token as Bearer;
  rich text is a wiki-markup string.
- Create: POST `/issue` `{"fields": {project: {key}, issuetype: {name}, summary (one line, at
  most 255), description, priority: {name}, labels: [...], ...}}` answers 201 `{id, key,
  self}`. Edit: PUT `/issue/{key}` answers 204. Comment: POST `/issue/{key}/comment` `{body,
  properties}` answers 201. Transitions: GET `/issue/{key}/transitions` lists the ones offered
  from the issue's status (`{transitions: [{id, name, to: {name, statusCategory}}]}`), POST
  `{"transition": {"id": ...}}` answers 204. Transition names and ids differ between
  workflows: we look the configured name up on every resolve.
- Search: Cloud's GET/POST `/rest/api/3/search` was removed (410 Gone, CHANGE-2046); the
  current one is POST `/rest/api/3/search/jql` `{jql, fields, maxResults}` answering
  `{issues: [{id, key?, fields?}], isLast}` (only ids unless fields are asked for; recent
  writes may not be visible yet). Data Center: POST `/rest/api/2/search`.
- Errors: `{"errorMessages": [...], "errors": {field: message}}`; 400, 401, 403 and 404 are
  permanent; 429 (with Retry-After) and 5xx (a 503 may carry Retry-After) are retried.

Jira has no idempotency key, so every issue carries a label derived from the incident id
(`incidentd-INC-1042`): before creating, an attempt searches for it and adopts an issue it
finds. The refs keep `issue` (the key), `issue_id` and `timeline_seq` (the last timeline entry
written), so that each entry is written once. A comment whose answer was lost is written
again on the retry (Jira offers no way to tell); Cloud's search can lag a fresh create by a
few seconds, so a create retried at once could still be made twice.

JSM comments made through the platform API are public (they reach the reporter) unless the
`sd.public.comment` property says `internal`; `internal_comments` (the default) sets it. A
reminder (the commander owes an update) and an overdue follow-up write nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from pydantic import SecretStr

from incidentd.act.config import JiraBasic, JiraConfig, JiraEvent
from incidentd.act.http import Reply, attempt, basic_auth, check, exchange
from incidentd.act.target import (
    TEAM_EVENTS,
    ActionEvent,
    ActionRequest,
    IncidentFacts,
    Link,
    Outcome,
)
from incidentd.errors import PermanentError

SUMMARY_LIMIT = 255
LABEL_LIMIT = 255
TIMELINE_ENTRIES = 50
INTERNAL = [{"key": "sd.public.comment", "value": {"internal": True}}]
TRANSITION_ON: Mapping[ActionEvent, JiraEvent] = {
    ActionEvent.ACKNOWLEDGED: "acknowledged",
    ActionEvent.MITIGATED: "mitigated",
    ActionEvent.RESOLVED: "resolved",
    ActionEvent.REOPENED: "reopened",
}

Line = str | Link
Section = Sequence[Line]


def issue_label(incident_id: str, prefix: str) -> str:
    """The label that finds the incident's issue again: no whitespace, no quote (it goes into
    JQL), at most 255 characters."""
    text = f"{prefix}{incident_id}"
    return "".join("-" if c.isspace() or c in '"\\' else c for c in text)[:LABEL_LIMIT]


def summary(facts: IncidentFacts) -> str:
    text = " ".join(f"{facts.id}: {facts.title}".split())
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


# --- rich text: ADF on Cloud, wiki markup on Data Center ---------------------------------------


def _adf_inline(line: Line) -> dict[str, Any]:
    if isinstance(line, Link):
        mark = {"type": "link", "attrs": {"href": line.href}}
        return {"type": "text", "text": line.text or line.href, "marks": [mark]}
    return {"type": "text", "text": line}


def to_adf(sections: Sequence[Section]) -> dict[str, Any]:
    """One paragraph per section, its lines separated by hard breaks; empty lines dropped
    (an ADF text node is never empty)."""
    content = []
    for section in sections:
        inline: list[dict[str, Any]] = []
        for line in section:
            if isinstance(line, str) and not line.strip():
                continue
            if inline:
                inline.append({"type": "hardBreak"})
            inline.append(_adf_inline(line))
        if inline:
            content.append({"type": "paragraph", "content": inline})
    return {"type": "doc", "version": 1, "content": content}


def to_wiki(sections: Sequence[Section]) -> str:
    def line(item: Line) -> str:
        return f"[{item.text or item.href}|{item.href}]" if isinstance(item, Link) else item

    blocks = [
        "\n".join(line(i) for i in s if not isinstance(i, str) or i.strip()) for s in sections
    ]
    return "\n\n".join(b for b in blocks if b)


def _links(request: ActionRequest) -> list[Line]:
    found: list[Line] = [Link(request.bridge_url, "Incident bridge")] if request.bridge_url else []
    return found + list(request.links)


def _timeline(request: ActionRequest, after: int) -> tuple[list[str], int]:
    new = [e for e in request.facts.timeline if e.seq > after]
    lines = [e.line() for e in new[-TIMELINE_ENTRIES:]]
    if len(new) > TIMELINE_ENTRIES:
        lines.insert(0, f"({len(new) - TIMELINE_ENTRIES} earlier entries are in incidentd)")
    return lines, max((e.seq for e in new), default=after)


def description(request: ActionRequest) -> tuple[list[Section], int]:
    """The issue's description: title, score and why, what is touched, links, the timeline so
    far. Returns the sections and the last timeline seq they hold."""
    facts = request.facts
    entries, last = _timeline(request, -1)
    touched = [
        f"{name}: {', '.join(values)}"
        for name, values in (
            ("Services", facts.services),
            ("Capabilities", facts.capabilities),
            ("Root causes", facts.root_causes),
        )
        if values
    ]
    sections: list[Section] = [
        [facts.title],
        [facts.score.summary, *facts.score.explanation()],
        touched,
        _links(request),
        ["Timeline (incidentd):", *entries] if entries else [],
    ]
    return sections, last


def comment(request: ActionRequest, after: int) -> tuple[list[Section], int]:
    """The comment for this event: a headline, the breach or the note, the timeline entries
    after seq `after`. Returns the sections and the last seq they hold."""
    facts = request.facts
    head = [f"incidentd: {facts.id} {request.event.value} ({facts.priority}, {facts.status})"]
    if request.event is ActionEvent.SLA_BREACHED and facts.breach_summary():
        head.append(facts.breach_summary())
    if request.note:
        head.append(request.note)
    entries, last = _timeline(request, after)
    sections: list[Section] = [head, entries]
    if request.event is ActionEvent.REOPENED:
        sections.append(_links(request))
    return sections, last


def issue_fields(request: ActionRequest, config: JiraConfig) -> tuple[dict[str, Any], int]:
    """The create body's fields, and the last timeline seq the description holds."""
    facts = request.facts
    sections, last = description(request)
    text = to_adf(sections) if config.deployment == "cloud" else to_wiki(sections)
    fields: dict[str, Any] = {
        "project": {"key": config.project},
        "issuetype": {"name": config.issue_type},
        "summary": summary(facts),
        "description": text,
        "priority": {"name": config.priority[facts.priority]},
        "labels": [issue_label(facts.id, config.label_prefix), *config.labels],
        **config.fields,
    }
    return fields, last


def _vendor_message(reply: Reply) -> str:
    body = reply.json()
    if not isinstance(body, dict):
        return ""
    said = [str(m) for m in body.get("errorMessages") or [] if m]
    by_field = body.get("errors")
    if isinstance(by_field, dict):
        said += [f"{k}: {v}" for k, v in by_field.items()]
    return "; ".join(said)


class JiraTarget:
    def __init__(self, name: str, config: JiraConfig) -> None:
        self.name = name
        self.config = config

    def _authorization(self) -> str:
        auth = self.config.auth
        if isinstance(auth, JiraBasic):
            return basic_auth(auth.email, auth.api_token.get_secret_value())
        return f"Bearer {auth.token.get_secret_value()}"

    def _secrets(self) -> tuple[SecretStr, ...]:
        # a vendor that echoes the header would show the encoded credential: mask it too
        return (*self.config.auth.secrets(), SecretStr(self._authorization()))

    async def _call(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        what: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """One request under the API root; the answer's JSON (None for a 204)."""
        reply = await exchange(
            session,
            method,
            f"{self.config.base_url}{self.config.api}{path}",
            json=json,
            params=params,
            headers={"Accept": "application/json", "Authorization": self._authorization()},
            seconds=self.config.seconds,
        )
        check(reply, f"Jira {what}", _vendor_message(reply))
        return reply.json()

    # --- the issue -------------------------------------------------------------------------------

    async def _find(self, session: aiohttp.ClientSession, label: str) -> dict[str, str] | None:
        jql = f'project = "{self.config.project}" AND labels = "{label}" ORDER BY created ASC'
        path = "/search/jql" if self.config.deployment == "cloud" else "/search"
        body = {"jql": jql, "fields": ["summary"], "maxResults": 1}
        found = await self._call(session, "POST", path, "search", json=body)
        issues = found.get("issues") if isinstance(found, dict) else None
        if not isinstance(issues, list) or not issues or not isinstance(issues[0], dict):
            return None
        first = issues[0]
        issue_id = str(first.get("id", ""))
        if not issue_id:
            raise PermanentError("Jira search: an issue without an id in the answer")
        return {"issue_id": issue_id, "issue": str(first.get("key") or issue_id)}

    async def _ensure(
        self, request: ActionRequest, session: aiohttp.ClientSession, found: dict[str, str]
    ) -> str:
        """Make sure the refs name the issue: found by its label, else created. Returns what
        was done ("created", "adopted") or "" when the refs already named it."""
        if "issue" in found:
            return ""
        label = issue_label(request.facts.id, self.config.label_prefix)
        existing = await self._find(session, label)
        if existing is not None:
            found.update(existing)
            if request.event is ActionEvent.DECLARED:
                # our own create, whose answer was lost: its description holds the timeline
                found["timeline_seq"] = str(description(request)[1])
            return "adopted"
        fields, last = issue_fields(request, self.config)
        made = await self._call(session, "POST", "/issue", "create issue", json={"fields": fields})
        if not isinstance(made, dict) or not made.get("id"):
            raise PermanentError("Jira create issue: no id in the answer")
        found.update(issue_id=str(made["id"]), issue=str(made.get("key") or made["id"]))
        found["timeline_seq"] = str(last)
        return "created"

    async def _comment(
        self, request: ActionRequest, session: aiohttp.ClientSession, found: dict[str, str]
    ) -> bool:
        """Comment with the timeline entries not written yet; False when there are none (a
        retry after the comment was made)."""
        after = int(found.get("timeline_seq", "-1"))
        sections, last = comment(request, after)
        if last == after:
            return False
        text = to_adf(sections) if self.config.deployment == "cloud" else to_wiki(sections)
        body: dict[str, Any] = {"body": text}
        if self.config.internal_comments:
            body["properties"] = INTERNAL
        await self._call(session, "POST", f"/issue/{found['issue']}/comment", "comment", json=body)
        found["timeline_seq"] = str(last)
        return True

    async def _set_priority(
        self, request: ActionRequest, session: aiohttp.ClientSession, key: str
    ) -> None:
        name = self.config.priority[request.facts.priority]
        body = {"fields": {"priority": {"name": name}}}
        await self._call(session, "PUT", f"/issue/{key}", "edit issue", json=body)

    # --- the workflow ----------------------------------------------------------------------------

    async def _transition(
        self, request: ActionRequest, session: aiohttp.ClientSession, key: str, name: str
    ) -> str:
        offered = await self._call(session, "GET", f"/issue/{key}/transitions", "transitions")
        listed = offered.get("transitions") if isinstance(offered, dict) else None
        choices = [t for t in listed or [] if isinstance(t, dict) and t.get("id")]
        match = next(
            (t for t in choices if str(t.get("name", "")).casefold() == name.casefold()), None
        )
        if match is None:
            return await self._not_offered(request, session, key, name, choices)
        body = {"transition": {"id": str(match["id"])}}
        await self._call(
            session, "POST", f"/issue/{key}/transitions", f"transition {name}", json=body
        )
        return f"moved by {name}"

    async def _not_offered(
        self,
        request: ActionRequest,
        session: aiohttp.ClientSession,
        key: str,
        name: str,
        choices: list[dict[str, Any]],
    ) -> str:
        """The transition is not offered from the issue's status: already done (a retry whose
        answer was lost, or a person moved it in Jira) for a resolve into a done status or a
        reopen out of one; else a configuration the workflow does not have."""
        shown = await self._call(
            session, "GET", f"/issue/{key}", "issue", params={"fields": "status"}
        )
        fields = shown.get("fields") if isinstance(shown, dict) else None
        status = fields.get("status") if isinstance(fields, dict) else None
        status = status if isinstance(status, dict) else {}
        category = (status.get("statusCategory") or {}).get("key")
        where = str(status.get("name") or "?")
        done = category == "done"
        if (request.event is ActionEvent.RESOLVED and done) or (
            request.event is ActionEvent.REOPENED and category and not done
        ):
            return f"already {where}"
        names = ", ".join(str(t.get("name")) for t in choices) or "none"
        raise PermanentError(
            f"Jira: no transition {name!r} from {where!r} on {key} (offered: {names})"
        )

    # --- one attempt -----------------------------------------------------------------------------

    async def _steps(
        self, request: ActionRequest, session: aiohttp.ClientSession, found: dict[str, str]
    ) -> str:
        made = await self._ensure(request, session, found)
        key = found["issue"]
        done = [made] if made else []
        if made != "created":
            if request.event is ActionEvent.ESCALATED:
                await self._set_priority(request, session, key)
                done.append(f"priority {self.config.priority[request.facts.priority]}")
            if await self._comment(request, session, found):
                done.append("commented")
        on = TRANSITION_ON.get(request.event)
        name = self.config.transitions.get(on) if on else None
        if name:
            done.append(await self._transition(request, session, key, name))
        return f"{key}: {', '.join(done) or 'nothing new'}"

    async def send(
        self, request: ActionRequest, session: aiohttp.ClientSession, refs: Mapping[str, str]
    ) -> Outcome:
        if request.event in TEAM_EVENTS:
            return Outcome.nothing(request.event, refs=refs)

        async def steps(found: dict[str, str]) -> str:
            return await self._steps(request, session, found)

        return await attempt(refs, steps, secrets=self._secrets())
