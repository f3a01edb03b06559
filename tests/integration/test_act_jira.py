"""Jira Service Management target against the fake Jira over real HTTP: one issue per incident
(found again by its label after a lost answer), comments carrying the timeline once, the
workflow's transitions, Jira's errors and rate limits."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from incidentd.act.config import JiraConfig
from incidentd.act.target import ActionEvent, OutcomeKind
from incidentd.act.targets.jira import JiraTarget
from incidentd.declare.incident import IncidentStatus
from tests.fakes.base import serve
from tests.fakes.incident import request
from tests.fakes.jira import FakeJira, adf_text
from tests.fakes.lifecycle import later

EMAIL, TOKEN = "incidentd@example.com", "ATATT3xFfGF0-fake-api-token-1234"
PAT = "NjQ5NzA2MDM0MzY4OmZha2UtcGVyc29uYWwtYWNjZXNzLXRva2Vu"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def fake() -> AsyncIterator[FakeJira]:
    vendor = FakeJira(email=EMAIL, token=TOKEN)
    async with serve(vendor):
        yield vendor


def target(base_url: str, **overrides: Any) -> JiraTarget:
    config = JiraConfig.model_validate(
        {
            "type": "jira",
            "base_url": base_url,
            "auth": {"type": "basic", "email": EMAIL, "api_token": TOKEN},
            "project": "OPS",
            "labels": ["major-incident"],
            "timeout": "2s",
            **overrides,
        }
    )
    return JiraTarget("jira", config)


def comments(fake: FakeJira) -> list[str]:
    (issue,) = fake.issues.values()
    return [adf_text(c["body"]) for c in issue.comments]


async def test_a_declaration_searches_then_creates_one_issue_in_the_documented_shape(
    fake: FakeJira, session: aiohttp.ClientSession
) -> None:
    outcome = await target(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    assert outcome.reason == "OPS-1: created"
    assert outcome.refs == {"issue": "OPS-1", "issue_id": "10001", "timeline_seq": "5"}
    assert fake.violations == []
    search, create = fake.received
    assert search.path == "/rest/api/3/search/jql"
    assert search.json()["jql"] == (
        'project = "OPS" AND labels = "incidentd-INC-1042" ORDER BY created ASC'
    )
    assert create.path == "/rest/api/3/issue"
    assert (
        create.headers["authorization"]
        == "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
    )
    fields = create.json()["fields"]
    assert fields["project"] == {"key": "OPS"}
    assert fields["issuetype"] == {"name": "[System] Incident"}
    assert fields["summary"] == "INC-1042: Checkout and browse degraded: orders-db failing"
    assert fields["priority"] == {"name": "Highest"}
    assert fields["labels"] == ["incidentd-INC-1042", "major-incident"]
    assert fields["description"]["type"] == "doc"
    text = adf_text(fields["description"])
    assert "impact.criticality +30" in text
    assert "Root causes: orders-db" in text
    assert "declared by incidentd" in text
    links = [
        mark["attrs"]["href"]
        for block in fields["description"]["content"]
        for node in block.get("content", [])
        for mark in node.get("marks", [])
    ]
    assert "https://zoom.us/j/85746065432" in links


async def test_a_lost_create_is_found_by_its_label_not_made_twice(
    fake: FakeJira, session: aiohttp.ClientSession
) -> None:
    jira = target(fake.url)
    await jira.send(request(), session, {})  # its refs are lost
    again = await jira.send(request(), session, {})

    assert again.kind is OutcomeKind.SENT, again.reason
    assert again.reason == "OPS-1: adopted"
    assert again.refs["issue"] == "OPS-1"
    assert again.refs["timeline_seq"] == "5"
    assert len(fake.issues) == 1
    assert comments(fake) == []


async def test_a_create_that_failed_is_retried_without_a_duplicate(
    fake: FakeJira, session: aiohttp.ClientSession
) -> None:
    jira = target(fake.url)
    fake.pass_next(1)  # the search
    fake.fail_next(1, 503, {"errorMessages": ["Service unavailable"]}, {"Retry-After": "7"})
    first = await jira.send(request(), session, {})
    second = await jira.send(request(), session, first.refs)

    assert (first.kind, first.retry_after) == (OutcomeKind.RETRY, 7.0)
    assert "Service unavailable" in first.reason
    assert second.kind is OutcomeKind.SENT
    assert len(fake.issues) == 1


async def test_changes_are_internal_comments_carrying_each_timeline_entry_once(
    fake: FakeJira, session: aiohttp.ClientSession
) -> None:
    jira = target(fake.url)
    refs = (await jira.send(request(), session, {})).refs
    ack = request(ActionEvent.ACKNOWLEDGED, status=IncidentStatus.ACKNOWLEDGED)
    acked = await jira.send(ack, session, refs)
    again = await jira.send(ack, session, acked.refs)  # a retry after a lost outcome

    assert acked.kind is OutcomeKind.SENT, acked.reason
    assert acked.reason == "OPS-1: commented"
    assert acked.refs["timeline_seq"] == "6"
    assert again.reason == "OPS-1: nothing new"
    (note,) = comments(fake)
    assert note.startswith("incidentd: INC-1042 acknowledged (P1, acknowledged)")
    assert "status_changed by alice: from=declared, to=acknowledged, note=db failed over" in note
    assert "alert_attached" not in note
    posted = fake.requests("/rest/api/3/issue/OPS-1/comment")[0].json()
    assert posted["properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]
    assert fake.violations == []


async def test_an_sla_breach_is_a_comment(fake: FakeJira, session: aiohttp.ClientSession) -> None:
    jira = target(fake.url)
    refs = (await jira.send(request(), session, {})).refs
    breached = await jira.send(later(ActionEvent.SLA_BREACHED), session, refs)

    assert breached.kind is OutcomeKind.SENT, breached.reason
    assert breached.reason == "OPS-1: commented"
    (sla,) = comments(fake)
    assert "SLA breached: acknowledge within 5m (due 09:11Z)" in sla
    assert "sla_breached by incidentd: clock=acknowledge" in sla
    (issue,) = fake.issues.values()
    assert issue.status == "Open"


async def test_a_reopen_comments_and_runs_the_reopen_transition(
    fake: FakeJira, session: aiohttp.ClientSession
) -> None:
    jira = target(fake.url, transitions={"resolved": "Resolve", "reopened": "Reopen"})
    refs = (await jira.send(request(), session, {})).refs
    done = request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED)
    resolved = await jira.send(done, session, refs)
    reopened = await jira.send(later(ActionEvent.REOPENED), session, resolved.refs)

    assert reopened.kind is OutcomeKind.SENT, reopened.reason
    assert reopened.reason == "OPS-1: commented, moved by Reopen"
    _, reopen = comments(fake)
    assert reopen.startswith("incidentd: INC-1042 reopened (P1, declared)")
    assert "to=declared, note=orders-db again" in reopen
    (issue,) = fake.issues.values()
    assert issue.history == ["Resolve", "Reopen"]
    assert issue.status == "Open"


async def test_resolution_comments_then_runs_the_configured_transition(
    fake: FakeJira, session: aiohttp.ClientSession
) -> None:
    jira = target(fake.url)
    refs = (await jira.send(request(), session, {})).refs
    done = await jira.send(
        request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED), session, refs
    )

    assert done.kind is OutcomeKind.SENT, done.reason
    assert done.reason == "OPS-1: commented, moved by Resolve"
    (issue,) = fake.issues.values()
    assert issue.status == "Resolved"
    calls = [(r.method, r.path) for r in fake.received[2:]]
    assert calls == [
        ("POST", "/rest/api/3/issue/OPS-1/comment"),
        ("GET", "/rest/api/3/issue/OPS-1/transitions"),
        ("POST", "/rest/api/3/issue/OPS-1/transitions"),
    ]
    assert fake.received[-1].json() == {"transition": {"id": "31"}}
    assert fake.violations == []


async def test_a_resolve_whose_answer_was_lost_is_not_an_error_on_retry(
    fake: FakeJira, session: aiohttp.ClientSession
) -> None:
    jira = target(fake.url)
    refs = (await jira.send(request(), session, {})).refs
    done = request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED)
    first = await jira.send(done, session, refs)
    again = await jira.send(done, session, first.refs)

    assert again.kind is OutcomeKind.SENT, again.reason
    assert again.reason == "OPS-1: already Resolved"
    assert len(comments(fake)) == 1


async def test_a_transition_the_workflow_does_not_offer_fails_naming_the_offered_ones(
    fake: FakeJira, session: aiohttp.ClientSession
) -> None:
    jira = target(fake.url, transitions={"acknowledged": "Start work"})
    refs = (await jira.send(request(), session, {})).refs
    ack = request(ActionEvent.ACKNOWLEDGED, status=IncidentStatus.ACKNOWLEDGED)
    outcome = await jira.send(ack, session, refs)

    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.reason == (
        "Jira: no transition 'Start work' from 'Open' on OPS-1 (offered: Investigate, Resolve)"
    )
    assert outcome.refs["timeline_seq"] == "6"  # the comment is made: not made again


async def test_an_escalation_raises_the_priority(
    fake: FakeJira, session: aiohttp.ClientSession
) -> None:
    jira = target(fake.url, priority={"P1": "High"})
    refs = (await jira.send(request(), session, {})).refs
    escalated = await jira.send(request(ActionEvent.ESCALATED), session, refs)

    assert escalated.kind is OutcomeKind.SENT, escalated.reason
    assert escalated.reason == "OPS-1: priority High"
    edit = fake.requests("/rest/api/3/issue/OPS-1")[-1]
    assert (edit.method, edit.json()) == ("PUT", {"fields": {"priority": {"name": "High"}}})


async def test_a_bad_request_fails_with_jiras_messages(
    fake: FakeJira, session: aiohttp.ClientSession
) -> None:
    jira = target(fake.url, issue_type="Incident")
    outcome = await jira.send(request(), session, {})

    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.reason == "Jira create issue: HTTP 400: issuetype: Specify an issue type"
    assert fake.issues == {}


async def test_refused_credentials_fail_and_are_never_shown(
    fake: FakeJira, session: aiohttp.ClientSession
) -> None:
    wrong = target(fake.url, auth={"type": "basic", "email": EMAIL, "api_token": "not-the-token"})
    refused = await wrong.send(request(), session, {})
    fake.fail_next(1, 403, {"errorMessages": [f"No permission for {TOKEN}"], "errors": {}})
    forbidden = await target(fake.url).send(request(), session, {})

    assert refused.kind is OutcomeKind.FAILED
    assert refused.reason.startswith("Jira search: HTTP 401: You are not authenticated")
    assert "not-the-token" not in refused.reason
    assert forbidden.kind is OutcomeKind.FAILED
    assert forbidden.reason == "Jira search: HTTP 403: No permission for ***"


async def test_a_rate_limit_is_a_retry_after_what_jira_said(
    fake: FakeJira, session: aiohttp.ClientSession
) -> None:
    headers = {"Retry-After": "30", "X-RateLimit-Reset": "2026-03-02T09:07Z"}
    fake.fail_next(1, 429, {"errorMessages": ["Rate limit exceeded."]}, headers)
    outcome = await target(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.retry_after == 30.0
    assert fake.issues == {}


async def test_no_answer_within_the_timeout_keeps_what_was_made(
    fake: FakeJira, session: aiohttp.ClientSession
) -> None:
    jira = target(fake.url, timeout="200ms")
    refs = (await jira.send(request(), session, {})).refs
    fake.delay_next(1.0)
    outcome = await jira.send(
        request(ActionEvent.ACKNOWLEDGED, status=IncidentStatus.ACKNOWLEDGED), session, refs
    )

    assert outcome.kind is OutcomeKind.RETRY
    assert "no answer within 0.2s" in outcome.reason
    assert outcome.refs == refs


async def test_a_reminder_sends_nothing(fake: FakeJira, session: aiohttp.ClientSession) -> None:
    refs = {"issue": "OPS-1", "issue_id": "10001", "timeline_seq": "5"}
    outcome = await target(fake.url).send(later(ActionEvent.REMINDER), session, refs)

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.reason == "nothing to send for reminder"
    assert fake.received == []


async def test_data_center_speaks_api_v2_with_a_personal_access_token(
    session: aiohttp.ClientSession,
) -> None:
    fake = FakeJira(bearer=PAT, api="2")
    async with serve(fake):
        jira = target(fake.url, deployment="datacenter", auth={"type": "bearer", "token": PAT})
        made = await jira.send(request(), session, {})
        done = await jira.send(
            request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED), session, made.refs
        )

    assert (made.kind, done.kind) == (OutcomeKind.SENT, OutcomeKind.SENT), done.reason
    assert [r.path for r in fake.received[:2]] == ["/rest/api/2/search", "/rest/api/2/issue"]
    assert fake.received[1].headers["authorization"] == f"Bearer {PAT}"
    (issue,) = fake.issues.values()
    assert isinstance(issue.fields["description"], str)
    assert "[Incident bridge|https://zoom.us/j/85746065432]" in issue.fields["description"]
    assert issue.comments[0]["body"].startswith("incidentd: INC-1042 resolved")
    assert issue.status == "Resolved"
    assert fake.violations == []
