"""Queue entries (store/codec.py): a header line, then the body as received, or its zstd
frame for large bodies. Both round-trip exactly; anything else is poison (ValueError)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentd.ingest.source import RawWebhook, SourceOptions
from incidentd.store import codec

T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
OPTIONS = SourceOptions(auto_resolve_after=timedelta(hours=4), sender="am-eu")


def _webhook(body: bytes) -> RawWebhook:
    return RawWebhook("alertmanager", body, {}, T0, OPTIONS)


def _notification(alerts: int) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "alerts": [
                {"status": "firing", "labels": {"alertname": "Disk", "instance": f"node-{i}"}}
                for i in range(alerts)
            ],
        }
    ).encode()


def _header(entry: bytes) -> dict[str, object]:
    head: dict[str, object] = orjson.loads(entry.partition(b"\n")[0])
    return head


def test_a_small_body_is_queued_as_received() -> None:
    body = _notification(1)
    entry = codec.encode_webhook(_webhook(body))
    assert _header(entry)["v"] == 1
    assert entry.endswith(b"\n" + body)
    assert codec.decode_webhook(entry) == _webhook(body)


def test_a_large_body_is_queued_compressed_and_read_back_exactly() -> None:
    body = _notification(100)
    assert len(body) >= codec._COMPRESS_FROM
    entry = codec.encode_webhook(_webhook(body))
    assert _header(entry)["v"] == 2
    assert len(entry) < len(body) / 5, "a notification of 100 alerts compresses well"
    assert codec.decode_webhook(entry) == _webhook(body)


@given(st.binary(min_size=0, max_size=3 * codec._COMPRESS_FROM))
def test_every_body_round_trips(body: bytes) -> None:
    assert codec.decode_webhook(codec.encode_webhook(_webhook(body))).body == body


def test_a_damaged_compressed_body_is_poison_not_a_crash() -> None:
    entry = codec.encode_webhook(_webhook(_notification(100)))
    for damaged in (entry[: len(entry) // 2], entry[:-1], entry + b"tail"):
        with pytest.raises(ValueError, match="zstd"):
            codec.decode_webhook(damaged)


def test_an_unknown_entry_version_is_poison() -> None:
    entry = codec.encode_webhook(_webhook(b"{}"))
    head, _, body = entry.partition(b"\n")
    other = orjson.dumps({**orjson.loads(head), "v": 3}) + b"\n" + body
    with pytest.raises(ValueError, match="version 3"):
        codec.decode_webhook(other)
