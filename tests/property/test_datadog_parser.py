"""No body, however hostile, gets anything but an InputError out of the Datadog parser; and
for every well-formed template body the identities hold: one monitor group keeps its
fingerprint through trigger, repeat and recovery, and a redelivery keeps its event id.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentd.errors import InputError, NotJSON
from incidentd.ingest.datadog import DatadogSource
from incidentd.ingest.source import RawWebhook, SourceOptions
from incidentd.model import ALERT_BATCH, Alert, Status

TEMPLATE = (
    Path(__file__).resolve().parents[2] / "config" / "example" / "datadog-webhook-template.json"
)
KEYS = [key for key in json.loads(TEMPLATE.read_text()) if key != "org"]
PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "datadog"
BASES = [
    json.loads((PAYLOADS / f"{case}.json").read_text())
    for case in ("rich_triggered_p1", "default_template_test_notification_real")
]
RECEIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)
SOURCE = DatadogSource()
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRANSITIONS = ["Triggered", "Re-Triggered", "Recovered", "Warn", "Re-Warn", "No Data"]
TRANSITIONS += ["Re-No Data", "Renotify", "Null", ""]


def run(data: bytes) -> list[Alert] | InputError:
    """Parse; an InputError is returned, any other exception fails the test."""
    raw = RawWebhook("datadog", data, {}, RECEIVED_AT, SourceOptions(timedelta(hours=1)))
    try:
        alerts = SOURCE.parse(raw)
    except InputError as exc:
        error = exc
    else:
        assert len(alerts) == 1
        assert ALERT_BATCH.validate_json(ALERT_BATCH.dump_json(alerts)) == alerts
        return alerts
    assert error.status in (400, 422)
    return error


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["P1", "P9", "error", "success", "1764339120000", "[TEST] x", "a:b,c"])
    | st.sampled_from(TRANSITIONS)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
# flatter values than json_values for the 20-odd keys, so that generation stays fast
fields = scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=5), scalars)
orgs = st.fixed_dictionaries({}, optional={"id": fields, "name": fields}) | fields
template_like = st.fixed_dictionaries(
    {}, optional={"org": orgs, "title": fields} | dict.fromkeys(KEYS, fields)
)
FEWER = settings(FAST, max_examples=150)


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_give_alerts_or_an_input_error(data: bytes) -> None:
    run(data)


@FAST
@given(json_values)
def test_any_json_gives_alerts_or_an_input_error(value: Any) -> None:
    run(json.dumps(value).encode())


@FEWER
@given(template_like, st.booleans())
def test_template_shaped_bodies_give_alerts_or_an_input_error(body: Any, ascii_only: bool) -> None:
    run(json.dumps(body, ensure_ascii=ascii_only).encode())


@FAST
@given(
    st.sampled_from(BASES),
    st.dictionaries(st.sampled_from([*KEYS, "org", "title", "body"]), fields, max_size=4),
)
def test_a_real_body_with_some_fields_replaced_gives_alerts_or_an_input_error(
    base: dict[str, Any], changes: dict[str, Any]
) -> None:
    run(json.dumps(base | changes).encode())


TEXT_KEYS = [key for key in KEYS if key not in {"id", "date"}]


@FAST
@given(st.dictionaries(st.sampled_from(TEXT_KEYS), st.text(max_size=60), min_size=1))
def test_any_text_in_our_template_gives_one_alert(changes: dict[str, str]) -> None:
    assert isinstance(run(json.dumps(BASES[0] | changes).encode()), list)


@FAST
@given(st.dictionaries(st.sampled_from(["title", "body", "event_type"]), st.text(max_size=60)))
def test_any_text_in_the_default_payload_gives_one_alert(changes: dict[str, str]) -> None:
    assert isinstance(run(json.dumps(BASES[1] | changes).encode()), list)


def test_deep_nesting_and_huge_numbers_are_input_errors() -> None:
    deep = b'{"alert_transition": "Triggered", "tags": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert isinstance(run(deep), NotJSON)
    huge_id = b'{"title": "[Triggered] x", "date": 1, "org": {"id": 1}, "id": ' + b"9" * 5000 + b"}"
    assert isinstance(run(huge_id), InputError)
    huge_date = b'{"title": "x", "org": {"id": 1}, "id": 1, "date": 1' + b"0" * 400 + b"}"
    assert isinstance(run(huge_date), InputError)


tag_parts = st.from_regex(r"[a-z][a-z0-9_.\-/]{0,12}", fullmatch=True)
tags = st.lists(st.tuples(tag_parts, tag_parts | st.just("")), max_size=5)


def _tag_text(pairs: list[tuple[str, str]], sep: str) -> str:
    return sep.join(f"{k}:{v}" if v else k for k, v in pairs)


@st.composite
def monitor_bodies(draw: st.DrawFn) -> dict[str, Any]:
    scope = draw(tags)
    return {
        "id": str(draw(st.integers(min_value=10**18, max_value=10**19 - 1))),
        "date": str(draw(st.integers(min_value=0, max_value=4 * 10**12))),
        "org": {
            "id": str(draw(st.integers(min_value=1, max_value=10**9))),
            "name": draw(st.text()),
        },
        "alert_id": str(draw(st.integers(min_value=1, max_value=10**10))),
        "alert_cycle_key": draw(st.text(max_size=20)),
        "alert_scope": _tag_text(scope, draw(st.sampled_from([",", ", "]))),
        "alert_transition": "Triggered",
        "alert_type": "error",
        "alert_priority": draw(st.sampled_from(["", "P1", "P2", "P3", "P4", "P5"])),
        "alert_title": "[Triggered] " + draw(st.text(min_size=1, max_size=30)),
        "tags": _tag_text(draw(tags), draw(st.sampled_from([",", ", "]))),
        "hostname": draw(st.text(max_size=10)),
        "link": draw(st.text(max_size=30)),
    }


@FEWER
@given(monitor_bodies(), st.data())
def test_one_monitor_group_keeps_its_fingerprint_through_its_life(
    body: dict[str, Any], data: st.DataObject
) -> None:
    first = run(json.dumps(body).encode())
    assert isinstance(first, list)
    assert first == run(json.dumps(body).encode())
    later = body | {
        "id": str(int(body["id"]) + data.draw(st.integers(min_value=1, max_value=10**6))),
        "alert_transition": data.draw(st.sampled_from(TRANSITIONS)),
        "alert_type": data.draw(st.sampled_from(["error", "warning", "success", "info"])),
        "alert_scope": ", ".join(reversed(body["alert_scope"].replace(" ", "").split(","))),
        "alert_title": data.draw(st.sampled_from(["[Recovered] ", "[Warn] ", ""])) + "renamed",
        "tags": data.draw(st.text(max_size=20)),
    }
    second = run(json.dumps(later).encode())
    assert isinstance(second, list)
    assert second[0].fingerprint == first[0].fingerprint
    assert second[0].event_id != first[0].event_id
    # an empty $ALERT_TRANSITION falls back on the title prefix
    transition = later["alert_transition"] or later["alert_title"].partition("]")[0][1:]
    resolved = transition == "Recovered" or later["alert_type"] == "success"
    assert second[0].status == (Status.RESOLVED if resolved else Status.FIRING)


@FEWER
@given(monitor_bodies(), tag_parts)
def test_another_scope_is_another_alert(body: dict[str, Any], extra: str) -> None:
    first = run(json.dumps(body).encode())
    other = body | {"alert_scope": body["alert_scope"] + f",zz{extra}:x"}
    second = run(json.dumps(other).encode())
    assert isinstance(first, list)
    assert isinstance(second, list)
    assert first[0].fingerprint != second[0].fingerprint
