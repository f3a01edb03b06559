"""The stakeholder messages of an overdue follow-up: every audience names the follow-up the
action is about (the timeline entry at the action's seq), its owner and its due date."""

from __future__ import annotations

import pytest

from incidentd.act import sample
from incidentd.act.comms import AUDIENCES, Audience, context, render_message
from incidentd.act.target import ActionEvent, ActionRequest
from tests.fakes.followup import overdue_requests

TITLE = "Checkout and browse degraded: orders-db failing"


def test_each_action_is_about_its_own_follow_up() -> None:
    first, second = overdue_requests()
    assert context(first, audience="responders")["followup"] == {
        "id": "F1",
        "title": "Alert on replica lag",
        "owner": "bob",
        "due": "2026-03-03T09:00:00+00:00",
    }
    assert context(second, audience="responders")["followup"]["id"] == "F2"
    assert context(second, audience="responders")["followup"]["owner"] is None


def test_the_responders_are_told_what_to_do_about_it() -> None:
    first, second = overdue_requests()
    message = render_message("responders", first)
    assert message.title == f"INC-1042 follow-up overdue: {TITLE}"
    assert (
        "Follow-up **F1** of this P1 incident is still open and was due 2026-03-03 09:00 UTC: "
        "Alert on replica lag" in message.body
    )
    assert "**Owner:** bob" in message.body
    assert "PATCH /api/v1/incidents/INC-1042/followups/F1" in message.body
    assert "**Owner:** nobody yet" in render_message("responders", second).body


def test_the_business_and_the_executives_hear_it_short() -> None:
    first, second = overdue_requests()
    business = render_message("business", first).body
    assert "A preventive action from this incident's review is late: **Alert on replica lag**" in (
        business
    )
    executives = render_message("executives", second).text.splitlines()
    assert executives == [
        f"INC-1042 follow-up overdue: {TITLE}",
        'P1 review: the preventive action "Runbook for orders-db failover" (no owner) is '
        "overdue since 2026-03-03 09:00 UTC.",
    ]


@pytest.mark.parametrize("audience", AUDIENCES)
def test_a_view_without_its_timeline_still_names_the_follow_up(audience: Audience) -> None:
    """The sample incidents (checked for every override) and a bare view render too."""
    full, bare = sample.requests(ActionEvent.FOLLOWUP_OVERDUE)
    assert "Alert on replica lag" in render_message(audience, full).text
    untimed = {k: v for k, v in full.incident.items() if k != "timeline"}
    shown = ActionRequest.of(untimed, ActionEvent.FOLLOWUP_OVERDUE, target="t", seq=3)
    assert "Alert on replica lag" in render_message(audience, shown).text
    assert render_message(audience, bare).title.startswith("INC-1001 follow-up overdue")


def test_other_events_have_no_follow_up_in_their_context() -> None:
    full, _ = sample.requests(ActionEvent.DECLARED)
    assert context(full, audience="responders")["followup"] is None
