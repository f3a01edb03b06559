"""What each target would send for a real incident, built without I/O: PagerDuty's severity
and limits, Opsgenie's, Teams' card, Datadog's event, ServiceNow's record and notes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from incidentd.act.comms import render_message
from incidentd.act.config import (
    DatadogConfig,
    OpsgenieConfig,
    PagerDutyConfig,
    ServiceNowConfig,
)
from incidentd.act.target import ActionEvent
from incidentd.act.targets import datadog, itsm, opsgenie, pagerduty, teams
from incidentd.declare.incident import IncidentStatus
from incidentd.model import Priority
from tests.fakes.incident import request

PD = PagerDutyConfig.model_validate({"type": "pagerduty", "routing_key": "R" * 32})


@pytest.mark.parametrize(
    ("priority", "severity"),
    [
        (Priority.P1, "critical"),
        (Priority.P2, "error"),
        (Priority.P3, "warning"),
        (Priority.P4, "info"),
        (Priority.P5, "info"),
    ],
)
def test_pagerduty_severity_follows_the_priority(priority: Priority, severity: str) -> None:
    action = request()
    shown = {**action.incident, "priority": priority.value}
    body = pagerduty.trigger_body(replace(action, incident=shown), PD, "INC-1042")
    assert body["payload"]["severity"] == severity


def test_pagerduty_summary_and_dedup_key_respect_the_limits() -> None:
    action = request()
    long = replace(action, incident={**action.incident, "title": "x" * 3000})
    assert len(pagerduty.summary(long.facts)) == 1024
    assert len(pagerduty.dedup_key("INC-1", "p" * 300)) == 255


def test_opsgenie_create_respects_the_limits() -> None:
    config = OpsgenieConfig.model_validate({"type": "opsgenie", "api_key": "k"})
    action = request()
    long = replace(action, incident={**action.incident, "title": "y" * 500})
    body = opsgenie.create_body(long, config)
    assert len(body["message"]) == 130
    assert body["alias"] == "INC-1042"
    assert all(isinstance(v, str) for v in body["details"].values())
    assert body["entity"] == "orders-db"


def test_the_teams_card_carries_the_bridge_and_the_explanation() -> None:
    action = request()
    content = teams.card(action, render_message("responders", action))["attachments"][0]["content"]
    assert content["type"] == "AdaptiveCard"
    texts = [block.get("text", "") for block in content["body"]]
    assert any(t.startswith("- impact.criticality +30") for t in texts)
    assert content["actions"][0]["url"] == "https://zoom.us/j/85746065432"


def test_a_datadog_event_stays_within_its_text_limit() -> None:
    config = DatadogConfig.model_validate({"type": "datadog", "api_key": "k"})
    action = request(note="n" * 5000)
    fields = datadog.event_fields(action, config)
    assert len(fields["text"]) <= 4000
    assert fields["aggregation_key"] == "INC-1042"


@pytest.mark.parametrize(
    ("priority", "pair"),
    [(Priority.P1, ("1", "1")), (Priority.P3, ("2", "2")), (Priority.P5, ("3", "3"))],
)
def test_servicenow_impact_and_urgency_follow_the_priority(
    priority: Priority, pair: tuple[str, str]
) -> None:
    config = ServiceNowConfig.model_validate(
        {
            "type": "servicenow",
            "base_url": "https://x.service-now.com",
            "auth": {"type": "bearer", "token": "t"},
        }
    )
    action = request()
    record = itsm.record(
        replace(action, incident={**action.incident, "priority": priority}), config
    )
    assert (record["impact"], record["urgency"]) == pair


def test_servicenow_work_notes_carry_each_timeline_entry_once() -> None:
    resolved = request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED)
    everything, last = itsm.work_notes(resolved, -1)
    since, same_last = itsm.work_notes(resolved, 5)

    assert last == same_last == 6
    assert len(everything.splitlines()) == 2 + 7  # headline, bridge, the 7 entries
    assert since.splitlines()[-1].endswith("to=resolved, note=db failed over")
    assert "alert_attached" not in since
