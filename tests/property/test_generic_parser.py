"""Hostile input to the generic parser: it returns alerts or raises an InputError, nothing else.

Four kinds of input: arbitrary bytes; arbitrary JSON; a full documented alert (alone or in a
batch) with one field replaced by arbitrary JSON or removed; well-shaped alerts with extreme
strings, numbers and timestamps, which must also keep the identity invariants.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from incidentd.ingest.generic import GenericSource
from incidentd.model import Alert
from tests.property.strategies import (
    HOSTILE,
    INVARIANTS,
    dump,
    json_values,
    parse_or_none,
)

SOURCE = GenericSource()
RECEIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)
FULL_ALERT: dict[str, Any] = {
    "name": "certificate-expiry",
    "status": "resolved",
    "severity": "critical",
    "title": "TLS certificate expires soon",
    "service": "storefront",
    "labels": {"domain": "shop.example.com"},
    "annotations": {"runbook_url": "https://runbooks.example.com/tls"},
    "starts_at": "2025-10-01T06:00:00+02:00",
    "ends_at": "2025-10-01T07:00:00.123456789+02:00",
    "url": "https://certs.example.com/shop",
    "dedup_key": "cert-shop",
    "sender": "cert-checker",
    "id": "run-1",
    "auto_resolve_after": 86400,
}


def _parse(body: bytes, *, received_at: datetime = RECEIVED_AT) -> list[Alert] | None:
    return parse_or_none(SOURCE, body, received_at)


@HOSTILE
@given(st.binary(max_size=300))
def test_arbitrary_bytes(body: bytes) -> None:
    _parse(body)


@HOSTILE
@given(json_values)
def test_arbitrary_json(value: Any) -> None:
    _parse(dump(value))


@HOSTILE
@given(
    field=st.sampled_from([*FULL_ALERT, "alerts", "unknown"]),
    value=json_values,
    delete=st.booleans(),
    batched=st.booleans(),
)
def test_full_alert_with_one_field_replaced_or_removed(
    field: str, value: Any, delete: bool, batched: bool
) -> None:
    alert = {k: v for k, v in FULL_ALERT.items() if k != field}
    if not delete:
        alert[field] = value
    body = {"alerts": [FULL_ALERT, alert]} if batched else alert
    _parse(dump(body))


def test_deep_nesting_is_refused_not_crashed() -> None:
    deep = "{" + '"a":{' * 50_000 + "}" * 50_000
    body = f'{{"name":"x","labels":{deep}}}'.encode()
    assert _parse(body) is None


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes())  # naive wall-clock fields, year 1 to 9999
    digits = draw(st.text(alphabet="0123456789", max_size=9))
    minutes = draw(st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1))
    sign = "-" if minutes < 0 else "+"
    zone = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    fraction = f".{digits}" if digits else ""
    return f"{moment.replace(microsecond=0).isoformat()}{fraction}{zone}"


texts = st.text(max_size=20)
label_maps = st.dictionaries(texts, texts, max_size=5)


@st.composite
def generic_alerts(draw: st.DrawFn) -> dict[str, Any]:
    status = draw(st.sampled_from(["firing", "resolved"]))
    alert: dict[str, Any] = {"name": draw(st.text(min_size=1, max_size=20)), "status": status}
    optional = {
        "severity": st.sampled_from(["CRIT", "p2", " warn ", "ok"]),
        "title": texts,
        "service": texts,
        "labels": label_maps,
        "annotations": label_maps,
        "starts_at": timestamps(),
        "url": texts,
        "dedup_key": st.text(min_size=1, max_size=20),
        "sender": texts,
        "id": st.text(min_size=1, max_size=20),
        "auto_resolve_after": st.floats(min_value=0.001, max_value=366 * 24 * 3600),
    }
    if status == "resolved":
        optional["ends_at"] = timestamps()
    for key, strategy in optional.items():
        if draw(st.booleans()):
            alert[key] = draw(st.none() if key == "severity" and draw(st.booleans()) else strategy)
    return alert


@INVARIANTS
@given(st.lists(generic_alerts(), max_size=5))
def test_well_shaped_alerts_keep_the_identity_invariants(batch: list[dict[str, Any]]) -> None:
    alerts = _parse(dump({"alerts": batch}))
    if alerts is None:  # a timestamp that leaves datetime's range once in UTC
        return
    assert len(alerts) == len(batch)
    later = _parse(dump({"alerts": batch}), received_at=RECEIVED_AT + timedelta(hours=1))
    assert later is not None
    for alert, again, wire in zip(alerts, later, batch, strict=True):
        assert alert.fingerprint == again.fingerprint
        if "id" in wire or (
            "starts_at" in wire and (wire["status"] == "firing" or "ends_at" in wire)
        ):
            assert alert.event_id == again.event_id
        assert alert.starts_at.utcoffset() == timedelta(0)
        assert alert.title == (wire.get("title") or wire["name"])
        assert (alert.ends_at is None) == (wire["status"] == "firing")
        assert _parse(dump(wire)) == [alert]
