"""Generic JSON parser: identity, redelivery, defaults and the strictness of our own format.

The golden files in tests/payloads/generic pin the mapping of each documented field; these
tests pin what the engine relies on and the limits docs/generic-format.md promises.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from incidentd.ingest.generic import MAX_ALERTS, MAX_AUTO_RESOLVE_SECONDS, GenericSource
from incidentd.ingest.severity import SEVERITY_WORDS
from incidentd.ingest.source import ParseError, RawWebhook, SourceOptions
from incidentd.model import Alert, Severity, Status
from tests.unit.test_payloads import RECEIVED_AT

SOURCE = GenericSource()
LATER = RECEIVED_AT + timedelta(minutes=3)


def _parse(
    body: Any,
    *,
    received_at: datetime = RECEIVED_AT,
    options: SourceOptions | None = None,
) -> list[Alert]:
    return SOURCE.parse(
        RawWebhook(
            source="generic",
            body=json.dumps(body).encode(),
            headers={},
            received_at=received_at,
            options=options or SourceOptions(),
        )
    )


def _one(body: dict[str, Any], **kwargs: Any) -> Alert:
    (alert,) = _parse(body, **kwargs)
    return alert


def _error(body: Any) -> ParseError:
    with pytest.raises(ParseError) as caught:
        _parse(body)
    assert caught.value.status == 422
    return caught.value


def test_single_object_and_one_element_list_give_the_same_alert() -> None:
    alert = {"name": "disk-full", "labels": {"host": "a"}, "starts_at": "2025-10-01T00:00:00Z"}
    assert _parse(alert) == _parse({"alerts": [alert]})


def test_resolve_keeps_the_fingerprint_and_changes_the_event_id() -> None:
    firing = _one({"name": "disk-full", "service": "db", "labels": {"host": "a"}})
    resolved = _one(
        {"name": "disk-full", "service": "db", "labels": {"host": "a"}, "status": "resolved"}
    )
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.event_id != firing.event_id
    assert resolved.ends_at == RECEIVED_AT


def test_identity_is_name_service_labels_and_sender() -> None:
    base = {"name": "disk-full", "service": "db", "labels": {"host": "a"}}
    fingerprint = _one(base).fingerprint
    cosmetic = base | {"severity": "critical", "title": "x", "annotations": {"a": "b"}}
    assert _one(cosmetic).fingerprint == fingerprint
    assert _one(base | {"name": "disk-slow"}).fingerprint != fingerprint
    assert _one(base | {"service": "web"}).fingerprint != fingerprint
    assert _one(base | {"labels": {"host": "b"}}).fingerprint != fingerprint
    assert _one(base | {"sender": "cron@b"}).fingerprint != fingerprint


def test_empty_service_is_no_service() -> None:
    alert = _one({"name": "disk-full", "service": ""})
    assert alert.service is None
    assert alert.fingerprint == _one({"name": "disk-full"}).fingerprint


def test_dedup_key_replaces_name_and_labels_as_identity() -> None:
    first = _one({"name": "job-failed", "dedup_key": "export", "labels": {"try": "1"}})
    retry = _one({"name": "job-still-failing", "dedup_key": "export", "labels": {"try": "2"}})
    other_sender = _one({"name": "job-failed", "dedup_key": "export", "sender": "b"})
    assert retry.fingerprint == first.fingerprint
    assert other_sender.fingerprint != first.fingerprint


def test_dedup_key_equal_to_a_name_is_not_that_name() -> None:
    by_key = _one({"name": "x", "dedup_key": "disk-full"})
    by_name = _one({"name": "disk-full"})
    assert by_key.fingerprint != by_name.fingerprint


def test_retry_with_the_same_id_is_a_redelivery() -> None:
    body = {"name": "job-failed", "id": "run-42"}
    assert _one(body).event_id == _one(body, received_at=LATER).event_id
    assert _one(body | {"id": "run-43"}).event_id != _one(body).event_id
    assert _one(body | {"status": "resolved"}).event_id != _one(body).event_id


def test_retry_with_the_same_starts_at_is_a_redelivery() -> None:
    body = {"name": "job-failed", "starts_at": "2025-10-01T02:00:00+02:00"}
    assert _one(body).event_id == _one(body, received_at=LATER).event_id
    same_instant = {"name": "job-failed", "starts_at": "2025-10-01T00:00:00Z"}
    assert _one(same_instant).event_id == _one(body).event_id


def test_without_id_or_starts_at_each_post_is_a_new_report() -> None:
    body = {"name": "job-failed"}
    assert _one(body).event_id != _one(body, received_at=LATER).event_id
    assert _one(body, received_at=LATER).starts_at == LATER


def test_received_at_in_another_zone_is_stored_in_utc() -> None:
    local = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    alert = _one({"name": "x"}, received_at=local)
    assert alert.starts_at == RECEIVED_AT
    assert alert.starts_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("word", sorted(SEVERITY_WORDS))
def test_every_severity_word_is_accepted_in_any_case(word: str) -> None:
    assert _one({"name": "x", "severity": word.upper()}).severity is SEVERITY_WORDS[word]


def test_missing_severity_is_warning_and_title_defaults_to_name() -> None:
    alert = _one({"name": "x", "title": None, "severity": None})
    assert (alert.severity, alert.title, alert.status) == (Severity.WARNING, "x", Status.FIRING)


def test_auto_resolve_after_of_the_alert_wins_over_the_options() -> None:
    options = SourceOptions(auto_resolve_after=timedelta(hours=1))
    own, default = _parse(
        {"alerts": [{"name": "a", "auto_resolve_after": 60}, {"name": "b"}]}, options=options
    )
    assert own.auto_resolve_after == timedelta(seconds=60)
    assert default.auto_resolve_after == timedelta(hours=1)


@pytest.mark.parametrize("seconds", [0, -5, MAX_AUTO_RESOLVE_SECONDS + 1, 1e308, True])
def test_auto_resolve_after_out_of_range_is_refused(seconds: object) -> None:
    assert _error({"name": "x", "auto_resolve_after": seconds}).path == "$.auto_resolve_after"


def test_a_full_batch_is_accepted_and_one_more_is_refused() -> None:
    assert len(_parse({"alerts": [{"name": f"a{i}"} for i in range(MAX_ALERTS)]})) == MAX_ALERTS
    error = _error({"alerts": [{"name": f"a{i}"} for i in range(MAX_ALERTS + 1)]})
    assert error.path == "$.alerts"


def test_empty_batch_gives_no_alerts() -> None:
    assert _parse({"alerts": []}) == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": ""}, "$.name"),
        ({"name": 5}, "$.name"),
        ({"name": "x", "labels": ["a"]}, "$.labels"),
        ({"name": "x", "annotations": {"a": None}}, "$.annotations.a"),
        ({"name": "x", "dedup_key": ""}, "$.dedup_key"),
        ({"name": "x", "id": 42}, "$.id"),
        ({"name": "x", "starts_at": 1759276800}, "$.starts_at"),
        ({"name": "x", "status": "resolved", "ends_at": "yesterday"}, "$.ends_at"),
        ({"name": "x", "starts_at": "0001-01-01T00:00:00+01:00"}, "$.starts_at"),
        ({"alerts": [{"name": "x"}, {"name": "y", "Severity": "crit"}]}, "$.alerts[1].Severity"),
        ({"alerts": {"name": "x"}}, "$.alerts"),
        ({"alerts": None}, "$.alerts"),
        ("name", "$"),
    ],
)
def test_wrong_shapes_are_refused_with_their_path(body: Any, path: str) -> None:
    assert _error(body).path == path


def test_unknown_severity_names_the_accepted_words() -> None:
    error = _error({"name": "x", "severity": "sev1"})
    assert "'sev1'" in error.message
    assert "critical" in error.message
