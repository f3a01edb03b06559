"""No body, however hostile, gets anything but an InputError out of the Alertmanager parser;
and every valid body maps alert for alert, with identities that hold whatever the order,
annotations and timestamp spelling.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentd.errors import InputError, NotJSON
from incidentd.ingest.alertmanager import AlertmanagerSource, unquote_meta
from incidentd.ingest.source import RawWebhook, SourceOptions
from incidentd.model import ALERT_BATCH, Alert, Status

CAPTURES = Path(__file__).resolve().parent.parent / "payloads" / "alertmanager"
REAL = sorted(
    p
    for p in CAPTURES.glob("*.json")
    if p.name.count(".") == 1 and not p.stem.startswith("edited_")
)
RECEIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)
SOURCE = AlertmanagerSource()
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(data: bytes) -> list[Alert] | InputError:
    """Parse; an InputError is returned, any other exception fails the test. `check` (what
    the request path runs) must agree: the same error, or the number of alerts `parse` makes,
    since the queue's consumer parses what the request path accepted."""
    raw = RawWebhook("alertmanager", data, {}, RECEIVED_AT, SourceOptions())
    try:
        checked: int | InputError = SOURCE.check(raw)
    except InputError as exc:
        checked = exc
    try:
        alerts = SOURCE.parse(raw)
    except InputError as exc:
        error = exc
    else:
        assert ALERT_BATCH.validate_json(ALERT_BATCH.dump_json(alerts)) == alerts
        assert checked == len(alerts)
        return alerts
    assert error.status in (400, 422)
    assert isinstance(checked, InputError)
    assert (checked.status, checked.message) == (error.status, error.message)
    return error


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["4", "1", "firing", "resolved", "0001-01-01T00:00:00Z", ""])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@FAST
@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    run(data)


@FAST
@given(json_values)
def test_any_json(value: Any) -> None:
    run(json.dumps(value).encode())


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*here, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*here, i))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    return [_replace(v, rest, new) if i == head else v for i, v in enumerate(value)]


@FAST
@given(st.sampled_from(REAL), st.data())
def test_real_captures_with_one_node_replaced(path: Path, data: st.DataObject) -> None:
    body = json.loads(path.read_bytes())
    where = data.draw(st.sampled_from(_paths(body)))
    run(json.dumps(_replace(body, where, data.draw(json_values))).encode())


@FAST
@given(st.sampled_from(REAL), st.data())
def test_real_captures_cut_anywhere(path: Path, data: st.DataObject) -> None:
    raw = path.read_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 2))
    assert isinstance(run(raw[:cut]), NotJSON)


def test_hostile_bodies() -> None:
    real = (CAPTURES / "single_firing.json").read_text()
    bodies = [
        b"[" * 100_000,
        b'{"alerts":' + b"[" * 50_000 + b"]" * 50_000 + b',"version":"4"}',
        b'{"version":"4","alerts":[],"truncatedAlerts":' + b"9" * 5000 + b"}",
        real.replace('"truncatedAlerts":0', '"truncatedAlerts":1e400').encode(),
        real.replace('"2026-11-28T15:57:22.509Z"', '"9999-12-31T23:59:59.999999-23:59"').encode(),
        real.replace('"2026-11-28T15:57:22.509Z"', '"0001-01-01T00:00:00+23:59"').encode(),
        real.replace('"2026-11-28T15:57:22.509Z"', '"2026-11-28T15:57:22.1234567890123Z"').encode(),
        real.replace("HighCPU", "\\ud800").encode(),
        real.replace("HighCPU", "\\u0000\\u2028").encode(),
        real.encode("utf-16"),
        b"\xef\xbb\xbf" + real.encode(),
        real.encode() + b"garbage",
    ]
    for data in bodies:
        run(data)


label_names = st.sampled_from(["alertname", "severity", "service", "job"]) | st.from_regex(
    r"[a-z_][a-z0-9_]{0,8}", fullmatch=True
)
note_keys = st.sampled_from(["summary", "title", "description"]) | st.text(max_size=5)
label_sets = st.dictionaries(label_names, st.text(min_size=1, max_size=12), max_size=5)


@st.composite
def instants(draw: st.DrawFn) -> tuple[str, datetime]:
    """An RFC 3339 string with 0-9 fractional digits and any offset, and the instant it names."""
    span = int(timedelta(days=365 * 100).total_seconds() * 1_000_000)
    moment = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=draw(st.integers(0, span)))
    offset = timezone(timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60))))
    digits = draw(st.integers(0, 9))
    nanos = f"{moment.microsecond:06d}{draw(st.integers(0, 999)):03d}"[:digits]
    local = moment.astimezone(offset)
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{nanos}" if digits else "")
    text += (
        "Z"
        if offset.utcoffset(None) == timedelta(0)
        else local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    )
    truncated = moment.replace(microsecond=int(nanos[:6].ljust(6, "0")) if digits else 0)
    return text, truncated


@st.composite
def notifications(draw: st.DrawFn) -> tuple[dict[str, Any], list[datetime]]:
    alerts, starts = [], []
    for labels in draw(
        st.lists(label_sets, max_size=5, unique_by=lambda d: tuple(sorted(d.items())))
    ):
        start_text, start = draw(instants())
        resolved = draw(st.booleans())
        end_text = draw(instants())[0] if resolved else "0001-01-01T00:00:00Z"
        alerts.append(
            {
                "status": "resolved" if resolved else "firing",
                "labels": labels,
                "annotations": draw(st.dictionaries(note_keys, st.text(max_size=300), max_size=3)),
                "startsAt": start_text,
                "endsAt": end_text,
                "generatorURL": draw(
                    st.sampled_from(["", "http://prometheus:9090/graph?g0.expr=up"])
                ),
                "fingerprint": draw(st.from_regex(r"[0-9a-f]{16}", fullmatch=True)),
            }
        )
        starts.append(start)
    note = {
        "receiver": draw(st.text(max_size=10)),
        "status": "firing",
        "alerts": alerts,
        "externalURL": draw(st.sampled_from(["http://am:9093", "http://am-eu:9093", ""])),
        "version": "4",
        "groupKey": draw(st.text(max_size=10)),
        "truncatedAlerts": draw(st.integers(0, 10**6)),
    }
    return note, starts


@FAST
@given(notifications())
def test_valid_bodies_map_alert_for_alert(case: tuple[dict[str, Any], list[datetime]]) -> None:
    note, starts = case
    alerts = run(json.dumps(note).encode())
    assert isinstance(alerts, list)
    assert len(alerts) == len(note["alerts"])
    for alert, wire, start in zip(alerts, note["alerts"], starts, strict=True):
        assert alert.labels == wire["labels"]
        assert alert.status == Status(wire["status"])
        assert alert.starts_at == start
        assert (alert.ends_at is None) == (wire["status"] == "firing")
        assert alert.received_at == RECEIVED_AT
        assert len(alert.title.splitlines()) == 1
        assert alert.title.strip()
        assert len(alert.title) <= 200
    assert len({a.fingerprint for a in alerts}) == len(alerts)


@FAST
@given(notifications(), st.randoms(use_true_random=False))
def test_identity_ignores_order_annotations_and_am_fingerprint(
    case: tuple[dict[str, Any], list[datetime]], rnd: Any
) -> None:
    note, _ = case
    before = {a.fingerprint: a.event_id for a in run(json.dumps(note).encode())}  # type: ignore[union-attr]
    shuffled = [
        {
            **a,
            "annotations": {"x": "changed"},
            "fingerprint": "0" * 16,
            "labels": dict(reversed(a["labels"].items())),
        }
        for a in note["alerts"]
    ]
    rnd.shuffle(shuffled)
    after = run(json.dumps({**note, "alerts": shuffled, "receiver": "other"}).encode())
    assert isinstance(after, list)
    assert {a.fingerprint: a.event_id for a in after} == before


def go_quote_meta(text: str) -> str:
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", text)


@FAST
@given(st.text())
def test_unquote_meta_undoes_go_quote_meta(name: str) -> None:
    assert unquote_meta(go_quote_meta(name)) == name
