"""ServiceNow target against the fake Table API: one record per incident (found again by
correlation_id after a lost answer), its work notes carrying the timeline once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from incidentd.act.config import ServiceNowConfig
from incidentd.act.target import ActionEvent, OutcomeKind
from incidentd.act.targets.itsm import ServiceNowTarget
from incidentd.declare.incident import IncidentStatus
from tests.fakes.base import serve
from tests.fakes.incident import request
from tests.fakes.lifecycle import later
from tests.fakes.servicenow import FakeServiceNow

USER, PASSWORD = "incidentd.integration", "pa55-w0rd-for-the-fake"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def fake() -> AsyncIterator[FakeServiceNow]:
    vendor = FakeServiceNow(USER, PASSWORD)
    async with serve(vendor):
        yield vendor


def target(base_url: str, password: str = PASSWORD) -> ServiceNowTarget:
    config = ServiceNowConfig.model_validate(
        {
            "type": "servicenow",
            "base_url": base_url,
            "auth": {"type": "basic", "username": USER, "password": password},
            "fields": {"assignment_group": "Major Incident Management"},
        }
    )
    return ServiceNowTarget("servicenow", config)


async def test_a_declaration_creates_the_record_with_the_timeline(
    fake: FakeServiceNow, session: aiohttp.ClientSession
) -> None:
    outcome = await target(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    (record,) = fake.records.values()
    assert outcome.refs["sys_id"] == record["sys_id"]
    assert outcome.refs["number"] == record["number"] == "INC0010001"
    assert (record["impact"], record["urgency"]) == ("1", "1")
    assert record["correlation_id"] == "INC-1042"
    assert record["assignment_group"] == "Major Incident Management"
    note = record["work_notes_journal"][0]
    assert note.startswith("incidentd: INC-1042 declared (P1, declared)")
    assert "declared by incidentd" in note
    assert outcome.refs["timeline_seq"] == "5"
    assert fake.violations == []


async def test_a_lost_create_is_found_again_not_made_twice(
    fake: FakeServiceNow, session: aiohttp.ClientSession
) -> None:
    snow = target(fake.url)
    await snow.send(request(), session, {})  # its refs are lost
    again = await snow.send(request(), session, {})

    assert again.kind is OutcomeKind.SENT
    assert again.reason.startswith("adopted INC0010001")
    assert len(fake.records) == 1
    assert len(next(iter(fake.records.values()))["work_notes_journal"]) == 1


async def test_resolution_patches_the_state_and_writes_only_new_entries(
    fake: FakeServiceNow, session: aiohttp.ClientSession
) -> None:
    snow = target(fake.url)
    refs = (await snow.send(request(), session, {})).refs
    done = await snow.send(
        request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED), session, refs
    )

    assert done.kind is OutcomeKind.SENT, done.reason
    (record,) = fake.records.values()
    assert record["state"] == "6"
    assert record["close_code"] == "Solution provided"
    note = record["work_notes_journal"][1]
    assert "status_changed by alice" in note
    assert "alert_attached" not in note
    assert done.refs["timeline_seq"] == "6"


async def test_servicenow_errors_are_classified(
    fake: FakeServiceNow, session: aiohttp.ClientSession
) -> None:
    fake.fail_next(1, 429, {"error": {"message": "Rate limit exceeded"}}, {"Retry-After": "60"})
    limited = await target(fake.url).send(request(), session, {})
    refused = await target(fake.url, password="wrong-password").send(request(), session, {})  # noqa: S106 (a fake)
    missing = await target(fake.url).send(request(ActionEvent.UPDATED), session, {"sys_id": "nope"})

    assert (limited.kind, limited.retry_after) == (OutcomeKind.RETRY, 60.0)
    assert refused.kind is OutcomeKind.FAILED
    assert (
        refused.reason == "ServiceNow GET incident: HTTP 401: User Not Authenticated: "
        "Required to provide Auth information"
    )
    assert missing.kind is OutcomeKind.FAILED
    assert "No Record found" in missing.reason


async def test_a_reopened_incident_puts_the_record_back_in_progress(
    fake: FakeServiceNow, session: aiohttp.ClientSession
) -> None:
    snow = target(fake.url)
    refs = (await snow.send(request(), session, {})).refs
    done = request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED)
    refs = (await snow.send(done, session, refs)).refs
    again = await snow.send(later(ActionEvent.REOPENED), session, refs)

    assert again.kind is OutcomeKind.SENT, again.reason
    (record,) = fake.records.values()
    assert record["state"] == "2"
    note = record["work_notes_journal"][-1]
    assert note.startswith("incidentd: INC-1042 reopened (P1, declared)")
    assert "from=resolved, to=declared, note=orders-db again" in note
    assert again.refs["timeline_seq"] == "7"
    assert fake.violations == []


async def test_an_sla_breach_is_a_work_note_and_changes_no_field(
    fake: FakeServiceNow, session: aiohttp.ClientSession
) -> None:
    snow = target(fake.url)
    refs = (await snow.send(request(), session, {})).refs
    breached = await snow.send(later(ActionEvent.SLA_BREACHED), session, refs)

    assert breached.kind is OutcomeKind.SENT, breached.reason
    (record,) = fake.records.values()
    assert record["state"] == "1"
    note = record["work_notes_journal"][-1]
    assert "SLA breached: acknowledge within 5m (due 09:11Z)" in note
    assert "sla_breached by incidentd: clock=acknowledge" in note
    assert fake.requests()[-1].json().keys() == {"work_notes"}


async def test_a_reminder_writes_nothing(
    fake: FakeServiceNow, session: aiohttp.ClientSession
) -> None:
    refs = {"sys_id": "abc", "timeline_seq": "5"}
    outcome = await target(fake.url).send(later(ActionEvent.REMINDER), session, refs)

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.reason == "nothing to send for reminder"
    assert outcome.refs == refs
    assert fake.received == []
