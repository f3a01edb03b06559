"""Datadog target through the real datadog-api-client against the fake Events API."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from incidentd.act.config import DatadogConfig
from incidentd.act.target import ActionEvent, OutcomeKind
from incidentd.act.targets.datadog import DatadogTarget
from incidentd.declare.incident import IncidentStatus
from tests.fakes.base import serve
from tests.fakes.datadog import FakeDatadog
from tests.fakes.incident import request
from tests.fakes.lifecycle import later

API_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def fake() -> AsyncIterator[FakeDatadog]:
    vendor = FakeDatadog(API_KEY)
    async with serve(vendor):
        yield vendor


def target(base_url: str, timeout: str = "2s") -> DatadogTarget:
    config = DatadogConfig.model_validate(
        {
            "type": "datadog",
            "api_key": API_KEY,
            "base_url": base_url,
            "timeout": timeout,
            "tags": ["env:prod"],
        }
    )
    return DatadogTarget("datadog", config)


async def test_each_change_posts_an_event_aggregated_by_incident(
    fake: FakeDatadog, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_SITE", "datadoghq.eu")  # must not redirect the events
    dd = target(fake.url)
    declared = await dd.send(request(), session, {})
    resolved = await dd.send(
        request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED), session, {}
    )

    assert declared.kind is OutcomeKind.SENT, declared.reason
    assert declared.reason.startswith("event 7000000000000000001 posted")
    assert resolved.kind is OutcomeKind.SENT
    first, last = fake.events
    assert first["title"] == (
        "[P1] INC-1042 declared: Checkout and browse degraded: orders-db failing"
    )
    assert first["alert_type"] == "error"
    assert last["alert_type"] == "success"
    assert {e["aggregation_key"] for e in fake.events} == {"INC-1042"}
    assert first["text"].startswith("%%% \n")
    assert first["text"].endswith("\n %%%")
    assert {"source:incidentd", "incident:inc-1042", "priority:p1", "env:prod"} <= set(
        first["tags"]
    )
    assert fake.requests()[0].headers["dd-api-key"] == API_KEY
    assert fake.violations == []


async def test_a_rate_limit_waits_for_datadogs_reset(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    limits = {"X-RateLimit-Limit": "1000", "X-RateLimit-Period": "60", "X-RateLimit-Reset": "17"}
    fake.fail_next(1, 429, {"errors": ["Too many requests"]}, limits)
    outcome = await target(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.retry_after == 17.0
    assert len(fake.requests()) == 1  # the client's own retries are off


async def test_a_rejected_event_fails_with_datadogs_errors(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    fake.fail_next(1, 400, {"errors": ["Event text is invalid"]})
    rejected = await target(fake.url).send(request(), session, {})
    fake.fail_next(1, 502, "bad gateway")
    unavailable = await target(fake.url).send(request(), session, {})

    assert rejected.kind is OutcomeKind.FAILED
    assert rejected.reason == "Datadog event: HTTP 400: Event text is invalid"
    assert unavailable.kind is OutcomeKind.RETRY


async def test_no_answer_and_no_server_are_retries(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    fake.delay_next(2.0)
    slow = await target(fake.url, timeout="300ms").send(request(), session, {})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = await target(f"http://127.0.0.1:{port}").send(request(), session, {})

    assert slow.kind is OutcomeKind.RETRY
    assert down.kind is OutcomeKind.RETRY
    assert "127.0.0.1" in down.reason
    assert API_KEY not in slow.reason + down.reason


async def test_reopened_and_sla_breaches_post_events(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    dd = target(fake.url)
    reopened = await dd.send(later(ActionEvent.REOPENED), session, {})
    breached = await dd.send(later(ActionEvent.SLA_BREACHED), session, {})

    assert (reopened.kind, breached.kind) == (OutcomeKind.SENT, OutcomeKind.SENT)
    first, second = fake.events
    assert first["title"].startswith("[P1] INC-1042 reopened: ")
    assert first["alert_type"] == "error"
    assert second["title"].startswith("[P1] INC-1042 sla_breached: ")
    assert second["alert_type"] == "warning"
    assert "SLA breached: acknowledge within 5m (due 09:11Z)" in second["text"]
    assert {e["aggregation_key"] for e in fake.events} == {"INC-1042"}
    assert fake.violations == []


async def test_a_reminder_posts_nothing(fake: FakeDatadog, session: aiohttp.ClientSession) -> None:
    outcome = await target(fake.url).send(later(ActionEvent.REMINDER), session, {})

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.reason == "nothing to send for reminder"
    assert fake.received == []
