"""The webhook recorder: JSON Lines replay can read, rotation, and never blocking ingest."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from incidentd import metrics
from incidentd.recorder import BUFFER, Recorder
from tests.unit.alerts import at


async def _drain(recorder: Recorder) -> None:
    task = asyncio.create_task(recorder.run())
    await asyncio.sleep(0.05)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_records_are_replayable_lines_with_the_exact_body(tmp_path: Path) -> None:
    path = tmp_path / "webhooks.jsonl"
    recorder = Recorder(path)
    body = '{"name": "Disk <full> & “hot”", "n": 1}\n'.encode()
    recorder.record("generic", at(0), body)
    recorder.record("splunk", at(1), b'{"sid": "x"}')
    await _drain(recorder)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["source"] for line in lines] == ["generic", "splunk"]
    assert lines[0]["body"].encode() == body
    assert lines[0]["received_at"] == "2026-03-02T09:00:00+00:00"


async def test_rotates_past_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "webhooks.jsonl"
    recorder = Recorder(path, max_bytes=200)
    for minute in range(3):
        recorder.record("generic", at(minute), b"x" * 60)
        await _drain(recorder)
    assert (tmp_path / "webhooks.jsonl.1").exists()
    assert path.stat().st_size <= 200


async def test_a_full_buffer_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "w.jsonl")
    before = metrics.RECORD_DROPPED._value.get()
    for i in range(BUFFER + 5):
        recorder.record("generic", at(0), str(i).encode())
    assert metrics.RECORD_DROPPED._value.get() - before == 5
