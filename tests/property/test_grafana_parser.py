"""Hostile input to the Grafana parser: it returns alerts or raises an InputError, nothing else.

Four kinds of input: arbitrary bytes; arbitrary JSON; the documented example with one node
replaced by arbitrary JSON or removed; well-shaped bodies with extreme strings, numbers and
timestamps (any offset, year 1 to 9999, 0-9 fractional digits), whose alerts must also keep
the identity invariants.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from incidentd.ingest.grafana import GrafanaSource
from incidentd.model import Alert
from tests.property.strategies import (
    HOSTILE,
    INVARIANTS,
    dump,
    json_values,
    parse_or_none,
)

SOURCE = GrafanaSource()
RECEIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)
DOC = json.loads(
    (
        Path(__file__).resolve().parent.parent
        / "payloads"
        / "grafana"
        / "doc_example_firing_2_alerts.json"
    ).read_text()
)


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


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            out += _paths(child, (*prefix, index))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any, *, delete: bool) -> Any:
    if not path:
        return value
    body = copy.deepcopy(doc)
    parent = body
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return body


@HOSTILE
@given(st.data())
def test_documented_example_with_one_node_replaced_or_removed(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_paths(DOC)))
    delete = bool(path) and data.draw(st.booleans())
    body = _replace(DOC, path, data.draw(json_values), delete=delete)
    _parse(dump(body))


def test_deep_nesting_is_refused_not_crashed() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    body = f'{{"orgId":1,"alerts":[{{"status":"firing","labels":{deep}}}]}}'.encode()
    assert _parse(body) is None


offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes())  # naive wall-clock fields, year 1 to 9999
    digits = draw(st.text(alphabet="0123456789", max_size=9))
    minutes = draw(offsets)
    zone = "Z" if minutes == 0 and draw(st.booleans()) else ""
    if not zone:
        sign = "-" if minutes < 0 else "+"
        zone = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    fraction = f".{digits}" if digits else ""
    return f"{moment.replace(microsecond=0).isoformat()}{fraction}{zone}"


label_maps = st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=5)


@st.composite
def grafana_alerts(draw: st.DrawFn) -> dict[str, Any]:
    labels = draw(label_maps) | {"alertname": draw(st.text(min_size=1, max_size=20))}
    return {
        "status": draw(st.sampled_from(["firing", "resolved"])),
        "labels": labels,
        "annotations": draw(st.none() | label_maps),
        "startsAt": draw(timestamps()),
        "endsAt": draw(st.just("0001-01-01T00:00:00Z") | timestamps()),
        "generatorURL": draw(st.text(max_size=20)),
        "dashboardURL": draw(st.text(max_size=20)),
        "panelURL": draw(st.text(max_size=20)),
        "values": draw(st.none() | st.dictionaries(st.text(max_size=5), st.floats(), max_size=3)),
        "valueString": draw(st.text(max_size=20)),
    }


@st.composite
def grafana_bodies(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "version": "1",
        "orgId": draw(st.integers(min_value=-(2**63), max_value=2**63 - 1)),
        "receiver": draw(st.text(max_size=20)),
        "externalURL": draw(st.text(max_size=20)),
        "groupKey": draw(st.text(max_size=20)),
        "alerts": draw(st.lists(grafana_alerts(), max_size=4)),
    }


@INVARIANTS
@given(grafana_bodies())
def test_well_shaped_bodies_keep_the_identity_invariants(body: dict[str, Any]) -> None:
    alerts = _parse(dump(body))
    if alerts is None:  # a timestamp that leaves datetime's range once in UTC
        return
    assert len(alerts) == len(body["alerts"])
    again = _parse(dump(body), received_at=RECEIVED_AT + timedelta(hours=1))
    assert again is not None
    assert [a.event_id for a in again] == [a.event_id for a in alerts]
    for alert, wire in zip(alerts, body["alerts"], strict=True):
        assert alert.starts_at.utcoffset() == timedelta(0)
        private = [k for k in wire["labels"] if len(k) > 4 and k[:2] == k[-2:] == "__"]
        assert alert.labels == {k: v for k, v in wire["labels"].items() if k not in private}
        assert alert.name == wire["labels"]["alertname"]
        assert alert.status == wire["status"]
        if wire["status"] == "firing":
            assert alert.ends_at is None
        reordered = wire | {"labels": dict(reversed(wire["labels"].items()))}
        twins = _parse(dump(body | {"alerts": [reordered]}))
        assert twins is not None
        assert [t.fingerprint for t in twins] == [alert.fingerprint]
