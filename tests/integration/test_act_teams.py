"""Teams target against the fake Workflows webhook: the adaptive card envelope, 202s,
throttling and a URL that is a credential."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from incidentd.act.config import TeamsConfig
from incidentd.act.target import ActionEvent, OutcomeKind
from incidentd.act.targets.teams import TeamsTarget
from incidentd.declare.incident import IncidentStatus
from tests.fakes.base import serve
from tests.fakes.incident import request
from tests.fakes.teams import FakeTeams

SIG = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def fake() -> AsyncIterator[FakeTeams]:
    vendor = FakeTeams(SIG)
    async with serve(vendor):
        yield vendor


def target(url: str) -> TeamsTarget:
    return TeamsTarget("teams", TeamsConfig.model_validate({"type": "teams", "webhook_url": url}))


async def test_a_declaration_posts_an_adaptive_card(
    fake: FakeTeams, session: aiohttp.ClientSession
) -> None:
    outcome = await target(fake.webhook_url()).send(request(), session, {})

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    assert outcome.reason == "card posted (202)"
    card = fake.cards[0]
    assert card["body"][0]["text"] == (
        "INC-1042 declared: Checkout and browse degraded: orders-db failing"
    )
    assert {"title": "Priority", "value": "P1"} in card["body"][1]["facts"]
    assert card["actions"][0] == {
        "type": "Action.OpenUrl",
        "title": "Join bridge",
        "url": "https://zoom.us/j/85746065432",
    }
    assert len(fake.received[0].body) < 28 * 1024
    assert fake.violations == []


async def test_a_resolution_is_a_green_card(
    fake: FakeTeams, session: aiohttp.ClientSession
) -> None:
    done = request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED)
    await target(fake.webhook_url()).send(done, session, {})

    assert fake.cards[0]["body"][0]["color"] == "Good"


async def test_throttling_is_a_retry_and_a_bad_signature_a_failure_that_hides_it(
    fake: FakeTeams, session: aiohttp.ClientSession
) -> None:
    fake.fail_next(1, 429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "2"})
    throttled = await target(fake.webhook_url()).send(request(), session, {})
    wrong = fake.webhook_url().replace(SIG, "WRONGSIGNATUREWRONGSIGNATURE")
    refused = await target(wrong).send(request(), session, {})

    assert (throttled.kind, throttled.retry_after) == (OutcomeKind.RETRY, 2.0)
    assert refused.kind is OutcomeKind.FAILED
    assert "HTTP 401" in refused.reason
    assert "DirectApiAuthorizationRequired" in refused.reason
    assert "WRONGSIGNATURE" not in refused.reason
