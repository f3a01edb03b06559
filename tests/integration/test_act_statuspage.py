"""Statuspage target against the fake Statuspage API over real HTTP: a public incident for the
big incidents only (found again by its metadata after a lost answer), moved through the
public statuses, components down and back, Statuspage's 420 and its errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from incidentd.act.config import StatuspageConfig
from incidentd.act.target import ActionEvent, ActionRequest, OutcomeKind
from incidentd.act.targets.statuspage import StatuspageTarget
from incidentd.declare.incident import IncidentStatus
from tests.fakes.base import serve
from tests.fakes.incident import request
from tests.fakes.lifecycle import later
from tests.fakes.statuspage import FakeStatuspage

API_KEY = "a3f9b2c1-7d4e-4f6a-9b8c-0d1e2f3a4b5c"
PAGE = "kctbh9vrtdwd"
CHECKOUT, API = "8kbf7d35c070", "vtnh60py4yd7"
COMPONENTS = {CHECKOUT: "Checkout", API: "Public API", "b13yz5g2cw10": "Search"}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def fake() -> AsyncIterator[FakeStatuspage]:
    vendor = FakeStatuspage(API_KEY, PAGE, COMPONENTS)
    async with serve(vendor):
        yield vendor


def target(base_url: str, **overrides: Any) -> StatuspageTarget:
    config = StatuspageConfig.model_validate(
        {
            "type": "statuspage",
            "api_key": API_KEY,
            "page_id": PAGE,
            "base_url": base_url,
            "components": {"checkout": CHECKOUT, "api-gateway": API},
            "timeout": "2s",
            **overrides,
        }
    )
    return StatuspageTarget("statuspage", config)


def at_priority(action: ActionRequest, priority: str) -> ActionRequest:
    return replace(action, incident={**action.incident, "priority": priority})


async def test_a_p1_declaration_opens_a_public_incident_in_the_documented_shape(
    fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    outcome = await target(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    assert outcome.reason == "created incident p31zjtct0001 (investigating)"
    assert outcome.refs == {"incident_id": "p31zjtct0001"}
    assert fake.violations == []
    lookup, create = fake.received
    assert (lookup.method, lookup.path) == ("GET", f"/v1/pages/{PAGE}/incidents/unresolved")
    assert create.headers["authorization"] == f"OAuth {API_KEY}"
    assert create.json() == {
        "incident": {
            "name": "Degraded service: checkout, browse",
            "status": "investigating",
            "body": "We are investigating degraded service affecting checkout, browse.",
            "impact_override": "critical",
            "deliver_notifications": True,
            "metadata": {"incidentd": {"incident": "INC-1042"}},
            "component_ids": [API, CHECKOUT],
            "components": {API: "major_outage", CHECKOUT: "major_outage"},
        }
    }
    assert fake.component_status == {
        CHECKOUT: "major_outage",
        API: "major_outage",
        "b13yz5g2cw10": "operational",
    }


async def test_the_public_text_never_shows_the_internal_title(
    fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    await target(fake.url).send(request(), session, {})

    sent = fake.received[-1].body.decode()
    assert "orders-db" not in sent
    assert "score" not in sent


async def test_a_lost_create_is_found_by_its_metadata_not_made_twice(
    fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    page = target(fake.url)
    await page.send(request(), session, {})  # its refs are lost
    again = await page.send(request(), session, {})

    assert again.kind is OutcomeKind.SENT
    assert again.reason == "adopted incident p31zjtct0001"
    assert len(fake.incidents) == 1


async def test_a_create_that_failed_is_retried_without_a_duplicate(
    fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    page = target(fake.url)
    fake.pass_next(1)  # the lookup
    fake.fail_next(1, 500, {"message": "Internal Server Error"})
    first = await page.send(request(), session, {})
    second = await page.send(request(), session, first.refs)

    assert first.kind is OutcomeKind.RETRY
    assert first.reason == "Statuspage create incident: HTTP 500: Internal Server Error"
    assert second.kind is OutcomeKind.SENT
    assert len(fake.incidents) == 1


async def test_the_public_status_follows_the_incident_and_components_recover(
    fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    page = target(fake.url)
    refs = (await page.send(request(), session, {})).refs
    for event, status in [
        (ActionEvent.ACKNOWLEDGED, IncidentStatus.ACKNOWLEDGED),
        (ActionEvent.MITIGATED, IncidentStatus.MITIGATED),
        (ActionEvent.RESOLVED, IncidentStatus.RESOLVED),
    ]:
        outcome = await page.send(request(event, status=status), session, refs)
        assert outcome.kind is OutcomeKind.SENT, outcome.reason

    (incident,) = fake.incidents.values()
    assert incident.status == "resolved"
    assert [u["status"] for u in reversed(incident.updates)] == [
        "investigating",
        "identified",
        "monitoring",
        "resolved",
    ]
    assert incident.updates[0]["body"] == "This incident has been resolved."
    assert set(fake.component_status.values()) == {"operational"}
    patches = [r for r in fake.received if r.method == "PATCH"]
    assert {r.path for r in patches} == {f"/v1/pages/{PAGE}/incidents/p31zjtct0001"}
    assert fake.violations == []


async def test_small_incidents_stay_internal_until_they_escalate(
    fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    page = target(fake.url)
    quiet = await page.send(at_priority(request(), "P3"), session, {})
    loud = await page.send(request(ActionEvent.ESCALATED), session, quiet.refs)

    assert quiet.kind is OutcomeKind.SENT
    assert quiet.reason == "P3 is not public (public: P1, P2)"
    assert loud.kind is OutcomeKind.SENT, loud.reason
    assert loud.reason.startswith("created incident")
    assert [r.method for r in fake.received] == ["GET", "POST"]


async def test_a_resolution_of_an_incident_never_made_public_sends_nothing(
    fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    done = request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED)
    outcome = await target(fake.url).send(done, session, {})

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.reason == "no public incident to resolved"
    assert fake.received == []


async def test_status_updates_are_published_only_when_configured(
    fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    note = "Payments are succeeding again for most customers."
    refs = (await target(fake.url).send(request(), session, {})).refs
    kept = await target(fake.url).send(request(ActionEvent.UPDATED, note=note), session, refs)
    published = await target(fake.url, public_updates=True).send(
        request(ActionEvent.UPDATED, note=note), session, refs
    )

    assert kept.reason == "nothing public for updated"
    assert published.kind is OutcomeKind.SENT, published.reason
    (incident,) = fake.incidents.values()
    assert incident.updates[0] == {
        "id": "upd000000002",
        "status": "investigating",
        "body": note,
        "deliver_notifications": True,
    }


async def test_a_reopened_incident_goes_back_to_investigating_with_its_components_down(
    fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    page = target(fake.url)
    refs = (await page.send(request(), session, {})).refs
    await page.send(request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED), session, refs)
    again = await page.send(later(ActionEvent.REOPENED), session, refs)

    assert again.kind is OutcomeKind.SENT, again.reason
    assert again.reason == "incident p31zjtct0001 investigating"
    (incident,) = fake.incidents.values()
    assert incident.status == "investigating"
    assert incident.updates[0]["body"] == (
        "The issue affecting checkout, browse has returned. We are investigating."
    )
    assert fake.component_status[CHECKOUT] == "major_outage"
    assert fake.violations == []


@pytest.mark.parametrize("event", [ActionEvent.SLA_BREACHED, ActionEvent.REMINDER])
async def test_breaches_and_reminders_are_internal(
    event: ActionEvent, fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    refs = {"incident_id": "p31zjtct0001"}
    outcome = await target(fake.url).send(later(event), session, refs)

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.reason == f"nothing to send for {event}"
    assert fake.received == []


@pytest.mark.parametrize("status", [420, 429])
async def test_statuspage_rate_limits_are_retries(
    status: int, fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    fake.fail_next(1, status, {"message": "Rate limit exceeded"}, {"Retry-After": "2"})
    outcome = await target(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.retry_after == 2.0
    assert f"HTTP {status}" in outcome.reason
    assert fake.incidents == {}


async def test_an_unprocessable_incident_fails_with_statuspages_message(
    fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    page = target(fake.url, components={"checkout": "zzzzzzzzzzzz"})
    outcome = await page.send(request(), session, {})

    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.reason == (
        "Statuspage create incident: HTTP 422: Component zzzzzzzzzzzz not found; "
        "component_ids must be ids of the page's components"
    )


async def test_a_wrong_key_fails_and_no_key_is_ever_shown(
    fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    refused = await target(fake.url, api_key="not-the-right-key").send(request(), session, {})
    fake.fail_next(1, 400, {"error": [f"bad request with key {API_KEY}"]})
    echoed = await target(fake.url).send(request(), session, {})

    assert refused.kind is OutcomeKind.FAILED
    assert refused.reason == "Statuspage unresolved incidents: HTTP 401: Could not authenticate"
    assert "not-the-right-key" not in refused.reason
    assert echoed.kind is OutcomeKind.FAILED
    assert echoed.reason == "Statuspage unresolved incidents: HTTP 400: bad request with key ***"


async def test_no_answer_within_the_timeout_is_a_retry(
    fake: FakeStatuspage, session: aiohttp.ClientSession
) -> None:
    fake.delay_next(1.0)
    outcome = await target(fake.url, timeout="200ms").send(request(), session, {})

    assert outcome.kind is OutcomeKind.RETRY
    assert "no answer within 0.2s" in outcome.reason
    assert outcome.refs == {}
