"""The Alertmanager parser on bodies captured from the real Alertmanager 0.25 (and edits of them).

The golden files pin every field of every case (tests/unit/test_payloads.py); these tests
pin the relations between cases that the golden files cannot show on their own: identity
across firing and resolve, event ids across redeliveries, and each mapping rule.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from incidentd.errors import InputError, WrongShape
from incidentd.ingest.alertmanager import (
    TRUNCATED_ANNOTATION,
    AlertmanagerSource,
    unquote_meta,
)
from incidentd.ingest.registry import SOURCES
from incidentd.ingest.source import RawWebhook, SourceOptions
from incidentd.model import ALERT_BATCH, Alert, Severity, Status

CAPTURES = Path(__file__).resolve().parent.parent / "payloads" / "alertmanager"
RECEIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)
SOURCE = AlertmanagerSource()


def body(case: str) -> dict[str, Any]:
    return json.loads((CAPTURES / f"{case}.json").read_bytes())  # type: ignore[no-any-return]


def parse(payload: dict[str, Any] | bytes, **options: Any) -> list[Alert]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    raw = RawWebhook(
        source="alertmanager",
        body=data,
        headers={},
        received_at=RECEIVED_AT,
        options=SourceOptions(**options),
    )
    return SOURCE.parse(raw)


def capture(case: str) -> list[Alert]:
    return parse((CAPTURES / f"{case}.json").read_bytes())


def severity_of(labels: dict[str, str]) -> Severity:
    """The severity the parser gives an alert with these labels."""
    note = body("single_firing")
    note["alerts"][0]["labels"] = labels
    return parse(note)[0].severity


def by_instance(alerts: list[Alert]) -> dict[str, Alert]:
    return {a.labels["instance"]: a for a in alerts}


def test_registered_under_its_name() -> None:
    assert isinstance(SOURCES["alertmanager"], AlertmanagerSource)
    assert SOURCE.name == "alertmanager"
    assert SOURCE.default_auto_resolve_after is None


def test_one_alert_per_entry_and_the_resolve_keeps_the_fingerprint() -> None:
    [firing] = capture("single_firing")
    [resolved] = capture("single_resolved")
    assert (firing.status, resolved.status) == (Status.FIRING, Status.RESOLVED)
    assert firing.fingerprint == resolved.fingerprint
    assert firing.event_id != resolved.event_id
    assert firing.ends_at is None
    assert resolved.ends_at == datetime.fromisoformat(
        body("single_resolved")["alerts"][0]["endsAt"]
    )


def test_a_firing_group_carrying_a_resolved_alert_is_read_per_alert() -> None:
    note = body("group_mixed_firing_resolved")
    assert note["status"] == "firing"
    alerts = by_instance(capture("group_mixed_firing_resolved"))
    assert {k: a.status for k, a in alerts.items()} == {
        "host-a": Status.RESOLVED,
        "host-b": Status.FIRING,
        "host-c": Status.FIRING,
    }
    assert alerts["host-a"].ends_at is not None
    assert alerts["host-b"].ends_at is None


def test_identity_holds_across_the_group_notifications() -> None:
    first = by_instance(capture("group_firing"))
    mixed = by_instance(capture("group_mixed_firing_resolved"))
    last = by_instance(capture("group_all_resolved"))
    assert len({a.fingerprint for a in first.values()}) == 3
    for host in ("host-a", "host-b", "host-c"):
        assert mixed[host].fingerprint == first[host].fingerprint
    for host in ("host-b", "host-c"):
        assert last[host].fingerprint == first[host].fingerprint
        # still firing in the second notification: the same report again, same event id
        assert mixed[host].event_id == first[host].event_id
        assert last[host].event_id != first[host].event_id
    assert mixed["host-a"].event_id != first["host-a"].event_id


def test_redelivery_gives_the_same_alerts() -> None:
    raw = (CAPTURES / "group_mixed_firing_resolved.json").read_bytes()
    assert parse(raw) == parse(raw)


def test_fingerprint_is_the_label_set_of_one_sender() -> None:
    note = body("single_firing")
    [base] = parse(note)

    other = copy.deepcopy(note)
    alert = other["alerts"][0]
    alert["fingerprint"] = "0000000000000000"
    alert["annotations"] = {"summary": "changed"}
    alert["status"], alert["endsAt"] = "resolved", "2026-11-28T16:30:00Z"
    alert["labels"] = dict(reversed(alert["labels"].items()))
    other["receiver"], other["groupKey"] = "another", "{}:{}"
    assert parse(other)[0].fingerprint == base.fingerprint

    relabelled = copy.deepcopy(note)
    relabelled["alerts"][0]["labels"]["instance"] = "web-02:9100"
    assert parse(relabelled)[0].fingerprint != base.fingerprint

    elsewhere = copy.deepcopy(note)
    elsewhere["externalURL"] = "http://alertmanager-eu.example:9093"
    assert parse(elsewhere)[0].fingerprint != base.fingerprint

    [slash] = capture("edited_external_url_trailing_slash")
    assert slash.fingerprint == base.fingerprint


def test_alertmanager_fingerprint_is_not_trusted() -> None:
    # host-c and host-d carry the same Alertmanager fingerprint in this edited body
    alerts = by_instance(capture("edited_fractional_digits_and_offsets"))
    assert alerts["host-c"].fingerprint != alerts["host-d"].fingerprint
    assert all("fingerprint" not in a.labels for a in alerts.values())


def test_event_id_does_not_depend_on_how_the_instant_is_written() -> None:
    note = body("single_resolved")
    [base] = parse(note)
    alert = note["alerts"][0]
    start = datetime.fromisoformat(alert["startsAt"]).astimezone(timezone(timedelta(hours=-5)))
    alert["startsAt"] = start.isoformat()
    alert["endsAt"] = alert["endsAt"].replace("Z", "000Z")
    assert parse(note)[0].event_id == base.event_id
    alert["startsAt"] = "2026-11-28T15:57:22.510Z"
    assert parse(note)[0].event_id != base.event_id


def test_event_id_of_a_firing_alert_ignores_its_end() -> None:
    [zero] = capture("single_firing")
    [future] = capture("edited_firing_with_future_ends_at")
    assert future.event_id == zero.event_id
    assert future.ends_at is None


def test_resolved_without_end_uses_received_at_and_stays_one_report() -> None:
    [first] = capture("edited_resolved_without_ends_at")
    raw = (CAPTURES / "edited_resolved_without_ends_at.json").read_bytes()
    later = SOURCE.parse(
        RawWebhook("alertmanager", raw, {}, RECEIVED_AT + timedelta(minutes=5), SourceOptions())
    )[0]
    assert first.ends_at == RECEIVED_AT
    assert later.ends_at == RECEIVED_AT + timedelta(minutes=5)
    assert later.event_id == first.event_id


def test_labels_are_exactly_the_alerts_and_escapes_are_decoded() -> None:
    [alert] = capture("escaped_unicode_and_html")
    wire = body("escaped_unicode_and_html")["alerts"][0]
    assert alert.labels == wire["labels"]
    assert alert.labels["route"] == "/api/cart?id=1&x=<2>"
    assert b"\\u003c2\\u003e" in (CAPTURES / "escaped_unicode_and_html.json").read_bytes()
    assert alert.title == "Taux d'erreur > 5 % sur <checkout> & “panier” 日本語 🚨"
    assert alert.url == "http://prometheus.example:9090/graph?g0.expr=a%3Eb&x=<y>"


def test_group_key_names_the_sender_the_unescaped_receiver_and_the_group() -> None:
    note = body("receiver_regex_metachars")
    assert note["receiver"] == r"db\.pager \(prod\)"
    [alert] = parse(note)
    assert alert.group_key is not None
    assert json.loads(alert.group_key) == [
        "http://alertmanager.example:9093",
        "db.pager (prod)",
        '{}/{team="db"}:{alertname="ReplicationLag", cluster="eu-1"}',
    ]
    other_receiver = {**note, "receiver": "db-oncall"}
    other_cluster = {**note, "externalURL": "http://am-us.example:9093"}
    keys = {alert.group_key, parse(other_receiver)[0].group_key, parse(other_cluster)[0].group_key}
    assert len(keys) == 3
    assert parse({**note, "groupKey": ""})[0].group_key is None


@pytest.mark.parametrize(
    ("quoted", "name"),
    [
        (r"db\.pager \(prod\)", "db.pager (prod)"),
        (r"a\\b", "a\\b"),
        (r"\^\$\*\+\?\{\}\[\]\|", "^$*+?{}[]|"),
        ("plain-name", "plain-name"),
    ],
)
def test_unquote_meta(quoted: str, name: str) -> None:
    assert unquote_meta(quoted) == name


def test_truncated_alerts_are_announced_on_every_alert_kept() -> None:
    alerts = capture("truncated_firing")
    assert body("truncated_firing")["truncatedAlerts"] == 3
    assert len(alerts) == 2
    assert {a.annotations[TRUNCATED_ANNOTATION] for a in alerts} == {"3"}
    assert all(TRUNCATED_ANNOTATION not in a.annotations for a in capture("group_firing"))


SEVERITIES = {
    Severity.CRITICAL: ["critical", "crit", "page", "p1", "fatal", "emergency", " CRITICAL "],
    Severity.ERROR: ["error", "err", "high", "major", "p2", "P2"],
    Severity.WARNING: ["warning", "warn", "medium", "minor", "p3", "bogus", ""],
    Severity.INFO: ["info", "low", "none", "ok", "p4", "p5", "Info"],
}


@pytest.mark.parametrize(
    ("value", "expected"), [(v, sev) for sev, values in SEVERITIES.items() for v in values]
)
@pytest.mark.parametrize("label", ["severity", "priority", "level"])
def test_severity_map(label: str, value: str, expected: Severity) -> None:
    assert severity_of({"alertname": "X", label: value}) == expected


def test_severity_label_order_and_fall_through() -> None:
    assert severity_of({"severity": "info", "priority": "p1", "level": "error"}) == Severity.INFO
    assert severity_of({"severity": "sev-9", "priority": "p1"}) == Severity.CRITICAL
    assert severity_of({"priority": "urgent", "level": "low"}) == Severity.INFO
    assert severity_of({"alertname": "X"}) == Severity.WARNING
    variants = capture("edited_severity_variants")
    assert [a.severity for a in variants] == [Severity.CRITICAL, Severity.INFO, Severity.CRITICAL]


@pytest.mark.parametrize(
    ("labels", "service"),
    [
        (
            {"service": "checkout", "app": "a", "app_kubernetes_io_name": "k", "job": "j"},
            "checkout",
        ),
        ({"service": " ", "app": "a", "app_kubernetes_io_name": "k", "job": "j"}, "a"),
        ({"app_kubernetes_io_name": "k", "job": "j"}, "k"),
        ({"job": "node"}, "node"),
        ({"instance": "x"}, None),
    ],
)
def test_service_label_order(labels: dict[str, str], service: str | None) -> None:
    note = body("single_firing")
    note["alerts"][0]["labels"] = {"alertname": "X", **labels}
    assert parse(note)[0].service == service


@pytest.mark.parametrize(
    ("annotations", "title"),
    [
        ({"summary": "S", "title": "T", "description": "D"}, "S"),
        ({"summary": " \n", "title": "T", "description": "D"}, "T"),
        ({"description": "\n  first line  \nsecond"}, "first line"),
        ({"runbook_url": "http://x"}, "HighCPU (instance=web-01:9100, job=node, service=checkout)"),
        ({"summary": "x" * 500}, "x" * 199 + "…"),
        ({}, "HighCPU (instance=web-01:9100, job=node, service=checkout)"),
    ],
)
def test_title(annotations: dict[str, str], title: str) -> None:
    note = body("single_firing")
    note["alerts"][0]["annotations"] = annotations
    assert parse(note)[0].title == title


def test_title_from_labels_is_one_line() -> None:
    note = body("single_firing")
    note["alerts"][0]["annotations"] = {}
    note["alerts"][0]["labels"] = {"alertname": "Odd", "reason": "two\nlines\t here"}
    assert parse(note)[0].title == "Odd (reason=two lines here)"


def test_missing_alertname() -> None:
    [alert] = capture("edited_no_alertname")
    assert alert.name == "unnamed"
    assert alert.title == "unnamed (device=sda1, instance=host-a, mountpoint=/var)"
    assert "alertname" not in alert.labels


def test_missing_optional_fields_change_nothing_that_identifies() -> None:
    [full] = capture("single_firing")
    [bare] = capture("edited_missing_optional_fields")
    assert (bare.fingerprint, bare.event_id, bare.group_key) == (
        full.fingerprint,
        full.event_id,
        full.group_key,
    )
    assert (bare.url, bare.annotations) == (None, {})
    assert capture("edited_null_annotations_url_endsat")[0].url is None


def test_empty_generator_url_is_none() -> None:
    assert body("group_firing")["alerts"][0]["generatorURL"] == ""
    assert {a.url for a in capture("group_firing")} == {None}


def test_auto_resolve_after_comes_from_the_options() -> None:
    raw = (CAPTURES / "single_firing.json").read_bytes()
    assert parse(raw)[0].auto_resolve_after is None
    ttl = timedelta(hours=4)
    assert parse(raw, auto_resolve_after=ttl)[0].auto_resolve_after == ttl


def test_headers_do_not_change_the_result() -> None:
    raw = (CAPTURES / "single_firing.json").read_bytes()
    headers = json.loads((CAPTURES / "single_firing.headers.json").read_text())
    assert headers["user-agent"] == "Alertmanager/0.25.0"
    with_headers = SOURCE.parse(
        RawWebhook("alertmanager", raw, headers, RECEIVED_AT, SourceOptions())
    )
    assert with_headers == parse(raw)


def test_empty_alert_list_is_accepted() -> None:
    assert capture("edited_empty_alerts") == []


@pytest.mark.parametrize(
    ("version", "org_id", "contains"),
    [
        ("1", 1, "/webhooks/grafana"),
        ("1", None, "/webhooks/grafana"),
        ("2", 7, "/webhooks/grafana"),
        ("5", None, "unsupported version '5'"),
        ("", None, "unsupported version ''"),
    ],
)
def test_only_version_4(version: str, org_id: int | None, contains: str) -> None:
    note = body("single_firing") | {"version": version}
    if org_id is not None:
        note["orgId"] = org_id
    with pytest.raises(WrongShape) as caught:
        parse(note)
    assert (caught.value.status, caught.value.path) == (422, "$.version")
    assert contains in caught.value.message


def test_version_4_with_an_org_id_is_still_alertmanager() -> None:
    assert len(parse(body("single_firing") | {"orgId": 1})) == 1


def test_not_json_is_a_400() -> None:
    with pytest.raises(InputError) as caught:
        parse(b"")
    assert caught.value.status == 400


def test_every_capture_survives_the_queue() -> None:
    for path in sorted(CAPTURES.glob("*.json")):
        if path.name.count(".") != 1 or (CAPTURES / f"{path.stem}.error.json").exists():
            continue
        alerts = capture(path.stem)
        assert ALERT_BATCH.validate_json(ALERT_BATCH.dump_json(alerts)) == alerts


def _start_of(starts_at: str) -> datetime:
    note = body("single_firing")
    note["alerts"][0]["startsAt"] = starts_at
    return parse(note)[0].starts_at


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-11-28T15:57:22.9999999Z", datetime(2026, 11, 28, 15, 57, 22, 999999, tzinfo=UTC)),
        ("2026-11-28T23:59:59.999999999Z", datetime(2026, 11, 28, 23, 59, 59, 999999, tzinfo=UTC)),
        (
            "2026-11-28T17:57:22.1234565+02:00",
            datetime(2026, 11, 28, 15, 57, 22, 123456, tzinfo=UTC),
        ),
        ("2026-11-28T15:57:22.5-0130", datetime(2026, 11, 28, 17, 27, 22, 500000, tzinfo=UTC)),
        ("2026-11-28t15:57:22z", datetime(2026, 11, 28, 15, 57, 22, tzinfo=UTC)),
        ("2026-11-28 15:57:22Z", datetime(2026, 11, 28, 15, 57, 22, tzinfo=UTC)),
    ],
)
def test_digits_past_the_microsecond_are_dropped_not_rounded(text: str, instant: datetime) -> None:
    assert _start_of(text) == instant


@pytest.mark.parametrize(
    "text",
    [
        "1700000000",  # epoch seconds in a string: not RFC 3339, not guessed
        "2026-11-28T15:57Z",
        "2026-11-28T15:57:22,5Z",
        "2026-11-28_15:57:22Z",
        "2026-11-28",
        "2026-11-28T15:57:22.123456garbageZ",
        "2026-11-28T15:57:22.12345678",
        "",
    ],
)
def test_timestamps_are_rfc3339_with_an_offset(text: str) -> None:
    with pytest.raises(WrongShape) as caught:
        _start_of(text)
    assert (caught.value.status, caught.value.path) == (422, "$.alerts[0].startsAt")


@pytest.mark.parametrize(
    ("value", "found"), [(1.5, "`float`"), (10**20, "`float`"), (True, "`bool`"), ([], "`array`")]
)
def test_a_bad_label_value_is_named_by_its_key(value: object, found: str) -> None:
    note = body("single_firing")
    note["alerts"][0]["labels"] = {"alertname": "X", "good": "1", "bad": value, "later": 2}
    with pytest.raises(WrongShape) as caught:
        parse(note)
    assert caught.value.path == "$.alerts[0].labels.bad"
    assert caught.value.message.endswith(f"Expected `str`, got {found}")


def test_a_grafana_body_is_told_so_even_when_its_alerts_do_not_fit() -> None:
    note = body("single_firing") | {"version": "1", "orgId": 1}
    note["alerts"][0]["labels"]["value"] = 44.2
    with pytest.raises(WrongShape) as caught:
        parse(note)
    assert caught.value.path == "$.version"
    assert "/webhooks/grafana" in caught.value.message


@pytest.mark.parametrize(
    "data",
    [
        b'{"version":"4","alerts":[],"x":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"version":"4","alerts":[],"receiver":"a\xffb"}',
    ],
    ids=["nested-too-deeply", "not-utf-8"],
)
def test_bodies_json_cannot_read_are_a_400(data: bytes) -> None:
    with pytest.raises(InputError) as caught:
        parse(data)
    assert caught.value.status == 400


def _from_a_deeper_stack(frames: int, call: Any) -> Any:
    """`call()` made `frames` Python frames deeper than here (the consumer's stack is not the
    request handler's)."""
    return call() if frames == 0 else _from_a_deeper_stack(frames - 1, call)


@pytest.mark.parametrize("depth", [150, 300, 700, 860])
def test_check_and_parse_agree_on_deep_nesting_whatever_the_callers_stack(depth: int) -> None:
    """msgspec's nesting limit is what is left of the stack: without a fixed limit, a body
    nested ~850 deep in an ignored field passed `check` (202) and failed `parse` in the
    consumer, its alerts lost. Both now answer the same from any depth of caller."""
    data = b'{"version":"4","alerts":[],"x":' + b"[" * depth + b"]" * depth + b"}"
    raw = RawWebhook("alertmanager", data, {}, datetime(2026, 3, 2, tzinfo=UTC))
    source = SOURCES["alertmanager"]
    outcomes = []
    for frames in (0, 300):
        try:
            outcomes.append(("check", _from_a_deeper_stack(frames, lambda: source.check(raw))))
        except InputError as exc:
            outcomes.append(("check", exc.status))
        try:
            outcomes.append(("parse", len(_from_a_deeper_stack(frames, lambda: source.parse(raw)))))
        except InputError as exc:
            outcomes.append(("parse", exc.status))
    expected = 0 if depth <= 300 else 400  # accepted (no alerts), or nested too deeply
    assert outcomes == [("check", expected), ("parse", expected)] * 2
