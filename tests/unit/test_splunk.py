"""The Splunk parser on real payload files: identity across runs, severity, time, labels."""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentd.errors import WrongShape
from incidentd.ingest.source import RawWebhook, SourceOptions
from incidentd.ingest.splunk import SplunkSource
from incidentd.model import Alert, Severity, Status

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "splunk"
RECEIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def parse(body: bytes, *, ttl: timedelta | None = HOUR, sender: str | None = None) -> Alert:
    raw = RawWebhook(
        source="splunk",
        body=body,
        headers={"content-type": "application/json", "user-agent": "Splunk"},
        received_at=RECEIVED_AT,
        options=SourceOptions(auto_resolve_after=ttl, sender=sender),
    )
    alerts = SplunkSource().parse(raw)
    assert len(alerts) == 1
    return alerts[0]


def payload(case: str) -> bytes:
    return (PAYLOADS / f"{case}.json").read_bytes()


def edited(case: str, result: dict[str, Any] | None = None, **changes: Any) -> bytes:
    data = json.loads(payload(case))
    data.update(changes)
    if result is not None:
        data["result"] = {**data["result"], **result}
    return json.dumps(data).encode()


def webhook_py(**settings: Any) -> bytes:
    """The body exactly as Splunk's alert_webhook bin/webhook.py builds and posts it."""
    body = OrderedDict(
        sid=settings.get("sid"),
        search_name=settings.get("search_name"),
        app=settings.get("app"),
        owner=settings.get("owner"),
        results_link=settings.get("results_link"),
        result=settings.get("result"),
    )
    return json.dumps(body).encode()


def test_next_scheduled_run_is_the_same_alert_in_a_new_event() -> None:
    first = parse(payload("scheduled_search_webhook_py"))
    second = parse(payload("scheduled_search_next_run"))
    assert first.fingerprint == second.fingerprint
    assert first.event_id != second.event_id


def test_same_run_delivered_twice_is_one_event() -> None:
    assert parse(payload("scheduled_search_webhook_py")) == parse(
        payload("scheduled_search_webhook_py")
    )


SHC_GUID = "792DCE67-808E-4AE2-B026-0EE345D04AD5"


@pytest.mark.parametrize(
    ("first", "second", "name"),
    [
        (
            "scheduler__admin__search__RMD5a1d6b0cbd6c6f5c4_at_1764339000_1042",
            "scheduler__admin__search__RMD5a1d6b0cbd6c6f5c4_at_1764339300_1043",
            "scheduler__admin__search__RMD5a1d6b0cbd6c6f5c4",
        ),
        (
            "scheduler_admin_search_W2_at_14232356_132",
            "scheduler_admin_search_W2_at_14232656_140",
            "scheduler_admin_search_W2",
        ),
        (
            "rt_scheduler__admin__search__RMD582e21fd1bdd5c96f_at_1659705853_1.1",
            "rt_scheduler__admin__search__RMD582e21fd1bdd5c96f_at_1659705853_2.7",
            "rt_scheduler__admin__search__RMD582e21fd1bdd5c96f",
        ),
        (
            f"rt_scheduler__marvli_U1ZWX3ZlZ2thcnQ__TGest_at_1495187518_18226.795_{SHC_GUID}",
            "rt_scheduler__marvli_U1ZWX3ZlZ2thcnQ__TGest_at_1495187818_18301.12_1A2B3C4D-0E",
            "rt_scheduler__marvli_U1ZWX3ZlZ2thcnQ__TGest",
        ),
        (
            "scheduler__admin__search__look_at_me_at_1_1",
            "scheduler__admin__search__look_at_me_at_2_9",
            "scheduler__admin__search__look_at_me",
        ),
    ],
)
def test_without_search_name_the_sid_minus_its_run_suffix_is_the_identity(
    first: str, second: str, name: str
) -> None:
    one = parse(edited("webhook_doc_example", sid=first))
    two = parse(edited("webhook_doc_example", sid=second))
    assert one.fingerprint == two.fingerprint
    assert one.event_id != two.event_id
    assert one.name == two.name == name


def test_ad_hoc_sids_have_no_stable_part_so_each_run_is_its_own_alert() -> None:
    one = parse(edited("missing_result_and_link", sid="1764339840.4521"))
    two = parse(edited("missing_result_and_link", sid="1764339900.4522"))
    assert one.fingerprint != two.fingerprint
    assert one.name == "1764339840.4521"


def test_search_name_wins_over_the_sid() -> None:
    named = parse(edited("webhook_doc_example", search_name="Mongo errors"))
    renamed_sid = parse(
        edited("webhook_doc_example", search_name="Mongo errors", sid="other_at_1_1")
    )
    assert named.name == "Mongo errors"
    assert named.fingerprint == renamed_sid.fingerprint


@pytest.mark.parametrize(
    ("changes", "result"),
    [
        ({}, {"host": "web-02"}),
        ({}, {"service": "cart"}),
        ({}, {"sourcetype": "nginx:error"}),
        ({"search_name": "Cart 5xx errors"}, {}),
        ({"app": "itops"}, {}),
        ({"owner": "bob"}, {}),
        ({"results_link": "https://splunk-sh02.example.com:8000/app/search/@go?sid=x"}, {}),
        ({"results_link": None}, {}),
    ],
)
def test_what_is_wrong_and_who_says_it_are_the_identity(
    changes: dict[str, Any], result: dict[str, Any]
) -> None:
    base = parse(payload("scheduled_search_webhook_py"))
    other = parse(edited("scheduled_search_webhook_py", result, **changes))
    assert other.fingerprint != base.fingerprint


@pytest.mark.parametrize(
    ("changes", "result"),
    [
        ({}, {"count": "9000", "_time": "1764400000", "message": "other", "severity": "low"}),
        ({"sid": "scheduler__admin__search__RMD5a1d6b0cbd6c6f5c4_at_1764400000_7"}, {}),
        ({"results_link": "http://SPLUNK-SH01.example.com:8089/en-US/app/search/search?sid=y"}, {}),
    ],
)
def test_measurements_time_run_and_link_path_are_not_the_identity(
    changes: dict[str, Any], result: dict[str, Any]
) -> None:
    base = parse(payload("scheduled_search_webhook_py"))
    assert parse(edited("scheduled_search_webhook_py", result, **changes)).fingerprint == (
        base.fingerprint
    )


def test_incidentd_key_replaces_the_default_identity_fields() -> None:
    keyed = {"incidentd_key": "checkout/eu"}
    one = parse(edited("scheduled_search_webhook_py", keyed | {"host": "web-01"}))
    two = parse(edited("scheduled_search_webhook_py", keyed | {"host": "web-02"}))
    other = parse(edited("scheduled_search_webhook_py", {"incidentd_key": "checkout/us"}))
    empty = parse(edited("scheduled_search_webhook_py", {"incidentd_key": ""}))
    assert one.fingerprint == two.fingerprint != other.fingerprint
    assert empty.fingerprint == parse(payload("scheduled_search_webhook_py")).fingerprint
    assert one.title == "Checkout 5xx errors (incidentd_key=checkout/eu)"


def test_a_configured_sender_replaces_the_results_link_host() -> None:
    """A search head cluster: members link to themselves; `sender` pins the identity."""
    member_1 = edited("scheduled_search_webhook_py", results_link="https://sh1:8000/app/x")
    member_2 = edited("scheduled_search_webhook_py", results_link="https://sh2:8000/app/x")
    assert parse(member_1).fingerprint != parse(member_2).fingerprint
    pinned_1 = parse(member_1, sender="splunk-prod")
    pinned_2 = parse(member_2, sender="splunk-prod")
    assert pinned_1.fingerprint == pinned_2.fingerprint
    assert pinned_1.fingerprint != parse(member_1, sender="splunk-test").fingerprint
    assert pinned_2.labels["splunk_server"] == "sh2"


def test_malformed_results_link_names_no_server_but_is_kept_as_url() -> None:
    alert = parse(edited("scheduled_search_webhook_py", results_link="http://[::1/app"))
    assert "splunk_server" not in alert.labels
    assert alert.url == "http://[::1/app"


@pytest.mark.parametrize(
    ("fields", "severity"),
    [
        ({"urgency": "critical"}, Severity.CRITICAL),
        ({"urgency": "HIGH"}, Severity.ERROR),
        ({"severity": "medium"}, Severity.WARNING),
        ({"severity": "warn"}, Severity.WARNING),
        ({"priority": "low"}, Severity.INFO),
        ({"priority": "informational"}, Severity.INFO),
        ({"severity": "error"}, Severity.ERROR),
        ({"urgency": "critical", "severity": "low"}, Severity.CRITICAL),
        ({"urgency": "unknown", "severity": "high"}, Severity.ERROR),
        ({"severity": "5"}, Severity.WARNING),
        ({"severity": ""}, Severity.WARNING),
        ({"priority": ["low", "critical"]}, Severity.INFO),
        ({}, Severity.WARNING),
    ],
)
def test_severity_comes_from_urgency_then_severity_then_priority(
    fields: dict[str, Any], severity: Severity
) -> None:
    body = webhook_py(sid="scheduler__a__b__c_at_1_1", search_name="s", result=fields)
    assert parse(body).severity == severity


@pytest.mark.parametrize(
    ("time", "starts_at"),
    [
        ("1764339659", datetime(2025, 11, 28, 14, 20, 59, tzinfo=UTC)),
        ("1764339659.873421", datetime(2025, 11, 28, 14, 20, 59, 873421, tzinfo=UTC)),
        ("1764339659.1", datetime(2025, 11, 28, 14, 20, 59, 100000, tzinfo=UTC)),
        ("1764339659.123456789", datetime(2025, 11, 28, 14, 20, 59, 123456, tzinfo=UTC)),
        (" 1764339659 ", datetime(2025, 11, 28, 14, 20, 59, tzinfo=UTC)),
        (["1764339659", "1764339000"], datetime(2025, 11, 28, 14, 20, 59, tzinfo=UTC)),
        ("11/28/2025 14:20:59", RECEIVED_AT),
        ("", RECEIVED_AT),
        ("999999999999", RECEIVED_AT),
        ("-5", RECEIVED_AT),
        ([], RECEIVED_AT),
    ],
)
def test_starts_at_is_the_result_time_else_the_receive_time(time: Any, starts_at: datetime) -> None:
    body = webhook_py(sid="scheduler__a__b__c_at_1_1", search_name="s", result={"_time": time})
    assert parse(body).starts_at == starts_at


def test_labels_are_the_visible_result_fields_with_multivalues_joined() -> None:
    alert = parse(payload("multivalue_fields"))
    assert alert.labels == {
        "host": "idp-01,idp-02",
        "service": "sso,auth",
        "sourcetype": "okta:im",
        "tag::eventtype": "authentication,failure",
        "priority": "LOW,high",
        "splunk_app": "itops",
        "splunk_owner": "ops",
        "splunk_server": "splunk-sh01.example.com",
    }
    assert alert.service == "sso"


def test_housekeeping_fields_are_not_labels() -> None:
    labels = parse(payload("scheduled_search_webhook_py")).labels
    assert not {"date_hour", "date_wday", "punct", "linecount", "_time"} & set(labels)
    assert labels["count"] == "137"


def test_every_alert_fires_and_expires_after_the_configured_ttl() -> None:
    for case in ("scheduled_search_webhook_py", "null_result", "missing_result_and_link"):
        alert = parse(payload(case), ttl=timedelta(minutes=30))
        assert alert.status == Status.FIRING
        assert alert.ends_at is None
        assert alert.auto_resolve_after == timedelta(minutes=30)
    assert parse(payload("null_result"), ttl=None).auto_resolve_after is None


def test_null_and_missing_result_still_give_an_alert_named_after_the_search() -> None:
    null = parse(payload("null_result"))
    assert (null.name, null.service, null.starts_at) == (
        "Nightly backup missing",
        None,
        RECEIVED_AT,
    )
    missing = parse(payload("missing_result_and_link"))
    assert missing.url is None
    assert missing.labels == {"splunk_app": "search", "splunk_owner": "alice"}


def test_webhook_py_bytes_with_escaped_non_ascii_decode_to_text() -> None:
    body = webhook_py(
        sid="scheduler__admin__search__RMD5a1_at_1764339000_1",
        search_name="Échecs de paiement",
        app="search",
        owner="admin",
        results_link="https://sh.example.com:8000/app/search/@go?sid=x",
        result={"host": "web-01", "message": "côté passerelle ✓"},
    )
    assert b"\\u00c9checs" in body
    alert = parse(body)
    assert alert.name == "Échecs de paiement"
    assert alert.labels["message"] == "côté passerelle ✓"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (webhook_py(search_name="x", result={}), "$.sid"),
        (webhook_py(sid=42, result={}), "$.sid"),
        (webhook_py(sid="s", result=[]), "$.result"),
        (webhook_py(sid="s", result="host=a"), "$.result"),
        (webhook_py(sid="s", result={"count": 8}), "$.result.count"),
        (webhook_py(sid="s", result={"flag": True}), "$.result.flag"),
        (webhook_py(sid="s", result={"host": ["a", 1]}), "$.result.host"),
        (webhook_py(sid="s", result={"host": [["a"]]}), "$.result.host"),
        (webhook_py(sid="s", app=["search"]), "$.app"),
        (webhook_py(sid="s", results_link=7), "$.results_link"),
    ],
)
def test_wrong_types_are_rejected_with_their_path(body: bytes, path: str) -> None:
    with pytest.raises(WrongShape) as caught:
        parse(body)
    assert caught.value.status == 422
    assert caught.value.path == path


def test_null_fields_inside_result_are_missing_fields() -> None:
    alert = parse(webhook_py(sid="s", search_name="x", result={"host": None, "service": "a"}))
    assert alert.labels == {"service": "a"}
    assert alert.title == "x (service=a)"


def test_a_result_field_named_like_our_labels_is_kept_as_exported() -> None:
    """Every indexed event carries `splunk_server` (the indexer): it must not vanish under
    the label naming the search head that sent the alert."""
    result = {"host": "web-01", "splunk_server": "idx-02", "splunk_app": "their-app"}
    labels = parse(edited("scheduled_search_webhook_py", result=result)).labels
    assert labels["splunk_server"] == "splunk-sh01.example.com"
    assert labels["exported_splunk_server"] == "idx-02"
    assert labels["exported_splunk_app"] == "their-app"
    assert labels["splunk_app"] != "their-app"
