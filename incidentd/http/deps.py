"""What the HTTP handlers are given by the composition root, under one typed AppKey."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from incidentd.act.outbox import MemoryOutbox, Outbox
from incidentd.clock import Clock
from incidentd.recorder import Recorder
from incidentd.rules.reload import RulesHandle
from incidentd.store.base import AlertQueue, CommandBus, SilenceStore, StateStore
from incidentd.store.commands import MemoryCommands
from incidentd.store.memory import MemorySilences
from incidentd.store.memory_state import MemoryState


class InFlight:
    """Counts requests being handled, so that shutdown can wait for them to finish."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return when no request is in flight (the caller bounds the wait)."""
        await self._idle.wait()


@dataclass(slots=True)
class Deps:
    rules: RulesHandle
    queue: AlertQueue
    clock: Clock
    inflight: InFlight = field(default_factory=InFlight)
    accepting: bool = True
    """False from the start of a graceful shutdown: /readyz then answers 503."""
    silences: SilenceStore = field(default_factory=MemorySilences)
    """Silences created through the API (daemon.py gives the Redis one with a Redis store)."""
    state: StateStore = field(default_factory=MemoryState)
    """The engine's state, read by the groups API."""
    recorder: Recorder | None = None
    """Records accepted webhooks for replay, when configured."""
    commands: CommandBus = field(default_factory=MemoryCommands)
    """People's changes to incidents, carried to the engine."""
    outbox: Outbox = field(default_factory=MemoryOutbox)
    """The actions decided, their state and outcomes (the actions API)."""


DEPS = web.AppKey("deps", Deps)
