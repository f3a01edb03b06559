"""Records accepted webhooks as JSON Lines, in the format `incidentd replay` reads.

Off by default (`INCIDENTD_RECORD_PATH`). One line per accepted webhook:
`{"source": ..., "received_at": ..., "body": "<the body as sent>"}` (no headers: they carry
credentials). Recording never slows or fails ingestion: lines go through a bounded buffer to a
writer task that appends in a thread; when the buffer is full the record is dropped and
counted. The file is rotated to `<path>.1` past `max_bytes`.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from pathlib import Path

import orjson
import structlog

from incidentd import metrics

log = structlog.get_logger(__name__)

BUFFER = 10_000


class Recorder:
    def __init__(self, path: Path, *, max_bytes: int = 1 << 30) -> None:
        self._path = path
        self._max_bytes = max_bytes
        self._lines: asyncio.Queue[bytes] = asyncio.Queue(BUFFER)

    def record(self, source: str, received_at: datetime, body: bytes) -> None:
        line = orjson.dumps(
            {
                "source": source,
                "received_at": received_at,
                "body": body.decode("utf-8", "replace"),
            }
        )
        try:
            self._lines.put_nowait(line + b"\n")
        except asyncio.QueueFull:
            metrics.RECORD_DROPPED.inc()

    async def run(self) -> None:
        """Write until cancelled; what is buffered at cancellation is written first."""
        try:
            while True:
                lines = [await self._lines.get()]
                while not self._lines.empty() and len(lines) < 1000:
                    lines.append(self._lines.get_nowait())
                await asyncio.to_thread(self._write, b"".join(lines))
        except asyncio.CancelledError:
            rest = []
            while not self._lines.empty():
                rest.append(self._lines.get_nowait())
            if rest:
                with contextlib.suppress(OSError):
                    self._write(b"".join(rest))
            raise

    def _write(self, data: bytes) -> None:
        try:
            if self._path.exists() and self._path.stat().st_size + len(data) > self._max_bytes:
                self._path.replace(self._path.with_name(self._path.name + ".1"))
            with self._path.open("ab") as handle:
                handle.write(data)
        except OSError as exc:
            metrics.RECORD_DROPPED.inc(data.count(b"\n"))
            log.error("record.write_failed", error=str(exc), path=str(self._path))  # noqa: TRY400
