"""The Datadog parser on real payload files: identity, state, severity, tags, the template."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentd.errors import InputError, NotJSON, WrongShape
from incidentd.ingest.datadog import DatadogSource
from incidentd.ingest.source import RawWebhook, SourceOptions
from incidentd.model import Alert, Severity, Status

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = ROOT / "tests" / "payloads" / "datadog"
TEMPLATE = ROOT / "config" / "example" / "datadog-webhook-template.json"
RECEIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
VENDOR_LABELS = ("datadog_", "incidentd_")


def parse(body: bytes, *, ttl: timedelta | None = HOUR, sender: str | None = None) -> Alert:
    raw = RawWebhook(
        source="datadog",
        body=body,
        headers={"content-type": "application/json"},
        received_at=RECEIVED_AT,
        options=SourceOptions(auto_resolve_after=ttl, sender=sender),
    )
    alerts = DatadogSource().parse(raw)
    assert len(alerts) == 1
    return alerts[0]


def payload(case: str) -> bytes:
    return (PAYLOADS / f"{case}.json").read_bytes()


UNSCOPED = "[Triggered] Checkout latency high"


def edited(case: str, **changes: Any) -> bytes:
    data = json.loads(payload(case))
    data.update(changes)
    return json.dumps(data).encode()


def tag_labels(alert: Alert) -> dict[str, str]:
    return {k: v for k, v in alert.labels.items() if not k.startswith(VENDOR_LABELS)}


def test_trigger_renotify_and_recovery_of_one_monitor_group_share_the_fingerprint() -> None:
    triggered = parse(payload("rich_triggered_p1"))
    renotified = parse(payload("rich_renotify"))
    recovered = parse(payload("rich_recovered"))
    assert triggered.fingerprint == renotified.fingerprint == recovered.fingerprint
    assert len({triggered.event_id, renotified.event_id, recovered.event_id}) == 3
    assert [a.status for a in (triggered, renotified, recovered)] == [
        Status.FIRING,
        Status.FIRING,
        Status.RESOLVED,
    ]
    assert triggered.ends_at is None
    assert recovered.ends_at == recovered.starts_at == datetime(2025, 11, 28, 15, 55, tzinfo=UTC)


def test_redelivered_notification_is_the_same_event() -> None:
    assert parse(payload("rich_triggered_p1")) == parse(payload("rich_triggered_p1"))


def test_retrigger_after_recovery_is_the_same_alert_in_a_new_event() -> None:
    first = parse(payload("rich_triggered_p1"))
    again = parse(
        edited("rich_triggered_p1", id="7366500000000000001", alert_cycle_key="7366500000000000001")
    )
    assert again.fingerprint == first.fingerprint
    assert again.event_id != first.event_id


def test_cycle_key_is_part_of_the_event_not_of_the_alert() -> None:
    first = parse(payload("rich_triggered_p1"))
    other_cycle = parse(edited("rich_triggered_p1", alert_cycle_key="another-cycle"))
    assert other_cycle.fingerprint == first.fingerprint
    assert other_cycle.event_id != first.event_id


@pytest.mark.parametrize(
    "changes",
    [
        {"alert_scope": "env:prod,host:web-02"},
        {"alert_id": "88123457"},
        {"org": {"id": "2000001", "name": "Acme Corp"}},
        {"alert_scope": "", "alert_title": UNSCOPED},
    ],
)
def test_another_group_monitor_or_org_is_another_alert(changes: dict[str, Any]) -> None:
    base = parse(payload("rich_triggered_p1"))
    assert parse(edited("rich_triggered_p1", **changes)).fingerprint != base.fingerprint


@pytest.mark.parametrize(
    "scope", ["host:web-01,env:prod", "host:web-01, env:prod", " env:prod ,host:web-01"]
)
def test_scope_order_and_spaces_do_not_change_the_fingerprint(scope: str) -> None:
    base = parse(payload("rich_triggered_p1"))
    assert parse(edited("rich_triggered_p1", alert_scope=scope)).fingerprint == base.fingerprint


def test_empty_scope_falls_back_on_the_scope_in_the_title() -> None:
    base = parse(payload("rich_triggered_p1"))
    assert parse(edited("rich_triggered_p1", alert_scope="")).fingerprint == base.fingerprint


def test_title_rename_does_not_change_the_fingerprint_when_the_monitor_id_is_known() -> None:
    base = parse(payload("rich_triggered_p1"))
    renamed = parse(edited("rich_triggered_p1", alert_title="[Triggered] Checkout is slow"))
    assert renamed.fingerprint == base.fingerprint
    assert renamed.name == "Checkout is slow"


def test_a_configured_sender_is_part_of_the_identity() -> None:
    plain = parse(payload("rich_triggered_p1"))
    eu = parse(payload("rich_triggered_p1"), sender="datadog-eu")
    eu_recovered = parse(payload("rich_recovered"), sender="datadog-eu")
    us = parse(payload("rich_triggered_p1"), sender="datadog-us")
    assert len({plain.fingerprint, eu.fingerprint, us.fingerprint}) == 3
    assert eu_recovered.fingerprint == eu.fingerprint


def test_test_notification_is_told_apart_from_the_real_alert_and_expires() -> None:
    real = parse(payload("rich_triggered_p1"))
    test = parse(payload("rich_test_notification"))
    assert test.fingerprint != real.fingerprint
    assert test.labels["datadog_test"] == "true"
    assert test.title.startswith("[TEST] ")
    assert test.name == real.name == "Checkout latency high"
    assert test.auto_resolve_after == HOUR
    assert real.auto_resolve_after is None


def test_test_marker_in_the_event_title_alone_is_enough() -> None:
    body = edited(
        "rich_triggered_p1",
        alert_title="[Triggered on {env:prod,host:web-01}] Checkout latency high",
        event_title="[P1] [Triggered on {env:prod,host:web-01}] [TEST] Checkout latency high",
    )
    assert parse(body).labels["datadog_test"] == "true"


@pytest.mark.parametrize(
    ("priority", "alert_type", "transition", "severity"),
    [
        ("P1", "error", "Triggered", Severity.CRITICAL),
        ("P2", "error", "Triggered", Severity.ERROR),
        ("P3", "error", "Triggered", Severity.WARNING),
        ("P4", "error", "Triggered", Severity.INFO),
        ("P5", "error", "Re-Triggered", Severity.INFO),
        ("p2", "error", "Triggered", Severity.ERROR),
        ("", "error", "Triggered", Severity.ERROR),
        ("", "warning", "Triggered", Severity.WARNING),
        ("", "info", "Triggered", Severity.INFO),
        ("", "", "Triggered", Severity.ERROR),
        ("P1", "warning", "Warn", Severity.WARNING),
        ("P1", "error", "Re-Warn", Severity.WARNING),
        ("P1", "warning", "Renotify", Severity.WARNING),
        ("P5", "warning", "Warn", Severity.INFO),
        ("P1", "success", "Recovered", Severity.CRITICAL),
        ("", "success", "Recovered", Severity.ERROR),
    ],
)
def test_severity_comes_from_priority_then_alert_type(
    priority: str, alert_type: str, transition: str, severity: Severity
) -> None:
    body = edited(
        "rich_triggered_p1",
        alert_priority=priority,
        alert_type=alert_type,
        alert_transition=transition,
        alert_title="Checkout latency high",
    )
    assert parse(body).severity == severity


@pytest.mark.parametrize(
    ("transition", "alert_type", "status", "expires"),
    [
        ("Triggered", "error", Status.FIRING, False),
        ("Re-Triggered", "error", Status.FIRING, False),
        ("Renotify", "error", Status.FIRING, False),
        ("Warn", "warning", Status.FIRING, False),
        ("Re-Warn", "warning", Status.FIRING, False),
        ("No Data", "error", Status.FIRING, True),
        ("Re-No Data", "error", Status.FIRING, True),
        ("Recovered", "success", Status.RESOLVED, False),
        ("", "success", Status.RESOLVED, False),
        ("Escalated", "error", Status.FIRING, False),
        ("Null", "info", Status.FIRING, False),
    ],
)
def test_transition_gives_status_and_auto_resolve(
    transition: str, alert_type: str, status: Status, expires: bool
) -> None:
    body = edited(
        "rich_triggered_p1",
        alert_transition=transition,
        alert_type=alert_type,
        alert_title="Checkout latency high",
    )
    alert = parse(body, ttl=timedelta(minutes=10))
    assert alert.status == status
    assert alert.auto_resolve_after == (timedelta(minutes=10) if expires else None)
    assert (alert.ends_at is not None) == (status == Status.RESOLVED)


def test_no_data_ttl_follows_the_source_options() -> None:
    assert parse(payload("rich_no_data"), ttl=None).auto_resolve_after is None
    assert parse(payload("rich_no_data"), ttl=HOUR * 4).auto_resolve_after == HOUR * 4


@pytest.mark.parametrize(
    ("tags", "labels"),
    [
        ("a:b,c:d,monitor", {"a": "b", "c": "d", "monitor": ""}),
        ("a:b, c:d", {"a": "b", "c": "d"}),
        ("", {}),
        (" , ,", {}),
        ("team:dba,team:storage,team:dba", {"team": "dba,storage"}),
        ("team:storage,team:dba", {"team": "dba,storage"}),
        ("team,team:dba", {"team": "dba"}),
        ("url:https://wiki.example.com/x", {"url": "https://wiki.example.com/x"}),
        (":orphan,ok:1", {"ok": "1"}),
    ],
)
def test_tags_become_labels(tags: str, labels: dict[str, str]) -> None:
    body = edited("rich_triggered_p1", tags=tags, alert_scope="", hostname="", alert_title=UNSCOPED)
    assert tag_labels(parse(body)) == labels


def test_scope_tags_are_labels_too() -> None:
    alert = parse(
        edited(
            "rich_triggered_p1",
            tags="team:payments",
            alert_scope="host:web-09",
            alert_title=UNSCOPED,
        )
    )
    assert tag_labels(alert) == {"host": "web-09", "team": "payments"}


@pytest.mark.parametrize(
    ("tags", "service"),
    [("service:checkout,env:prod", "checkout"), ("service:b,service:a", "b"), ("env:prod", None)],
)
def test_service_is_the_first_service_tag(tags: str, service: str | None) -> None:
    assert parse(edited("rich_triggered_p1", tags=tags)).service == service


def test_hostname_is_the_host_label_only_when_no_host_tag_says_otherwise() -> None:
    untagged = parse(
        edited(
            "rich_triggered_p1", tags="", alert_scope="", hostname="web-07", alert_title=UNSCOPED
        )
    )
    tagged = parse(edited("rich_triggered_p1", tags="host:web-01", hostname="web-07"))
    assert untagged.labels["host"] == "web-07"
    assert tagged.labels["host"] == "web-01"


def test_unquoted_nineteen_digit_id_keeps_every_digit() -> None:
    alert = parse(payload("rich_unquoted_id_number"))
    assert alert.annotations["datadog_id"] == "7366426934473640099"
    assert alert.event_id != parse(payload("rich_triggered_p1")).event_id


def test_default_template_trigger_and_recovery_are_one_low_fidelity_alert() -> None:
    triggered = parse(payload("default_template_triggered"))
    recovered = parse(payload("default_template_recovered"))
    assert triggered.fingerprint == recovered.fingerprint
    assert (triggered.status, recovered.status) == (Status.FIRING, Status.RESOLVED)
    assert triggered.labels["incidentd_fidelity"] == "low"
    assert triggered.labels["host"] == "web-03"
    assert triggered.severity == Severity.ERROR  # [P2]
    assert triggered.name == "Disk almost full"


def test_default_template_takes_the_monitor_from_the_monitor_status_link() -> None:
    """Same identity as the rich template's for the same monitor and group, and a renamed
    monitor stays the same alert."""
    triggered = parse(payload("default_template_triggered"))
    assert triggered.labels["datadog_monitor_id"] == "88120078"
    assert triggered.url == "https://app.datadoghq.com/monitors/88120078?group=host%3Aweb-03"
    assert triggered.group_key == "datadog/1009876/monitor/88120078"
    rich_recovery = parse(payload("custom_event_id_url_alert_type_success"))
    assert rich_recovery.fingerprint == triggered.fingerprint
    data = json.loads(payload("default_template_triggered"))
    data["title"] = "[P2] [Triggered on {host:web-03}] Disk nearly full"
    assert parse(json.dumps(data).encode()).fingerprint == triggered.fingerprint
    data["body"] = data["body"].replace("88120078", "88120079")
    assert parse(json.dumps(data).encode()).fingerprint != triggered.fingerprint


def test_default_template_hosts_are_separate_alerts() -> None:
    data = json.loads(payload("default_template_triggered"))
    data["title"] = "[P2] [Triggered on {host:web-04}] Disk almost full"
    other = parse(json.dumps(data).encode())
    assert other.fingerprint != parse(payload("default_template_triggered")).fingerprint


@pytest.mark.parametrize(
    ("title", "name", "status", "severity", "labels"),
    [
        (
            "[P1] [Triggered on {host:a}] Disk full",
            "Disk full",
            Status.FIRING,
            Severity.CRITICAL,
            {"host": "a"},
        ),
        ("[Recovered] Disk full", "Disk full", Status.RESOLVED, Severity.ERROR, {}),
        (
            "[Warn on {host:a,env:b}] Disk",
            "Disk",
            Status.FIRING,
            Severity.WARNING,
            {"host": "a", "env": "b"},
        ),
        (
            "[P4] [Re-Triggered] [Synthetics] API",
            "[Synthetics] API",
            Status.FIRING,
            Severity.INFO,
            {},
        ),
        (
            "[P2] [Re-Triggered on {@conditions:NOT_SYNCHRONIZED}] Chain",
            "Chain",
            Status.FIRING,
            Severity.ERROR,
            {"@conditions": "NOT_SYNCHRONIZED"},
        ),
        ("[prod] Disk full", "[prod] Disk full", Status.FIRING, Severity.ERROR, {}),
    ],
)
def test_default_template_reads_the_title_prefix(
    title: str, name: str, status: Status, severity: Severity, labels: dict[str, str]
) -> None:
    data = json.loads(payload("default_template_triggered"))
    data["title"] = title
    alert = parse(json.dumps(data).encode())
    assert (alert.name, alert.status, alert.severity) == (name, status, severity)
    assert tag_labels(alert) == labels


def test_default_template_no_data_expires() -> None:
    data = json.loads(payload("default_template_triggered"))
    data["title"] = "[No Data on {queue:orders}] Heartbeat"
    assert parse(json.dumps(data).encode()).auto_resolve_after == HOUR


def test_real_test_notification_is_a_low_fidelity_test_that_expires() -> None:
    alert = parse(payload("default_template_test_notification_real"))
    assert alert.name == "Host Cluster Alert"
    assert alert.title == "[TEST] Host Cluster Alert"
    assert alert.labels["datadog_test"] == "true"
    assert alert.labels["incidentd_fidelity"] == "low"
    assert alert.starts_at == datetime(2020, 6, 3, 20, 43, 5, tzinfo=UTC)
    assert alert.auto_resolve_after == HOUR
    assert alert.annotations["message"].startswith("@webhook-relay-test")


def test_a_partial_template_is_read_at_low_fidelity() -> None:
    """Datadog sends whatever template the user wrote: the default payload plus two of our
    keys is still a notification of monitor 88123456."""
    alert = parse(payload("default_template_plus_transition_and_monitor_id"))
    assert alert.labels["incidentd_fidelity"] == "low"
    assert alert.labels["datadog_monitor_id"] == "88123456"
    assert alert.labels["host"] == "web-01"  # the scope of the title prefix
    assert alert.status is Status.FIRING


def test_missing_org_id_is_an_empty_org_at_low_fidelity() -> None:
    data = json.loads(payload("rich_triggered_p1"))
    data["org"] = {"name": "Acme Corp"}
    alert = parse(json.dumps(data).encode())
    assert alert.labels["incidentd_fidelity"] == "low"
    assert alert.fingerprint != parse(payload("rich_triggered_p1")).fingerprint
    assert alert.fingerprint == parse(payload("rich_org_without_id")).fingerprint


def test_tags_as_a_list_are_the_same_labels_as_the_string() -> None:
    listed = parse(payload("rich_tags_as_list"))
    assert listed.labels == parse(payload("rich_triggered_p1")).labels
    assert listed.fingerprint == parse(payload("rich_triggered_p1")).fingerprint


@pytest.mark.parametrize(
    ("case", "monitor", "status"),
    [
        ("custom_alertnow_camel_case", "88120311", Status.FIRING),
        ("custom_nested_alert_object_recovered", "4401177", Status.RESOLVED),
        ("custom_metadata_upper_case_no_org", "88120422", Status.FIRING),
        ("custom_event_id_url_alert_type_success", "88120078", Status.RESOLVED),
        ("custom_no_id_no_date_no_org", "88120533", Status.FIRING),
    ],
)
def test_published_third_party_templates_are_read(case: str, monitor: str, status: Status) -> None:
    alert = parse(payload(case))
    assert alert.labels["datadog_monitor_id"] == monitor
    assert alert.labels["incidentd_fidelity"] == "low"
    assert alert.status is status


def test_our_key_wins_over_an_alias_whatever_the_order() -> None:
    data = json.loads(payload("custom_event_id_url_alert_type_success"))
    data = {"transition": "Triggered", **data}
    assert parse(json.dumps(data).encode()).status is Status.RESOLVED


def test_without_id_and_date_each_delivery_is_its_own_event() -> None:
    alert = parse(payload("custom_no_id_no_date_no_org"))
    assert alert.starts_at == RECEIVED_AT
    raw = RawWebhook(
        source="datadog",
        body=payload("custom_no_id_no_date_no_org"),
        headers={},
        received_at=RECEIVED_AT + timedelta(minutes=1),
        options=SourceOptions(auto_resolve_after=HOUR),
    )
    (later,) = DatadogSource().parse(raw)
    assert later.fingerprint == alert.fingerprint
    assert later.event_id != alert.event_id


def test_a_value_of_the_wrong_type_is_named_by_its_path_in_the_body() -> None:
    data = json.loads(payload("custom_nested_alert_object_recovered"))
    data["alert"]["id"] = {"monitor": 1}
    with pytest.raises(WrongShape) as caught:
        parse(json.dumps(data).encode())
    assert caught.value.path == "$.alert.id"


@pytest.mark.parametrize(
    ("date", "reason"),
    [
        ("99999999999999999", "epoch milliseconds"),
        ("9999999999999999", "out of range"),
        ("-1", "epoch milliseconds"),
        ("", "epoch milliseconds"),
        (1.5e12, "epoch milliseconds"),
        (True, "epoch milliseconds"),
    ],
)
def test_bad_dates_are_rejected_with_their_path(date: object, reason: str) -> None:
    with pytest.raises(WrongShape) as caught:
        parse(edited("rich_triggered_p1", date=date))
    assert caught.value.path == "$.date"
    assert reason in caught.value.message


def test_form_encoded_body_is_not_json() -> None:
    with pytest.raises(NotJSON):
        parse(payload("error_form_encoded_body"))


def _render(template: str, values: dict[str, str]) -> bytes:
    """What Datadog does: each $VARIABLE replaced by its JSON-escaped value."""
    return re.sub(r"\$([A-Z_]+)", lambda m: json.dumps(values[m[1]])[1:-1], template).encode()


def test_published_template_quotes_every_variable_and_carries_every_required_key() -> None:
    template = json.loads(TEMPLATE.read_text())
    leaves = [v for k, v in template.items() if k != "org"] + list(template["org"].values())
    assert all(isinstance(v, str) and re.fullmatch(r"\$[A-Z_]+", v) for v in leaves)
    required = ("id", "date", "org", "alert_id", "alert_scope", "alert_transition", "alert_type")
    required += ("alert_priority", "alert_title", "tags", "alert_cycle_key", "link", "hostname")
    assert set(required) <= set(template)


def test_published_template_renders_to_a_body_we_accept_even_with_empty_variables() -> None:
    names = set(re.findall(r"\$([A-Z_]+)", TEMPLATE.read_text()))
    empty = dict.fromkeys(names, "") | {"ID": "7366426934473640062", "DATE": "1764339120000"}
    empty |= {"ORG_ID": "1009876", "ALERT_TRANSITION": "Triggered"}
    alert = parse(_render(TEMPLATE.read_text(), empty))
    assert alert.status == Status.FIRING
    assert alert.severity == Severity.ERROR
    assert alert.url is None
    assert alert.labels == {}


def test_published_template_renders_the_shipped_payloads() -> None:
    """The rich payload files are renderings of the published template, key for key."""
    template_keys = set(json.loads(TEMPLATE.read_text()))
    assert set(json.loads(payload("rich_triggered_p1"))) == template_keys


def test_never_raises_anything_but_input_errors_on_a_non_object() -> None:
    for body in (b"[]", b"null", b"42", b'"x"', b""):
        with pytest.raises(InputError):
            parse(body)
