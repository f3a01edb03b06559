"""The ITSM record: a ServiceNow incident created on declaration and updated on every change,
its work notes carrying the incident's timeline so that both tools tell the same story.

Documented behaviour this module relies on (ServiceNow "Table API": POST, GET and PATCH
`/api/now/table/{tableName}`):

- Create answers 201 `{"result": {...}}` with the record's `sys_id` and `number`; GET with
  `sysparm_query`, `sysparm_fields`, `sysparm_limit` answers `{"result": [...]}`; PATCH
  `/{sys_id}` updates the given fields. `work_notes` is a journal field: each write appends.
- Errors are `{"error": {"message", "detail"}, "status": "failure"}`; 401/403/404/400 are
  permanent, 429 (instance rate-limit rules, with Retry-After) and 5xx are retried.
- The Table API has no idempotency key: a create whose answer was lost would be made twice
  on retry. So every record carries `correlation_id` = the incident id, and before creating,
  an attempt looks the id up and adopts a record it finds. `sys_id` is kept in the refs, and
  `timeline_seq`: the last timeline entry already written, so that each entry is written once.
- Priority is derived by the instance from impact x urgency (1 high .. 3 low); ours map to
  the pairs of the default priority lookup (P1 = 1/1, P2 = 1/2, P3 = 2/2, P4 = 2/3, P5 = 3/3).

A reopened incident sets `reopen_fields` (state 2, In Progress: a resolved record can go back;
a closed one, state 7, cannot); an SLA breach is a work note only; a reminder and an overdue
follow-up write nothing (their entries go with the next note). Jira Service Management is `jira.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from incidentd.act.config import ServiceNowBasic, ServiceNowConfig
from incidentd.act.http import Reply, attempt, basic_auth, check, exchange
from incidentd.act.target import TEAM_EVENTS, ActionEvent, ActionRequest, Outcome
from incidentd.errors import PermanentError
from incidentd.model import Priority

SHORT_LIMIT = 160
NOTES_ENTRIES = 50
IMPACT_URGENCY: Mapping[Priority, tuple[str, str]] = {
    Priority.P1: ("1", "1"),
    Priority.P2: ("1", "2"),
    Priority.P3: ("2", "2"),
    Priority.P4: ("2", "3"),
    Priority.P5: ("3", "3"),
}


def work_notes(request: ActionRequest, after: int) -> tuple[str, int]:
    """The note for this event: a headline, then the timeline entries after seq `after`
    (the last NOTES_ENTRIES of them). Returns the note and the last seq written."""
    facts = request.facts
    lines = [f"incidentd: {facts.id} {request.event.value} ({facts.priority}, {facts.status})"]
    if request.event is ActionEvent.SLA_BREACHED and facts.breach_summary():
        lines.append(facts.breach_summary())
    if request.note:
        lines.append(request.note)
    if request.bridge_url:
        lines.append(f"Bridge: {request.bridge_url}")
    new = [e for e in facts.timeline if e.seq > after]
    if len(new) > NOTES_ENTRIES:
        lines.append(f"({len(new) - NOTES_ENTRIES} earlier entries are in incidentd)")
    lines += [e.line() for e in new[-NOTES_ENTRIES:]]
    last = max((e.seq for e in new), default=after)
    return "\n".join(lines), last


def record(request: ActionRequest, config: ServiceNowConfig) -> dict[str, str]:
    facts = request.facts
    impact, urgency = IMPACT_URGENCY[facts.priority]
    description = [facts.title, "", facts.score.summary, *facts.score.explanation()]
    description += ["", "Services: " + (", ".join(facts.services) or "none mapped")]
    description += [f"{link.text or 'Link'}: {link.href}" for link in request.links]
    short = f"{facts.id}: {facts.title}"
    return {
        "short_description": short[:SHORT_LIMIT],
        "description": "\n".join(description),
        "impact": impact,
        "urgency": urgency,
        "correlation_id": facts.id,
        "correlation_display": "incidentd",
        **config.fields,
    }


def changes(request: ActionRequest, config: ServiceNowConfig) -> dict[str, str]:
    """The fields an event changes, beside its work note."""
    facts = request.facts
    if request.event is ActionEvent.ESCALATED:
        impact, urgency = IMPACT_URGENCY[facts.priority]
        return {"impact": impact, "urgency": urgency}
    if request.event is ActionEvent.ACKNOWLEDGED:
        return dict(config.acknowledge_fields)
    if request.event is ActionEvent.REOPENED:
        return dict(config.reopen_fields)
    if request.event is ActionEvent.RESOLVED:
        return {"close_notes": f"Resolved in incidentd: {facts.title}", **config.resolve_fields}
    return {}


def _vendor_message(reply: Reply) -> str:
    body = reply.json()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    return ": ".join(str(error[k]) for k in ("message", "detail") if error.get(k))


class ServiceNowTarget:
    def __init__(self, name: str, config: ServiceNowConfig) -> None:
        self.name = name
        self.config = config

    def _headers(self) -> dict[str, str]:
        auth = self.config.auth
        if isinstance(auth, ServiceNowBasic):
            given = basic_auth(auth.username, auth.password.get_secret_value())
        else:
            given = f"Bearer {auth.token.get_secret_value()}"
        return {"Accept": "application/json", "Authorization": given}

    async def _call(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        *,
        params: dict[str, str],
        json: Any = None,
    ) -> Any:
        reply = await exchange(
            session,
            method,
            f"{self.config.base_url}/api/now/table/{self.config.table}{path}",
            params=params,
            json=json,
            headers=self._headers(),
            seconds=self.config.seconds,
        )
        check(reply, f"ServiceNow {method} {self.config.table}", _vendor_message(reply))
        body = reply.json()
        result = body.get("result") if isinstance(body, dict) else None
        if result is None:
            raise PermanentError(f"ServiceNow {method}: no result in the answer")
        return result

    async def _find(
        self, session: aiohttp.ClientSession, incident_id: str
    ) -> dict[str, Any] | None:
        params = {
            "sysparm_query": f"correlation_id={incident_id}",
            "sysparm_fields": "sys_id,number",
            "sysparm_limit": "1",
        }
        found = await self._call(session, "GET", "", params=params)
        return (
            found[0] if isinstance(found, list) and found and isinstance(found[0], dict) else None
        )

    async def _steps(
        self, request: ActionRequest, session: aiohttp.ClientSession, found: dict[str, str]
    ) -> str:
        fields = {"sysparm_fields": "sys_id,number"}
        after = int(found.get("timeline_seq", "-1"))
        note, last = work_notes(request, after)
        if "sys_id" not in found:
            existing = await self._find(session, request.facts.id)
            if existing is None:
                body = {**record(request, self.config), **changes(request, self.config)}
                made = await self._call(
                    session, "POST", "", params=fields, json={**body, "work_notes": note}
                )
                found.update(sys_id=str(made["sys_id"]), number=str(made.get("number", "")))
                found["timeline_seq"] = str(last)
                return f"created {found['number'] or found['sys_id']}"
            found.update(sys_id=str(existing["sys_id"]), number=str(existing.get("number", "")))
            if request.event is ActionEvent.DECLARED:
                # our own create, whose answer was lost: it already holds this note
                found["timeline_seq"] = str(last)
                return f"adopted {found['number'] or found['sys_id']}"
        body = {**changes(request, self.config), "work_notes": note}
        await self._call(session, "PATCH", f"/{found['sys_id']}", params=fields, json=body)
        found["timeline_seq"] = str(last)
        return f"updated {found.get('number') or found['sys_id']}"

    async def send(
        self, request: ActionRequest, session: aiohttp.ClientSession, refs: Mapping[str, str]
    ) -> Outcome:
        if request.event in TEAM_EVENTS:
            return Outcome.nothing(request.event, refs=refs)

        async def steps(found: dict[str, str]) -> str:
            return await self._steps(request, session, found)

        return await attempt(refs, steps, secrets=self.config.auth.secrets())
