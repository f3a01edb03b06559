"""Grafana Alerting webhook parser and the shared severity vocabulary (ingest/severity.py).

The golden files in tests/payloads/grafana pin the whole mapping; these tests pin the
properties the engine relies on: identity across repeats and resolves, redelivery, the
sender in the fingerprint, and the severity table.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incidentd.errors import NotJSON
from incidentd.ingest.grafana import GrafanaSource
from incidentd.ingest.severity import (
    SEVERITY_LABELS,
    SEVERITY_WORDS,
    severity_from_labels,
    severity_from_word,
)
from incidentd.ingest.source import ParseError, RawWebhook, SourceOptions
from incidentd.model import Alert, Severity, Status
from tests.unit.test_payloads import PAYLOADS, RECEIVED_AT

SOURCE = GrafanaSource()
FOLDER = PAYLOADS / "grafana"


def _doc() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FOLDER / "doc_example_firing_2_alerts.json").read_text())
    return loaded


def _parse(
    body: dict[str, Any] | bytes,
    *,
    received_at: datetime = RECEIVED_AT,
    options: SourceOptions | None = None,
) -> list[Alert]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return SOURCE.parse(
        RawWebhook(
            source="grafana",
            body=data,
            headers={},
            received_at=received_at,
            options=options or SourceOptions(),
        )
    )


def _resolve(body: dict[str, Any], index: int, ends_at: str) -> dict[str, Any]:
    body["alerts"][index]["status"] = "resolved"
    body["alerts"][index]["endsAt"] = ends_at
    return body


# --- severity vocabulary -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "severity"),
    [
        (("critical", "crit", "page", "p1", "fatal", "emergency"), Severity.CRITICAL),
        (("error", "err", "high", "major", "p2"), Severity.ERROR),
        (("warning", "warn", "medium", "minor", "p3"), Severity.WARNING),
        (("info", "low", "none", "ok", "p4", "p5"), Severity.INFO),
    ],
)
def test_documented_severity_words_map_as_documented(
    words: tuple[str, ...], severity: Severity
) -> None:
    for word in words:
        assert severity_from_word(word) is severity
        assert severity_from_word(f" {word.upper()} ") is severity


def test_severity_table_has_exactly_the_documented_words() -> None:
    assert len(SEVERITY_WORDS) == 22
    assert SEVERITY_LABELS == ("severity", "priority", "level")


def test_unknown_severity_word_is_none() -> None:
    assert severity_from_word("sev1") is None
    assert severity_from_word("") is None


def test_severity_label_wins_over_priority_and_level() -> None:
    labels = {"severity": "info", "priority": "P1", "level": "error"}
    assert severity_from_labels(labels) is Severity.INFO


def test_unknown_severity_label_falls_through_to_priority_then_level() -> None:
    assert severity_from_labels({"severity": "sev1", "priority": "P2"}) is Severity.ERROR
    assert severity_from_labels({"severity": "", "level": "crit"}) is Severity.CRITICAL


def test_missing_or_unknown_severity_is_the_default() -> None:
    assert severity_from_labels({}) is Severity.WARNING
    assert severity_from_labels({"severity": "sev1"}) is Severity.WARNING
    assert severity_from_labels({"team": "db"}, default=Severity.ERROR) is Severity.ERROR


# --- Grafana mapping -------------------------------------------------------------------------


def test_each_alert_of_a_group_has_its_own_fingerprint_and_the_same_group_key() -> None:
    first, second = _parse(_doc())
    assert first.fingerprint != second.fingerprint
    assert first.group_key == second.group_key is not None


def test_resolve_keeps_the_fingerprint_and_changes_the_event_id() -> None:
    (firing, _) = _parse(_doc())
    (resolved, _) = _parse(_resolve(_doc(), 0, "2021-10-12T10:01:03.157076+02:00"))
    assert resolved.status is Status.RESOLVED
    assert resolved.fingerprint == firing.fingerprint
    assert resolved.event_id != firing.event_id
    assert resolved.ends_at == datetime(2021, 10, 12, 8, 1, 3, 157076, tzinfo=UTC)


def test_redelivery_later_gives_the_same_event_ids() -> None:
    now = _parse(_doc())
    later = _parse(_doc(), received_at=RECEIVED_AT + timedelta(minutes=5))
    assert [a.event_id for a in now] == [a.event_id for a in later]
    assert later[0].received_at == RECEIVED_AT + timedelta(minutes=5)


def test_same_instant_in_another_offset_gives_the_same_event_id() -> None:
    body = _doc()
    body["alerts"][0]["startsAt"] = "2021-10-12T07:51:03.157076Z"
    assert _parse(body)[0].event_id == _parse(_doc())[0].event_id


def test_the_sender_is_part_of_the_identity() -> None:
    base = _parse(_doc())[0]
    other_grafana = _doc() | {"externalURL": "https://grafana.eu.example.com/"}
    other_org = _doc() | {"orgId": 2}
    assert _parse(other_grafana)[0].fingerprint != base.fingerprint
    assert _parse(other_org)[0].fingerprint != base.fingerprint
    assert _parse(other_org)[0].group_key != base.group_key


def test_trailing_slash_of_the_external_url_does_not_change_the_identity() -> None:
    without = _doc() | {"externalURL": "https://play.grafana.org"}
    assert _parse(without)[0].fingerprint == _parse(_doc())[0].fingerprint
    assert _parse(without)[0].group_key == _parse(_doc())[0].group_key


def test_group_key_names_sender_org_unescaped_receiver_and_group() -> None:
    body = _doc() | {"receiver": r"db\.pager \(prod\)", "groupKey": '{}:{team="db"}'}
    (alert, _) = _parse(body)
    assert alert.group_key is not None
    assert json.loads(alert.group_key) == [
        "https://play.grafana.org",
        1,
        "db.pager (prod)",
        '{}:{team="db"}',
    ]
    assert _parse(_doc() | {"groupKey": ""})[0].group_key is None


def test_fingerprint_ignores_annotations_values_and_label_order() -> None:
    body = _doc()
    alert = body["alerts"][0]
    alert["labels"] = dict(reversed(alert["labels"].items()))
    alert["annotations"]["summary"] = "reworded"
    alert["values"] = {"B": 99.0}
    assert _parse(body)[0].fingerprint == _parse(_doc())[0].fingerprint


def test_firing_alert_has_no_end_even_when_grafana_sends_one() -> None:
    body = _doc()
    body["alerts"][0]["endsAt"] = "2021-10-12T10:05:03+02:00"
    (alert, _) = _parse(body)
    assert alert.ends_at is None
    assert alert.event_id == _parse(_doc())[0].event_id


def test_resolved_alert_with_zero_end_has_no_end() -> None:
    (alert, _) = _parse(_resolve(_doc(), 0, "0001-01-01T00:00:00Z"))
    assert alert.status is Status.RESOLVED
    assert alert.ends_at is None


def test_values_become_annotations_without_overwriting_the_alerts_own() -> None:
    body = _doc()
    body["alerts"][0]["values"] = {"A": 1.0, "B": 0.1, "C": 1e16, "D": -3}
    body["alerts"][0]["annotations"]["value_D"] = "mine"
    annotations = _parse(body)[0].annotations
    assert annotations["value_A"] == "1"
    assert annotations["value_B"] == "0.1"
    assert annotations["value_C"] == "1e+16"
    assert annotations["value_D"] == "mine"


def test_severity_and_service_come_from_labels() -> None:
    body = _doc()
    body["alerts"][0]["labels"] |= {"priority": "P1", "app": "web", "service": "checkout"}
    body["alerts"][1]["labels"] |= {"level": "info", "app": "web"}
    first, second = _parse(body)
    assert (first.severity, first.service) == (Severity.CRITICAL, "checkout")
    assert (second.severity, second.service) == (Severity.INFO, "web")


def test_url_prefers_generator_then_panel_then_dashboard() -> None:
    body = _doc()
    body["alerts"][0] |= {"generatorURL": "", "dashboardURL": "https://g/d/x", "panelURL": ""}
    body["alerts"][1] |= {"generatorURL": "", "dashboardURL": "https://g/d/x", "panelURL": "p"}
    first, second = _parse(body)
    assert first.url == "https://g/d/x"
    assert second.url == "p"


def test_auto_resolve_after_comes_from_the_options() -> None:
    ttl = timedelta(hours=2)
    alerts = _parse(_doc(), options=SourceOptions(auto_resolve_after=ttl))
    assert {a.auto_resolve_after for a in alerts} == {ttl}
    assert GrafanaSource.default_auto_resolve_after is None


def test_body_without_version_is_accepted_when_it_has_an_org_id() -> None:
    body = _doc()
    del body["version"]
    assert len(_parse(body)) == 2


def test_empty_alert_list_gives_no_alerts() -> None:
    assert _parse(_doc() | {"alerts": []}) == []


def _case(case: str, **options: Any) -> list[Alert]:
    return _parse((FOLDER / f"{case}.json").read_bytes(), options=SourceOptions(**options))


def test_alertmanager_version_4_body_is_accepted() -> None:
    """Grafana 12 sends it through a webhook receiver of an imported Alertmanager config
    (grafana/alerting receivers/webhook/v0mimir1): rejecting it would lose those alerts."""
    alerts = _parse(_doc() | {"version": "4"})
    assert [a.fingerprint for a in alerts] == [a.fingerprint for a in _parse(_doc())]


def test_grafana_8_0_and_later_bodies_of_one_alert_share_its_identity() -> None:
    """Grafana 8.0 sent Alertmanager's template.Data: no orgId, private `__x__` labels. After
    an upgrade the same rule instance (org 1, same public labels) is the same alert."""
    (old,) = _case("grafana8_0_template_data_private_labels")
    (old_resolved,) = _case("grafana8_0_template_data_resolved")
    (new,) = _case("grafana9_same_alert_with_org_id")
    assert old.fingerprint == old_resolved.fingerprint == new.fingerprint
    assert old_resolved.status is Status.RESOLVED
    assert len({old.event_id, old_resolved.event_id, new.event_id}) == 3
    assert old.group_key == new.group_key
    assert not any(key.startswith("__") for key in {*old.labels, *old.annotations})


def test_org_comes_from_the_body_else_the_alert_else_its_annotation_else_1() -> None:
    body = json.loads((FOLDER / "grafana12_imported_alertmanager_webhook_v4.json").read_text())
    (from_annotation,) = _parse(body)
    assert from_annotation.group_key is not None
    assert json.loads(from_annotation.group_key)[1] == 2
    (with_org_2,) = _parse(body | {"orgId": 2})
    (with_org_1,) = _parse(body | {"orgId": 1})
    del body["alerts"][0]["annotations"]["__orgId__"]
    (without,) = _parse(body)
    assert from_annotation.fingerprint == with_org_2.fingerprint
    assert without.fingerprint == with_org_1.fingerprint != with_org_2.fingerprint
    body["alerts"][0]["orgId"] = 2
    assert _parse(body)[0].fingerprint == with_org_2.fingerprint


def test_private_annotations_fill_in_values_only_when_the_body_has_none() -> None:
    (alert,) = _case("grafana12_imported_alertmanager_webhook_v4")
    assert (alert.annotations["value_A"], alert.annotations["value_B"]) == ("48211", "1")
    body = json.loads((FOLDER / "grafana12_imported_alertmanager_webhook_v4.json").read_text())
    body["alerts"][0]["values"] = {"A": 7}
    body["alerts"][0]["annotations"]["__values__"] = "not json"
    assert _parse(body)[0].annotations["value_A"] == "7"
    del body["alerts"][0]["values"]
    assert "value_A" not in _parse(body)[0].annotations


# --- legacy dashboard alerting (Grafana 4 to 10) ----------------------------------------------


def test_legacy_alert_and_its_ok_share_the_fingerprint() -> None:
    (firing,) = _case("legacy_alerting_firing_grafana7")
    (ok,) = _case("legacy_alerting_ok_grafana7")
    assert (firing.status, ok.status) == (Status.FIRING, Status.RESOLVED)
    assert firing.fingerprint == ok.fingerprint
    assert firing.event_id != ok.event_id
    assert ok.ends_at == RECEIVED_AT


def test_legacy_identity_is_server_org_and_rule() -> None:
    body = json.loads((FOLDER / "legacy_alerting_firing_grafana7.json").read_text())
    base = _parse(body)[0].fingerprint
    other_rule = body | {"ruleId": 42}
    other_org = body | {"orgId": 2}
    other_server = body | {"ruleUrl": "https://grafana.eu.example.com/d/k8Qw2pZMz/checkout"}
    renamed = body | {"ruleName": "Checkout errors", "evalMatches": []}
    assert _parse(renamed)[0].fingerprint == base
    for other in (other_rule, other_org, other_server):
        assert _parse(other)[0].fingerprint != base
    sender = SourceOptions(sender="grafana-prod")
    assert (
        _parse(other_server, options=sender)[0].fingerprint
        == _parse(body, options=sender)[0].fingerprint
    )


def test_legacy_org_falls_back_on_the_rule_url() -> None:
    (alert,) = _case("legacy_no_data_grafana4_snake_case")
    body = json.loads((FOLDER / "legacy_no_data_grafana4_snake_case.json").read_text())
    assert _parse(body | {"orgId": 1})[0].fingerprint == alert.fingerprint
    assert _parse(body | {"orgId": 2})[0].fingerprint != alert.fingerprint
    assert alert.status is Status.FIRING
    assert alert.url is not None
    assert alert.url.startswith("http://grafana.internal:3000/")


def test_legacy_pending_state_is_a_422() -> None:
    body = json.loads((FOLDER / "legacy_doc_example_alerting.json").read_text())
    with pytest.raises(ParseError) as caught:
        _parse(body | {"state": "pending"})
    assert caught.value.path == "$.state"


def test_timestamp_out_of_range_in_utc_is_a_422_with_its_path() -> None:
    body = _doc()
    body["alerts"][1]["startsAt"] = "0001-01-01T00:00:00+02:00"
    with pytest.raises(ParseError) as caught:
        _parse(body)
    assert caught.value.path == "$.alerts[1].startsAt"


def test_org_id_beyond_int64_is_a_422() -> None:
    with pytest.raises(ParseError) as caught:
        _parse(_doc() | {"orgId": 2**63})
    assert caught.value.path == "$.orgId"


def test_not_json_is_a_400() -> None:
    with pytest.raises(NotJSON) as caught:
        _parse(b"\xff\xfe not json")
    assert caught.value.status == 400
