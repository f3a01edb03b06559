"""PagerDuty target against the fake Events API v2, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from incidentd.act.config import PagerDutyConfig
from incidentd.act.target import ActionEvent, OutcomeKind
from incidentd.act.targets.pagerduty import PagerDutyTarget
from incidentd.declare.incident import IncidentStatus
from tests.fakes.base import serve
from tests.fakes.incident import request
from tests.fakes.lifecycle import later
from tests.fakes.pagerduty import FakePagerDuty

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def fake() -> AsyncIterator[FakePagerDuty]:
    vendor = FakePagerDuty()
    async with serve(vendor):
        yield vendor


def target(base_url: str, timeout: str = "2s") -> PagerDutyTarget:
    config = PagerDutyConfig.model_validate(
        {"type": "pagerduty", "routing_key": ROUTING_KEY, "base_url": base_url, "timeout": timeout}
    )
    return PagerDutyTarget("pagerduty", config)


async def test_declaration_triggers_one_alert_in_the_documented_shape(
    fake: FakePagerDuty, session: aiohttp.ClientSession
) -> None:
    outcome = await target(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    assert outcome.refs == {"dedup_key": "INC-1042"}
    assert fake.violations == []
    body = fake.requests("/v2/enqueue")[0].json()
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == "INC-1042"
    payload = body["payload"]
    assert payload["severity"] == "critical"
    assert payload["summary"] == "[P1] INC-1042: Checkout and browse degraded: orders-db failing"
    assert payload["component"] == "orders-db"
    assert payload["group"] == "checkout"
    assert payload["custom_details"]["why"][0].startswith("impact.criticality +30")
    assert payload["custom_details"]["bridge"] == "https://zoom.us/j/85746065432"
    assert {"href": "https://zoom.us/j/85746065432", "text": "Incident bridge"} in body["links"]
    assert [a.status for a in fake.alerts] == ["triggered"]


async def test_a_retried_trigger_lands_on_the_same_alert(
    fake: FakePagerDuty, session: aiohttp.ClientSession
) -> None:
    pd = target(fake.url)
    fake.fail_next(1, 500, {"status": "error"})
    first = await pd.send(request(), session, {})
    second = await pd.send(request(), session, first.refs)

    assert first.kind is OutcomeKind.RETRY
    assert "HTTP 500" in first.reason
    assert second.kind is OutcomeKind.SENT
    keys = {r.json()["dedup_key"] for r in fake.requests("/v2/enqueue")}
    assert keys == {"INC-1042"}
    assert len(fake.alerts) == 1


async def test_rate_limit_is_a_retry_after_what_pagerduty_said(
    fake: FakePagerDuty, session: aiohttp.ClientSession
) -> None:
    fake.fail_next(1, 429, "Request Limit Exceeded", {"Retry-After": "30"})
    outcome = await target(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.retry_after == 30.0
    assert fake.alerts == []


async def test_an_invalid_event_fails_with_pagerdutys_errors(
    fake: FakePagerDuty, session: aiohttp.ClientSession
) -> None:
    errors = ["'payload.source' is missing or blank"]
    fake.fail_next(
        1, 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    )
    outcome = await target(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.FAILED
    assert "Event object is invalid" in outcome.reason
    assert "'payload.source' is missing or blank" in outcome.reason


async def test_no_answer_within_the_timeout_is_a_retry(
    fake: FakePagerDuty, session: aiohttp.ClientSession
) -> None:
    fake.delay_next(1.0)
    outcome = await target(fake.url, timeout="200ms").send(request(), session, {})

    assert outcome.kind is OutcomeKind.RETRY
    assert "no answer within 0.2s" in outcome.reason
    assert outcome.retry_after is None


async def test_a_refused_connection_is_a_retry(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = await target(f"http://127.0.0.1:{port}").send(request(), session, {})

    assert outcome.kind is OutcomeKind.RETRY
    assert "127.0.0.1" in outcome.reason


async def test_acknowledge_and_resolve_follow_the_trigger_with_its_key(
    fake: FakePagerDuty, session: aiohttp.ClientSession
) -> None:
    pd = target(fake.url)
    refs = (await pd.send(request(), session, {})).refs
    ack = await pd.send(
        request(ActionEvent.ACKNOWLEDGED, status=IncidentStatus.ACKNOWLEDGED), session, refs
    )
    assert fake.alerts[0].status == "acknowledged"
    done = await pd.send(
        request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED), session, refs
    )

    assert (ack.kind, done.kind) == (OutcomeKind.SENT, OutcomeKind.SENT)
    assert fake.alerts[0].status == "resolved"
    last = fake.requests("/v2/enqueue")[-1].json()
    assert last == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "INC-1042"}
    assert fake.violations == []


async def test_mitigated_sends_nothing(fake: FakePagerDuty, session: aiohttp.ClientSession) -> None:
    refs = {"dedup_key": "INC-1042"}
    outcome = await target(fake.url).send(
        request(ActionEvent.MITIGATED, status=IncidentStatus.MITIGATED), session, refs
    )

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.refs == refs
    assert fake.received == []


async def test_a_routing_key_echoed_by_the_vendor_is_masked_in_the_reason(
    fake: FakePagerDuty, session: aiohttp.ClientSession
) -> None:
    echoed = {"status": "invalid event", "message": "bad", "errors": [f"unknown {ROUTING_KEY}"]}
    fake.fail_next(1, 400, echoed)
    outcome = await target(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.FAILED
    assert ROUTING_KEY not in outcome.reason
    assert "unknown ***" in outcome.reason


async def test_a_reopened_incident_triggers_a_new_alert_after_the_resolve(
    fake: FakePagerDuty, session: aiohttp.ClientSession
) -> None:
    """PagerDuty: after a resolve, a trigger with the same dedup_key opens a new alert."""
    pd = target(fake.url)
    refs = (await pd.send(request(), session, {})).refs
    await pd.send(request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED), session, refs)
    again = await pd.send(later(ActionEvent.REOPENED), session, refs)

    assert again.kind is OutcomeKind.SENT, again.reason
    assert again.refs == {"dedup_key": "INC-1042"}
    last = fake.requests("/v2/enqueue")[-1].json()
    assert (last["event_action"], last["dedup_key"]) == ("trigger", "INC-1042")
    assert [a.status for a in fake.alerts] == ["resolved", "triggered"]
    assert fake.violations == []


@pytest.mark.parametrize("event", [ActionEvent.SLA_BREACHED, ActionEvent.REMINDER])
async def test_sla_breaches_and_reminders_send_nothing(
    event: ActionEvent, fake: FakePagerDuty, session: aiohttp.ClientSession
) -> None:
    refs = {"dedup_key": "INC-1042"}
    outcome = await target(fake.url).send(later(event), session, refs)

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.reason == f"nothing to send for {event}"
    assert outcome.refs == refs
    assert fake.received == []
