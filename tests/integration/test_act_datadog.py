"""Datadog target through the real datadog-api-client against the fake Events API and the fake
Incidents API v2: an event for every change, and (when enabled) one Datadog incident per
incident, found again after a lost answer, following the incident's state and severity."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from incidentd.act.config import DatadogConfig
from incidentd.act.target import ActionEvent, OutcomeKind
from incidentd.act.targets.datadog import DatadogTarget
from incidentd.declare.incident import IncidentStatus
from incidentd.errors import ConfigInvalid
from incidentd.rules.loader import load
from tests.fakes.base import serve
from tests.fakes.datadog import FakeDatadog
from tests.fakes.incident import request
from tests.fakes.lifecycle import later

API_KEY = "0123456789abcdef0123456789abcdef"
APP_KEY = "fedcba9876543210fedcba9876543210fedcba98"
COMMANDER = "3ad549bf-eba0-11e9-a77a-0705486660d0"
INCIDENTS = "/api/v2/incidents"
SEARCH = "/api/v2/incidents/search"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def fake() -> AsyncIterator[FakeDatadog]:
    vendor = FakeDatadog(API_KEY, APP_KEY)
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


def with_incident(
    base_url: str, *, app_key: str = APP_KEY, timeout: str = "2s", **incident: Any
) -> DatadogTarget:
    config = DatadogConfig.model_validate(
        {
            "type": "datadog",
            "api_key": API_KEY,
            "app_key": app_key,
            "base_url": base_url,
            "timeout": timeout,
            "incident": {"enabled": True, **incident},
        }
    )
    return DatadogTarget("datadog", config)


def the_incident(fake: FakeDatadog) -> dict[str, Any]:
    (incident,) = fake.incidents.values()
    return dict(incident["attributes"])


def incident_calls(fake: FakeDatadog) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.received if r.path.startswith(INCIDENTS)]


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


# --- the Datadog incident ---------------------------------------------------------------------


async def test_no_incident_is_made_unless_enabled(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    outcome = await target(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.SENT
    assert [r.path for r in fake.received] == ["/api/v1/events"]
    assert "dd-application-key" not in fake.received[0].headers
    assert fake.incidents == {}


async def test_a_declaration_posts_its_event_then_creates_one_incident(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    dd = with_incident(
        fake.url, commander_user=COMMANDER, notification_handles=["@oncall-sre@example.com"]
    )
    outcome = await dd.send(request(), session, {})

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    assert outcome.reason == (
        "event 7000000000000000001 posted; Datadog incident #1 created (SEV-1, active)"
    )
    assert [r.path for r in fake.received] == ["/api/v1/events", SEARCH, INCIDENTS]
    search = fake.requests(SEARCH)[0]
    assert search.query["query"] == "state:(active OR stable OR resolved)"
    assert (search.query["sort"], search.query["page[size]"]) == ("-created", "100")
    create = fake.requests(INCIDENTS)[0]
    assert create.headers["dd-api-key"] == API_KEY
    assert create.headers["dd-application-key"] == APP_KEY
    data = create.json()["data"]
    assert data["type"] == "incidents"
    assert data["attributes"] == {
        "title": "INC-1042: Checkout and browse degraded: orders-db failing",
        "customer_impacted": True,
        "customer_impact_scope": "customers use api-gateway, checkout, frontend",
        "fields": {
            "severity": {"type": "dropdown", "value": "SEV-1"},
            "state": {"type": "dropdown", "value": "active"},
        },
        "notification_handles": [{"handle": "@oncall-sre@example.com"}],
    }
    assert data["relationships"] == {"commander_user": {"data": {"type": "users", "id": COMMANDER}}}
    (made,) = fake.incidents.values()
    assert outcome.refs["incident_id"] == made["id"]
    assert outcome.refs["incident_public_id"] == "1"
    assert len(fake.events) == 1
    assert fake.violations == []


async def test_severity_follows_the_configured_mapping(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    outcome = await with_incident(fake.url, severity={"P1": "SEV-0"}).send(request(), session, {})

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    assert the_incident(fake)["severity"] == "SEV-0"


async def test_a_lost_create_is_found_again_not_made_twice(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    dd = with_incident(fake.url, timeout="300ms")
    fake.lose_next_create(1.0)
    first = await dd.send(request(), session, {})
    second = await dd.send(request(), session, first.refs)

    assert first.kind is OutcomeKind.RETRY
    assert "incident_id" not in first.refs
    assert second.kind is OutcomeKind.SENT, second.reason
    assert second.reason == "Datadog incident #1 adopted"
    assert second.refs["incident_id"] == next(iter(fake.incidents))
    assert len(fake.incidents) == 1
    assert len(fake.events) == 1  # the event was posted once: the refs said so
    assert fake.violations == []


async def test_a_declaration_whose_refs_were_lost_adopts_the_incident(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    dd = with_incident(fake.url, title_prefix="[prod] ")
    await dd.send(request(), session, {})  # its refs are lost
    again = await dd.send(request(), session, {})

    assert again.kind is OutcomeKind.SENT, again.reason
    assert again.reason.endswith("; Datadog incident #1 adopted")
    assert the_incident(fake)["title"].startswith("[prod] INC-1042: ")
    assert len(fake.incidents) == 1


async def test_another_installations_incident_is_not_adopted(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    await with_incident(fake.url, title_prefix="[staging] ").send(request(), session, {})
    prod = await with_incident(fake.url, title_prefix="[prod] ").send(request(), session, {})

    assert prod.reason.endswith("Datadog incident #2 created (SEV-1, active)")
    assert len(fake.incidents) == 2


async def test_a_retry_after_the_event_was_posted_redoes_only_the_incident(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    dd = with_incident(fake.url)
    limits = {"X-RateLimit-Limit": "60", "X-RateLimit-Period": "60", "X-RateLimit-Reset": "23"}
    fake.pass_next(1)  # the event
    fake.fail_next(1, 429, {"errors": ["Rate limit exceeded"]}, limits)  # the search
    first = await dd.send(request(), session, {})
    second = await dd.send(request(), session, first.refs)

    assert first.kind is OutcomeKind.RETRY
    assert first.retry_after == 23.0
    assert first.reason == ("Datadog incident search: HTTP 429: Rate limit exceeded")
    assert first.refs["event_for"] == request().key
    assert second.kind is OutcomeKind.SENT, second.reason
    assert second.reason == "Datadog incident #1 created (SEV-1, active)"
    assert len(fake.events) == 1
    assert len(fake.incidents) == 1


async def test_status_changes_update_the_incidents_state_and_severity(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    dd = with_incident(fake.url)
    refs = (await dd.send(request(), session, {})).refs
    seen: list[tuple[str, str, str | None]] = []
    steps = [
        request(ActionEvent.ESCALATED),
        request(ActionEvent.ACKNOWLEDGED, status=IncidentStatus.ACKNOWLEDGED),
        request(ActionEvent.MITIGATED, status=IncidentStatus.MITIGATED),
        request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED),
        later(ActionEvent.REOPENED),
    ]
    reasons = []
    for step in steps:
        outcome = await dd.send(step, session, refs)
        assert outcome.kind is OutcomeKind.SENT, outcome.reason
        reasons.append(outcome.reason.split("; ")[1])
        refs = outcome.refs
        now = the_incident(fake)
        seen.append((now["state"], now["severity"], now["customer_impact_end"]))

    assert reasons == [
        "Datadog incident #1: severity SEV-1",
        "Datadog incident #1: state active",
        "Datadog incident #1: state stable",
        "Datadog incident #1: state resolved",
        "Datadog incident #1: state active, severity SEV-1",
    ]
    mitigated = "2026-03-02T09:20:00+00:00"
    assert seen == [
        ("active", "SEV-1", None),
        ("active", "SEV-1", None),
        ("stable", "SEV-1", mitigated),
        ("resolved", "SEV-1", mitigated),
        ("active", "SEV-1", None),
    ]
    patches = [r.json()["data"] for r in fake.received if r.method == "PATCH"]
    assert [p["attributes"]["fields"] for p in patches] == [
        {"severity": {"type": "dropdown", "value": "SEV-1"}},
        {"state": {"type": "dropdown", "value": "active"}},
        {"state": {"type": "dropdown", "value": "stable"}},
        {"state": {"type": "dropdown", "value": "resolved"}},
        {
            "state": {"type": "dropdown", "value": "active"},
            "severity": {"type": "dropdown", "value": "SEV-1"},
        },
    ]
    assert {p["id"] for p in patches} == {refs["incident_id"]}
    assert len(fake.incidents) == 1
    assert len(fake.events) == 6
    assert fake.violations == []


async def test_notes_breaches_and_reminders_leave_the_incident_alone(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    dd = with_incident(fake.url)
    refs = (await dd.send(request(), session, {})).refs
    updated = await dd.send(request(ActionEvent.UPDATED, note="failover done"), session, refs)
    breached = await dd.send(later(ActionEvent.SLA_BREACHED), session, updated.refs)
    reminder = await dd.send(later(ActionEvent.REMINDER), session, breached.refs)

    assert [o.kind for o in (updated, breached, reminder)] == [OutcomeKind.SENT] * 3
    assert updated.reason == "event 7000000000000000002 posted"
    assert reminder.reason == "nothing to send for reminder"
    assert incident_calls(fake) == [f"GET {SEARCH}", f"POST {INCIDENTS}"]


async def test_a_change_without_an_incident_creates_it_in_its_current_state(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    outcome = await with_incident(fake.url).send(
        request(ActionEvent.MITIGATED, status=IncidentStatus.MITIGATED), session, {}
    )

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    assert outcome.reason.endswith("Datadog incident #1 created (SEV-1, stable)")
    assert incident_calls(fake) == [f"GET {SEARCH}", f"POST {INCIDENTS}"]


async def test_a_refused_application_key_fails_with_datadogs_message_and_is_never_shown(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    wrong = "0000000000000000000000000000000000000000"
    outcome = await with_incident(fake.url, app_key=wrong).send(request(), session, {})

    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.reason == "Datadog incident search: HTTP 403: Forbidden"
    assert outcome.refs["event_for"] == request().key  # the event went out: not sent again
    assert fake.incidents == {}


async def test_a_rejected_incident_fails_with_datadogs_errors_masking_echoed_keys(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    fake.pass_next(2)  # the event, the search
    fake.fail_next(1, 400, {"errors": [f"Invalid request for key {APP_KEY}"]})
    outcome = await with_incident(fake.url).send(request(), session, {})

    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.reason == "Datadog incident create: HTTP 400: Invalid request for key ***"
    assert APP_KEY not in outcome.reason
    assert API_KEY not in outcome.reason


async def test_an_incident_deleted_in_datadog_fails_and_is_forgotten(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    dd = with_incident(fake.url)
    refs = (await dd.send(request(), session, {})).refs
    fake.incidents.clear()
    outcome = await dd.send(
        request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED), session, refs
    )

    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.reason == "Datadog incident update: HTTP 404: Not Found"
    assert "incident_id" not in outcome.refs  # a retry by hand finds or makes it again


async def test_no_answer_from_the_incidents_api_is_a_retry_without_secrets(
    fake: FakeDatadog, session: aiohttp.ClientSession
) -> None:
    fake.pass_next(1)  # the event
    fake.delay_next(2.0)  # the search
    outcome = await with_incident(fake.url, timeout="300ms").send(request(), session, {})

    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.reason.startswith("Datadog incident search: no answer from 127.0.0.1")
    assert APP_KEY not in outcome.reason
    assert API_KEY not in outcome.reason


def test_an_incident_without_an_application_key_is_a_config_error_with_its_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "targets.yaml").write_text(
        "targets:\n"
        "  datadog:\n"
        "    type: datadog\n"
        f"    api_key: {API_KEY}\n"
        "    incident:\n"
        "      enabled: true\n"
    )
    with pytest.raises(ConfigInvalid) as raised:
        load(tmp_path, env={})

    (problem,) = [str(p) for p in raised.value.problems]
    assert problem == (
        "targets.yaml:3: targets.datadog.datadog: incident.enabled needs an app_key"
        " (an application key)"
    )


def test_an_application_key_is_a_secret_never_shown() -> None:
    config = DatadogConfig.model_validate(
        {"type": "datadog", "api_key": API_KEY, "app_key": APP_KEY, "incident": {"enabled": True}}
    )

    assert APP_KEY not in repr(config)
    assert config.incident.severity["P5"] == "SEV-5"
