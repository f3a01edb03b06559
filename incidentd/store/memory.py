"""In-process queue: the embedded default (`incidentd serve` with nothing else installed).

Durable only for the life of the process: it is the store for trying incidentd out, for
replay and for tests. Production uses the Redis store. Bounded by a high-water mark, like
the Redis queue, so that a stalled consumer turns into 503s rather than unbounded memory.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from incidentd import metrics
from incidentd.correlate.silences import Silence, expired
from incidentd.errors import Overloaded
from incidentd.ingest.registry import parse_webhook
from incidentd.ingest.source import RawWebhook
from incidentd.model import Alert
from incidentd.store.base import Parse, Queued

log = structlog.get_logger(__name__)

DEAD_KEPT = 1000
"""Entries that could not be parsed, kept in memory for inspection (the newest)."""


@dataclass(slots=True)
class _Pending:
    consumer: str
    since: float
    alerts: tuple[Alert, ...]
    deliveries: int


class MemoryQueue:
    def __init__(
        self, *, max_depth: int = 100_000, retry_after: float = 5.0, parse: Parse = parse_webhook
    ) -> None:
        self._max_depth = max_depth
        self._retry_after = retry_after
        self._parse = parse
        self._seq = 0
        self._unread: OrderedDict[str, RawWebhook] = OrderedDict()
        self._pending: dict[str, _Pending] = {}
        self._arrived = asyncio.Event()
        self.dead: deque[tuple[str, RawWebhook, str]] = deque(maxlen=DEAD_KEPT)
        """Entries that could not be parsed: (id, webhook, error)."""

    async def start(self) -> None:
        return None

    async def append(self, webhook: RawWebhook) -> str:
        if len(self._unread) + len(self._pending) >= self._max_depth:
            raise Overloaded("alert queue is full", retry_after=self._retry_after)
        self._seq += 1
        entry_id = f"{self._seq}-0"
        self._unread[entry_id] = webhook
        self._arrived.set()
        return entry_id

    async def read(self, consumer: str, *, count: int, block_ms: int) -> list[Queued]:
        if not self._unread and block_ms > 0:
            self._arrived.clear()
            try:
                async with asyncio.timeout(block_ms / 1000):
                    await self._arrived.wait()
            except TimeoutError:
                return []
        out: list[Queued] = []
        now = time.monotonic()
        while self._unread and len(out) < count:
            entry_id, webhook = self._unread.popitem(last=False)
            alerts = self._alerts(entry_id, webhook)
            if alerts is None:
                continue
            self._pending[entry_id] = _Pending(consumer, now, alerts, 1)
            out.append(Queued(entry_id, alerts, 1))
        return out

    def _alerts(self, entry_id: str, webhook: RawWebhook) -> tuple[Alert, ...] | None:
        try:
            return tuple(self._parse(webhook))
        except Exception as exc:  # a parser bug must not stop the queue: set the entry aside
            self.dead.append((entry_id, webhook, repr(exc)[:1000]))
            metrics.QUEUE_DEAD_LETTERED.inc()
            log.exception(
                "queue.entry_dead_lettered",
                entry=entry_id,
                source=webhook.source,
                error=type(exc).__name__,
                size=len(webhook.body),
            )
            return None

    async def ack(self, ids: Sequence[str]) -> None:
        for entry_id in ids:
            self._pending.pop(entry_id, None)

    async def reclaim(self, consumer: str, *, idle_ms: int, count: int) -> list[Queued]:
        now = time.monotonic()
        out: list[Queued] = []
        for entry_id, pending in self._pending.items():
            if len(out) >= count:
                break
            if (now - pending.since) * 1000 >= idle_ms:
                pending.consumer = consumer
                pending.since = now
                pending.deliveries += 1
                out.append(Queued(entry_id, pending.alerts, pending.deliveries))
        return out

    async def depth(self) -> int:
        return len(self._unread) + len(self._pending)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


class MemorySilences:
    """`SilenceStore` in a dict: the embedded default; silences last as long as the process."""

    def __init__(self) -> None:
        self._silences: dict[str, Silence] = {}

    async def add(self, silence: Silence) -> None:
        self._silences[silence.id] = silence

    async def get(self, silence_id: str) -> Silence | None:
        return self._silences.get(silence_id)

    async def expire(self, silence_id: str, now: datetime) -> bool:
        silence = self._silences.get(silence_id)
        if silence is None:
            return False
        self._silences[silence_id] = expired(silence, now)
        return True

    async def purge(self, ended_before: datetime) -> int:
        stale = [
            s.id for s in self._silences.values() if s.ends is not None and s.ends < ended_before
        ]
        for silence_id in stale:
            del self._silences[silence_id]
        return len(stale)

    async def list(self) -> list[Silence]:
        return list(self._silences.values())

    async def close(self) -> None:
        return None
