"""The store contract: what the HTTP layer, the consumers and the engine may ask of state.

Two implementations pass one contract suite (tests/contract/): `memory.py`, the embedded
default, and `redis.py`, for production. Callers depend on these Protocols only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from incidentd.act.outbox import Action
from incidentd.correlate.dedup import AlertState
from incidentd.correlate.grouping import Group, GroupState
from incidentd.correlate.silences import Silence
from incidentd.declare.declarer import Command
from incidentd.declare.incident import Incident
from incidentd.declare.timeline import TimelineEntry
from incidentd.engine import Changes, Decision, EngineState
from incidentd.ingest.source import RawWebhook
from incidentd.model import Alert

if TYPE_CHECKING:
    from incidentd.store.commands import Answer, Submitted

Parse = Callable[[RawWebhook], list[Alert]]
"""What a queue runs on each entry it hands out (`incidentd.ingest.registry.parse_webhook`)."""


@dataclass(frozen=True, slots=True)
class Queued:
    """One queue entry: the alerts of one accepted webhook, delivered to one consumer.

    The queue holds the webhook as it was accepted (source, time, options, body) and parses
    it when it hands the entry out: the request path only checked it (`Source.check`), so
    the CPU of normalizing is spent by the consumer, not while a sender waits."""

    id: str
    alerts: tuple[Alert, ...]
    deliveries: int = 1
    """How many times this entry was handed to a consumer (more than 1 after a reclaim)."""


class AlertQueue(Protocol):
    """A durable, bounded queue of accepted webhooks with consumer-group semantics.

    - `append` queues one webhook as one entry, whole or not at all. It raises
      `Overloaded` (and writes nothing) when the queue is at its high-water mark or the
      backing store cannot be reached in time.
    - An entry handed out by `read` or `reclaim` stays pending until `ack`; a consumer that
      dies leaves it pending, and `reclaim` hands it to another consumer after `idle_ms`.
    - `read` and `reclaim` parse each entry; an entry that cannot be parsed (a parser bug, or
      an entry written by another version) is never handed out and never silently lost: it
      is set aside (Redis: the dead-letter stream), counted and logged.
    """

    async def start(self) -> None:
        """Prepare the backing store (consumer group, scripts, background flusher)."""
        ...

    async def append(self, webhook: RawWebhook) -> str: ...

    async def read(self, consumer: str, *, count: int, block_ms: int) -> list[Queued]: ...

    async def ack(self, ids: Sequence[str]) -> None: ...

    async def reclaim(self, consumer: str, *, idle_ms: int, count: int) -> list[Queued]: ...

    async def depth(self) -> int:
        """Entries appended and not yet acknowledged (unread plus pending)."""
        ...

    async def ping(self) -> None:
        """Return when the backing store answers; raise `Overloaded` when it does not."""
        ...

    async def close(self) -> None: ...


class SilenceStore(Protocol):
    """The silences created through the HTTP API (those of silences.yaml live in the config).

    - `add` stores a silence under its id, replacing one with the same id.
    - `expire` ends a silence at `now` (see `silences.expired`: a pending one gets
      starts == ends == now, one already ended is left as it is) and keeps it for the record;
      False when no silence has that id.
    - `purge` forgets the silences that ended before `ended_before` and returns how many:
      what bounds the store, since expired silences are otherwise kept.
    - Every method raises `Overloaded` when the backing store cannot be reached in time.
    """

    async def add(self, silence: Silence) -> None: ...

    async def get(self, silence_id: str) -> Silence | None: ...

    async def expire(self, silence_id: str, now: datetime) -> bool: ...

    async def purge(self, ended_before: datetime) -> int: ...

    async def list(self) -> list[Silence]:
        """Every stored silence, expired ones included, in no particular order."""
        ...

    async def close(self) -> None: ...


class CommandBus(Protocol):
    """People's changes to incidents, from the API to the engine (store/commands.py)."""

    async def submit(self, command: Command) -> Incident:
        """Wait for the engine to apply it: the incident after, or the engine's refusal (an
        InputError); `Overloaded` when no engine answers in time."""
        ...

    async def post(self, command: Command, command_id: str) -> None:
        """Queue a command without waiting (an action outcome for the timeline); a command
        posted twice with one id is applied once."""
        ...

    async def take(self, consumer: str) -> list[Submitted]: ...

    async def finish(self, answers: Sequence[Answer], subs: Sequence[Submitted]) -> None: ...

    async def close(self) -> None: ...


class StateStore(Protocol):
    """Where the engine's state lives between batches (memory.py, redis_state.py)."""

    async def acquire(self, owner: str, *, ttl_ms: int) -> bool: ...

    async def release(self, owner: str) -> None: ...

    async def load(self) -> EngineState: ...

    async def commit(
        self,
        owner: str,
        changes: Changes,
        decisions: Sequence[Decision],
        actions: Sequence[Action] = (),
    ) -> None:
        """Atomically: the engine's changes, its decisions and the outbox actions they cause
        (all or nothing; `LeaseLost` when another process leads)."""
        ...

    async def groups(self, *, state: GroupState | None = None, limit: int = 500) -> list[Group]: ...

    async def group(self, gid: str) -> tuple[Group, list[AlertState]] | None: ...

    async def recent_decisions(self, *, limit: int = 100) -> list[dict[str, object]]: ...

    async def incidents(
        self, *, open_only: bool = False, limit: int = 500, before: int | None = None
    ) -> list[Incident]:
        """Incidents, newest (highest number) first; with `before`, only those numbered below
        it (the next page: `before` = the last number of this one)."""
        ...

    async def incident(self, incident_id: str) -> tuple[Incident, list[TimelineEntry]] | None:
        """One incident with its whole timeline, in order."""
        ...

    async def close(self) -> None: ...
