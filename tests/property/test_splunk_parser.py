"""No body, however hostile, gets anything but an InputError out of the Splunk parser; and the
identity of a scheduled search's alert holds across runs whatever the run changes.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentd.errors import InputError, NotJSON
from incidentd.ingest.source import RawWebhook, SourceOptions
from incidentd.ingest.splunk import SplunkSource
from incidentd.model import ALERT_BATCH, Alert

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "splunk"
BASE = json.loads((PAYLOADS / "scheduled_search_webhook_py.json").read_text())
RECEIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)
SOURCE = SplunkSource()
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = ["sid", "search_name", "app", "owner", "results_link", "result"]


def run(data: bytes) -> list[Alert] | InputError:
    """Parse; an InputError is returned, any other exception fails the test."""
    raw = RawWebhook("splunk", data, {}, RECEIVED_AT, SourceOptions(timedelta(hours=1)))
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
    | st.sampled_from(["", "1764339659.5", "critical", "http://[::1", "https://sh:8000/a?sid=x"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(["host", "service", "_time", "urgency", "severity", "priority"])
field_names |= st.sampled_from(["incidentd_key", "sourcetype", "count"]) | st.text(max_size=10)
text_values = st.text(max_size=40) | st.lists(st.text(max_size=20), max_size=3)
results = st.dictionaries(field_names, text_values | st.none(), max_size=6)


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_give_alerts_or_an_input_error(data: bytes) -> None:
    run(data)


@FAST
@given(json_values)
def test_any_json_gives_alerts_or_an_input_error(value: Any) -> None:
    run(json.dumps(value).encode())


@FAST
@given(st.dictionaries(st.sampled_from(KEYS), json_values | results), st.booleans())
def test_splunk_shaped_bodies_give_alerts_or_an_input_error(body: Any, ascii_only: bool) -> None:
    run(json.dumps(body, ensure_ascii=ascii_only).encode())


@FAST
@given(
    st.text(min_size=1, max_size=40),
    st.text(max_size=20) | st.none(),
    st.text(max_size=20) | st.none(),
    st.text(max_size=60) | st.none(),
    results | st.none(),
)
def test_any_strings_in_the_documented_shape_give_one_alert(
    sid: str, search_name: str | None, app: str | None, link: str | None, result: Any
) -> None:
    body = OrderedDict(sid=sid, search_name=search_name, app=app, owner=app)
    body |= {"results_link": link, "result": result}
    assert isinstance(run(json.dumps(body).encode()), list)


def test_deep_nesting_and_huge_numbers_are_input_errors() -> None:
    deep = b'{"sid": "s", "result": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert isinstance(run(deep), NotJSON)
    huge = b'{"sid": "s", "result": {"count": ' + b"9" * 5000 + b"}}"
    assert isinstance(run(huge), InputError)


search_ids = st.from_regex(
    r"(rt_)?scheduler__[a-z]{1,8}__[a-z]{1,8}__RMD5[0-9a-f]{16}", fullmatch=True
)
runs = st.tuples(
    st.integers(min_value=0, max_value=2**34), st.integers(min_value=0, max_value=10**6)
)


@FAST
@given(search_ids, runs, runs, st.booleans(), st.data())
def test_a_search_keeps_its_fingerprint_from_run_to_run(
    search: str, run_a: tuple[int, int], run_b: tuple[int, int], named: bool, data: st.DataObject
) -> None:
    def body(run_: tuple[int, int], result: dict[str, str]) -> bytes:
        sid = f"{search}_at_{run_[0]}_{run_[1]}"
        fields = {"sid": sid, "search_name": "Errors" if named else None, "result": result}
        return json.dumps(BASE | fields).encode()

    identity = {"host": data.draw(st.text(max_size=10)), "sourcetype": "nginx"}
    first = run(body(run_a, identity | {"count": "1", "_time": str(run_a[0])}))
    second = run(body(run_b, identity | {"count": data.draw(st.text()), "_time": "x"}))
    assert isinstance(first, list)
    assert isinstance(second, list)
    assert first[0].fingerprint == second[0].fingerprint
    assert (first[0].event_id == second[0].event_id) == (run_a == run_b)
