"""Teams target against the fake Workflows webhook: the adaptive card envelope, 202s,
throttling and a URL that is a credential."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from incidentd.act.config import TeamsConfig
from incidentd.act.target import ActionEvent, OutcomeKind, Person
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


def target(url: str, **more: object) -> TeamsTarget:
    config = TeamsConfig.model_validate({"type": "teams", "webhook_url": url, **more})
    return TeamsTarget("teams", config)


def texts(card: dict[str, Any]) -> list[str]:
    return [block["text"] for block in card["body"] if block["type"] == "TextBlock"]


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
    body = texts(card)[1]
    assert body.startswith("A P1 major incident was declared at 09:06 UTC.")
    assert "\n\n**Impacted capabilities:** checkout, browse\n\n" in body
    assert "**Revenue at stake:** about 5,200 a minute" in body
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


async def test_reminders_breaches_and_reopenings_are_cards_too(
    fake: FakeTeams, session: aiohttp.ClientSession
) -> None:
    teams = target(fake.webhook_url())
    people = (Person("carol", slack="U0COMMANDER"),)
    for event in (ActionEvent.SLA_BREACHED, ActionEvent.REOPENED, ActionEvent.REMINDER):
        action = request(event, sla="acknowledge", commander="carol", people=people)
        outcome = await teams.send(action, session, {})
        assert outcome.kind is OutcomeKind.SENT, outcome.reason

    titles = [(c["body"][0]["text"].split(":")[0], c["body"][0]["color"]) for c in fake.cards]
    assert titles == [
        ("INC-1042 SLA breached", "Warning"),
        ("INC-1042 reopened", "Attention"),
        ("INC-1042 status update due", "Accent"),
    ]
    assert texts(fake.cards[0])[1].startswith("The response target (15m) for a P1 incident")
    assert "from the incident commander (carol)" in texts(fake.cards[2])[1]
    assert "<@" not in str(fake.cards)
    assert fake.violations == []


async def test_the_responders_card_lists_the_explanation_as_one_list(
    fake: FakeTeams, session: aiohttp.ClientSession
) -> None:
    await target(fake.webhook_url(), audience="responders").send(request(), session, {})

    lists = [t for t in texts(fake.cards[0]) if t.startswith("- ")]
    assert len(lists) == 1
    assert lists[0].count("\r- ") == 7
    assert fake.violations == []


async def test_an_executive_card_is_its_title_and_one_line(
    fake: FakeTeams, session: aiohttp.ClientSession
) -> None:
    await target(fake.webhook_url(), audience="executives").send(request(), session, {})

    assert texts(fake.cards[0]) == [
        "INC-1042 declared: Checkout and browse degraded: orders-db failing",
        "P1 major incident: checkout, browse impaired for customers; at stake a minute: "
        "5,200 revenue, 9,400 users.",
    ]
