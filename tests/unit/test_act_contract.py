"""The target contract: requests, idempotency keys, outcomes, Retry-After."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from incidentd.act.http import Reply, check, retry_after
from incidentd.act.target import ActionEvent, ActionRequest, Outcome, idempotency_key
from incidentd.errors import PermanentError, TransientError
from tests.fakes.incident import incident_view


def test_the_key_names_incident_event_entry_and_target() -> None:
    assert idempotency_key("INC-7", ActionEvent.ESCALATED, "pagerduty", 12) == (
        "INC-7:escalated:12:pagerduty"
    )


def test_a_request_reads_the_incident_view() -> None:
    shown, entries = incident_view()
    action = ActionRequest.of(shown, ActionEvent.DECLARED, target="pd", seq=entries[-1].seq)

    assert action.key == "INC-1042:declared:5:pd"
    assert action.facts.priority == "P1"
    assert action.facts.subject == "orders-db"
    assert len(action.facts.timeline) == len(entries)
    assert action.facts.score.explanation()[0].startswith("impact.criticality +30")


def test_a_view_that_is_not_an_incident_fails_at_construction() -> None:
    with pytest.raises(ValidationError):
        ActionRequest.of({"id": "INC-1"}, ActionEvent.DECLARED, target="pd", seq=0)


def test_reasons_are_one_short_line() -> None:
    outcome = Outcome.failed("a\nb  " + "x" * 1000, refs={})
    assert outcome.reason.startswith("a b x")
    assert len(outcome.reason) == 300


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "-3"}, 0.0),
        (
            {
                "Retry-After": "Sun, 01 Mar 2026 10:02:00 GMT",
                "Date": "Sun, 01 Mar 2026 10:00:00 GMT",
            },
            120.0,
        ),
        ({"Retry-After": "Sun, 01 Mar 2026 10:02:00 GMT"}, None),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after(headers) == seconds


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_statuses_worth_retrying(status: int) -> None:
    with pytest.raises(TransientError):
        check(Reply(status, {}, b""), "x")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
def test_statuses_that_will_not_improve(status: int) -> None:
    with pytest.raises(PermanentError, match=f"x: HTTP {status}: said"):
        check(Reply(status, {}, b""), "x", "said")
