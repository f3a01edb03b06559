"""Opsgenie target against the fake Alert API: asynchronous 202s confirmed through the
request-status endpoint in a separate attempt, dedup by alias, documented errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from incidentd.act.config import OpsgenieConfig
from incidentd.act.target import ActionEvent, ActionRequest, Outcome, OutcomeKind
from incidentd.act.targets.opsgenie import OpsgenieTarget
from incidentd.declare.incident import IncidentStatus
from tests.fakes.base import serve
from tests.fakes.incident import request
from tests.fakes.lifecycle import PEOPLE, later
from tests.fakes.opsgenie import FakeOpsgenie

KEY = "eb243592-faa2-4ba2-a551q-1afdf565c889"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpsgenie]:
    vendor = FakeOpsgenie(KEY)
    async with serve(vendor):
        yield vendor


def target(base_url: str, key: str = KEY) -> OpsgenieTarget:
    config = OpsgenieConfig.model_validate(
        {
            "type": "opsgenie",
            "api_key": key,
            "base_url": base_url,
            "responders": [{"type": "team", "name": "orders-oncall"}],
            "confirm_after": "3s",
        }
    )
    return OpsgenieTarget("opsgenie", config)


async def settled(
    og: OpsgenieTarget,
    fake: FakeOpsgenie,
    session: aiohttp.ClientSession,
    action: ActionRequest,
    refs: dict[str, str],
) -> tuple[Outcome, Outcome]:
    """Submit, let Opsgenie process, confirm: the two attempts the outbox would make."""
    submitted = await og.send(action, session, refs)
    fake.process()
    return submitted, await og.send(action, session, submitted.refs)


async def test_a_declaration_is_confirmed_by_a_second_attempt(
    fake: FakeOpsgenie, session: aiohttp.ClientSession
) -> None:
    og = target(fake.url)
    action = request()
    submitted, confirmed = await settled(og, fake, session, action, {})

    assert submitted.kind is OutcomeKind.RETRY
    assert submitted.retry_after == 3.0
    assert "confirming" in submitted.reason
    assert f"pending:{action.key}" in submitted.refs
    assert confirmed.kind is OutcomeKind.SENT, confirmed.reason
    assert confirmed.reason == "Opsgenie declared: Created alert"
    assert f"pending:{action.key}" not in confirmed.refs
    assert confirmed.refs["alert_id"] == fake.alerts[0].id
    assert [r.method for r in fake.received] == ["POST", "GET"]
    body = fake.received[0].json()
    assert body["alias"] == "INC-1042"
    assert body["priority"] == "P1"
    assert len(body["message"]) <= 130
    assert body["responders"] == [{"type": "team", "name": "orders-oncall"}]
    assert fake.violations == []


async def test_a_request_not_processed_yet_is_asked_again_not_resent(
    fake: FakeOpsgenie, session: aiohttp.ClientSession
) -> None:
    og = target(fake.url)
    submitted = await og.send(request(), session, {})
    waiting = await og.send(request(), session, submitted.refs)

    assert waiting.kind is OutcomeKind.RETRY
    assert "not processed" in waiting.reason
    assert waiting.refs == submitted.refs
    assert [r.method for r in fake.received] == ["POST", "GET"]


async def test_a_create_resent_after_a_lost_record_dedups_on_the_alias(
    fake: FakeOpsgenie, session: aiohttp.ClientSession
) -> None:
    """A crash between the 202 and storing its refs: the create is sent again; Opsgenie
    counts it on the open alert instead of paging twice."""
    og = target(fake.url)
    await og.send(request(), session, {})
    await settled(og, fake, session, request(), {})

    assert len(fake.alerts) == 1
    assert fake.alerts[0].count == 2


async def test_acknowledge_and_close_go_by_alias(
    fake: FakeOpsgenie, session: aiohttp.ClientSession
) -> None:
    og = target(fake.url)
    _, made = await settled(og, fake, session, request(), {})
    ack = request(ActionEvent.ACKNOWLEDGED, status=IncidentStatus.ACKNOWLEDGED)
    _, acked = await settled(og, fake, session, ack, dict(made.refs))
    close = request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED)
    _, closed = await settled(og, fake, session, close, dict(acked.refs))

    assert (acked.kind, closed.kind) == (OutcomeKind.SENT, OutcomeKind.SENT)
    assert fake.alerts[0].acknowledged
    assert fake.alerts[0].status == "closed"
    paths = [r.path for r in fake.received if r.method == "POST"]
    assert paths == ["/v2/alerts", "/v2/alerts/INC-1042/acknowledge", "/v2/alerts/INC-1042/close"]
    assert fake.violations == []


async def test_closing_an_alert_that_does_not_exist_fails_with_opsgenies_status(
    fake: FakeOpsgenie, session: aiohttp.ClientSession
) -> None:
    close = request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED)
    _, confirmed = await settled(target(fake.url), fake, session, close, {})

    assert confirmed.kind is OutcomeKind.FAILED
    assert "Alert does not exist" in confirmed.reason
    assert not any(k.startswith("pending:") for k in confirmed.refs)


async def test_an_unprocessable_body_fails_with_opsgenies_message(
    fake: FakeOpsgenie, session: aiohttp.ClientSession
) -> None:
    said = {
        "message": "Request body is not processable. Please check the errors.",
        "errors": {"message": "Message can not be empty."},
        "took": 0.0,
    }
    fake.fail_next(1, 422, said)
    outcome = await target(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.FAILED
    assert "HTTP 422" in outcome.reason
    assert "Message can not be empty." in outcome.reason


async def test_throttling_is_a_retry(fake: FakeOpsgenie, session: aiohttp.ClientSession) -> None:
    fake.fail_next(1, 429, {"message": "Too many requests", "took": 0.0})
    outcome = await target(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.refs == {}


async def test_a_wrong_key_fails_and_is_not_shown(
    fake: FakeOpsgenie, session: aiohttp.ClientSession
) -> None:
    outcome = await target(fake.url, key="not-the-key").send(request(), session, {})

    assert outcome.kind is OutcomeKind.FAILED
    assert "HTTP 401" in outcome.reason
    assert "not-the-key" not in outcome.reason


async def test_people_with_an_opsgenie_username_join_the_configured_responders(
    fake: FakeOpsgenie, session: aiohttp.ClientSession
) -> None:
    await target(fake.url).send(later(ActionEvent.DECLARED, people=PEOPLE), session, {})

    body = fake.received[0].json()
    assert body["responders"] == [
        {"type": "team", "name": "orders-oncall"},
        {"type": "user", "username": "alice@example.com"},
        {"type": "user", "username": "carol@example.com"},
    ]
    assert fake.violations == []


async def test_a_person_already_configured_is_not_a_responder_twice(
    fake: FakeOpsgenie, session: aiohttp.ClientSession
) -> None:
    config = OpsgenieConfig.model_validate(
        {
            "type": "opsgenie",
            "api_key": KEY,
            "base_url": fake.url,
            "responders": [{"type": "user", "username": "alice@example.com"}],
        }
    )
    await OpsgenieTarget("og", config).send(later(ActionEvent.DECLARED, people=PEOPLE), session, {})

    usernames = [r["username"] for r in fake.received[0].json()["responders"]]
    assert usernames == ["alice@example.com", "carol@example.com"]


async def test_a_reopened_incident_creates_the_alert_again(
    fake: FakeOpsgenie, session: aiohttp.ClientSession
) -> None:
    og = target(fake.url)
    _, made = await settled(og, fake, session, request(), {})
    close = request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED)
    _, closed = await settled(og, fake, session, close, dict(made.refs))
    reopen = later(ActionEvent.REOPENED, people=PEOPLE)
    _, reopened = await settled(og, fake, session, reopen, dict(closed.refs))

    assert reopened.kind is OutcomeKind.SENT, reopened.reason
    assert reopened.reason == "Opsgenie reopened: Created alert"
    assert [a.status for a in fake.alerts] == ["closed", "open"]
    assert reopened.refs["alert_id"] == fake.alerts[1].id
    posts = [r.path for r in fake.received if r.method == "POST"]
    assert posts == ["/v2/alerts", "/v2/alerts/INC-1042/close", "/v2/alerts"]
    assert {"type": "user", "username": "carol@example.com"} in fake.received[-2].json()[
        "responders"
    ]
    assert fake.violations == []


async def test_an_sla_breach_is_a_note_on_the_alert(
    fake: FakeOpsgenie, session: aiohttp.ClientSession
) -> None:
    og = target(fake.url)
    _, made = await settled(og, fake, session, request(), {})
    _, noted = await settled(og, fake, session, later(ActionEvent.SLA_BREACHED), dict(made.refs))

    assert noted.kind is OutcomeKind.SENT, noted.reason
    assert fake.alerts[0].notes == ["INC-1042: SLA breached: acknowledge within 5m (due 09:11Z)"]
    assert fake.received[-2].path == "/v2/alerts/INC-1042/notes"


async def test_a_reminder_sends_nothing(fake: FakeOpsgenie, session: aiohttp.ClientSession) -> None:
    refs = {"alert_id": "x"}
    outcome = await target(fake.url).send(later(ActionEvent.REMINDER), session, refs)

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.reason == "nothing to send for reminder"
    assert outcome.refs == refs
    assert fake.received == []
