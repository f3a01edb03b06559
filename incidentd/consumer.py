"""The live driver: queue batches through the Engine, commit, then acknowledge.

One `Consumer` task per daemon. It runs the engine only while it holds the store's lease
(always, with the in-memory store; one replica at a time with Redis). Each round: read a
batch (blocking XREADGROUP), `engine.process`, commit the changes and decisions atomically,
and only then acknowledge the batch. The outbox actions the batch causes (act/plan.py) are part
of that commit. Entries left pending by a consumer that died are
reclaimed after `reclaim_idle`. When a commit fails or the lease is lost, the in-memory state
is dropped and reloaded from the store, and the unacknowledged batch is delivered again:
dedup by event id makes that harmless.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from incidentd import metrics
from incidentd.act.plan import plan_batch
from incidentd.clock import Clock, pause
from incidentd.correlate.dedup import AlertState
from incidentd.correlate.silences import Silence
from incidentd.engine import DEFAULT_RETENTION, Decision, Engine
from incidentd.errors import InputError, LeaseLost, Overloaded
from incidentd.model import Alert
from incidentd.rules.loader import RuleSet
from incidentd.rules.reload import RulesHandle
from incidentd.store.base import AlertQueue, CommandBus, Queued, SilenceStore, StateStore
from incidentd.store.commands import Answer, MemoryCommands, Submitted

log = structlog.get_logger(__name__)

ENGINE_SLICE = 1000
"""Alerts the engine takes between two turns of the event loop (about 50-100 ms of CPU)."""


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    name: str
    batch: int = 200
    block_ms: int = 500
    reclaim_idle_ms: int = 30_000
    lease_ttl_ms: int = 10_000
    tick_interval: float = 1.0


class Consumer:
    def __init__(
        self,
        *,
        queue: AlertQueue,
        store: StateStore,
        silences: SilenceStore,
        rules: RulesHandle,
        clock: Clock,
        settings: ConsumerSettings,
        retention: timedelta = DEFAULT_RETENTION,
        commands: CommandBus | None = None,
    ) -> None:
        self._queue = queue
        self._store = store
        self._silences = silences
        self._commands = commands if commands is not None else MemoryCommands()
        self._rules = rules
        self._clock = clock
        self._cfg = settings
        self._retention = retention
        self._engine: Engine | None = None
        self._lease_checked = 0.0
        self._ticked = 0.0
        self._reclaimed = 0.0
        self._sweep = False
        self.stopping = asyncio.Event()

    @property
    def leader(self) -> bool:
        return self._engine is not None

    def held(self) -> Iterable[AlertState] | None:
        """The alerts the engine holds, or None when this process does not lead the engine.
        A view, not a copy (100,000 alerts): valid until this task next runs a round, so read
        it through before the next await."""
        if self._engine is None:
            return None
        return self._engine.state.alerts.values()

    async def run(self) -> None:
        """Until `stopping` is set: a failure is logged and counted, and the loop goes on."""
        while not self.stopping.is_set():
            try:
                await self._round()
            except (LeaseLost, Overloaded) as exc:
                await self._drop(f"{type(exc).__name__}: {exc}")
                await pause(self.stopping, 1.0)
            except Exception:  # task boundary: log, count, keep consuming
                log.exception("engine.round_failed")
                metrics.ENGINE_FAILURES.inc()
                await self._drop("unexpected error")
                await pause(self.stopping, 1.0)
        if self._engine is not None:
            await self._store.release(self._cfg.name)

    async def _drop(self, why: str) -> None:
        if self._engine is not None:
            log.warning("engine.state_dropped", reason=why)
            metrics.ENGINE_LEADER.set(0)
        self._engine = None

    async def _ensure_leader(self) -> Engine | None:
        now = time.monotonic()
        if self._engine is not None and now - self._lease_checked < self._cfg.lease_ttl_ms / 3000:
            return self._engine
        held = await self._store.acquire(self._cfg.name, ttl_ms=self._cfg.lease_ttl_ms)
        self._lease_checked = now
        if not held:
            if self._engine is not None:
                await self._drop("lease lost")
            return None
        if self._engine is None:
            gc.unfreeze()  # what a previous leadership froze may be garbage now
            state = await self._store.load()
            self._engine = Engine.resume(state, self._rules.current, retention=self._retention)
            gc.collect()
            gc.freeze()  # the loaded state (100,000 alerts) out of the collector's scans
            self._sweep = True
            metrics.ENGINE_LEADER.set(1)
            log.info("engine.leading", alerts=len(state.alerts), groups=len(state.groups))
        return self._engine

    async def _round(self) -> None:
        engine = await self._ensure_leader()
        if engine is None:
            await pause(self.stopping, self._cfg.lease_ttl_ms / 3000)
            return
        # An assessment due soon (a declaration) must not wait for a full blocking read.
        due = engine.declarer.next_due()
        block = self._cfg.block_ms
        if due is not None:
            until_due = (due - self._clock.now()).total_seconds() * 1000
            block = max(0, min(block, int(until_due) + 1))
        entries = await self._next_entries(block)
        rules = self._rules.current
        now = self._clock.now()
        decisions: list[Decision] = []
        due_now = due is not None and due <= now
        if due_now or time.monotonic() - self._ticked >= self._cfg.tick_interval:
            engine.set_api_silences(await self._api_silences())
            decisions.extend(engine.tick(rules=rules, now=now))
            self._ticked = time.monotonic()
        commands = await self._commands.take(self._cfg.name)
        await self._readmit(engine, commands, rules)
        answers = [self._apply(engine, sub, rules, now) for sub in commands]
        alerts = [alert for entry in entries for alert in entry.alerts]
        started = time.perf_counter()
        decisions.extend(await self._process(engine, alerts, rules))
        changes = engine.take_changes()
        actions = plan_batch(
            changes.incidents.entries, engine.state.declare.incidents, rules, now=now
        )
        await self._store.commit(self._cfg.name, changes, decisions, actions)
        if entries:
            await self._queue.ack([entry.id for entry in entries])
        await self._commands.finish(answers, commands)
        self._count(alerts, decisions, time.perf_counter() - started)

    @staticmethod
    async def _process(engine: Engine, alerts: Sequence[Alert], rules: RuleSet) -> list[Decision]:
        """The batch through the engine in slices, with a turn of the event loop between
        them: 200 webhooks of 100 alerts take seconds of CPU, and requests (health probes
        included) must not wait that long. The engine's outcome does not depend on how its
        input is sliced; nothing else touches the engine meanwhile (the API reads the store
        and submits commands, taken at the start of the round)."""
        out: list[Decision] = []
        for start in range(0, len(alerts), ENGINE_SLICE):
            if start:
                await asyncio.sleep(0)
            out.extend(engine.process(alerts[start : start + ENGINE_SLICE], rules=rules))
        return out

    async def _readmit(self, engine: Engine, commands: Sequence[Submitted], rules: RuleSet) -> None:
        """Follow-ups are added and closed long after the incident resolved, when the engine
        has forgotten it: load such an incident back from the store first."""
        held = engine.declarer.state.incidents
        wanted = {
            sub.command.incident_id
            for sub in commands
            if sub.command.action.startswith("followup") and sub.command.incident_id not in held
        }
        for incident_id in sorted(wanted):
            found = await self._store.incident(incident_id)
            if found is not None:
                engine.declarer.readmit(found[0], rules.declaration)

    def _apply(self, engine: Engine, sub: Submitted, rules: RuleSet, now: datetime) -> Answer:
        """A person's change, before the batch (it was submitted while the batch queued)."""
        try:
            incident = engine.command(sub.command, rules=rules, now=now, command_id=sub.id)
        except InputError as exc:
            log.info(
                "incident.command_refused", incident=sub.command.incident_id, reason=exc.reason
            )
            return Answer(sub.id, error=exc)
        if sub.command.action == "record":
            return Answer(sub.id, incident=incident)
        log.info(
            "incident.command_applied",
            incident=incident.id,
            action=sub.command.action,
            by=sub.command.actor.name,
        )
        return Answer(sub.id, incident=incident)

    async def _next_entries(self, block_ms: int) -> list[Queued]:
        if self._sweep:
            # A new leader first takes over everything left pending: only a leader reads the
            # queue, so those entries belong to one that died or lost its lease (it can no
            # longer commit them). Oldest work first keeps the order of events.
            reclaimed = await self._queue.reclaim(self._cfg.name, idle_ms=0, count=self._cfg.batch)
            if reclaimed:
                log.warning("engine.reclaimed", entries=len(reclaimed), on="takeover")
                return reclaimed
            self._sweep = False
        now = time.monotonic()
        if now - self._reclaimed >= self._cfg.reclaim_idle_ms / 2000:
            self._reclaimed = now
            reclaimed = await self._queue.reclaim(
                self._cfg.name, idle_ms=self._cfg.reclaim_idle_ms, count=self._cfg.batch
            )
            if reclaimed:
                log.warning("engine.reclaimed", entries=len(reclaimed))
                return reclaimed
        return await self._queue.read(self._cfg.name, count=self._cfg.batch, block_ms=block_ms)

    async def _api_silences(self) -> list[Silence]:
        return await self._silences.list()

    @staticmethod
    def _count(alerts: Sequence[object], decisions: Sequence[Decision], seconds: float) -> None:
        if alerts:
            metrics.ENGINE_ALERTS.inc(len(alerts))
            metrics.ENGINE_BATCH_SECONDS.observe(seconds)
        # one labelled child per kind, not per decision: `labels()` takes a lock and builds
        # a key, and a storm's batch makes a decision or two per alert
        for kind, count in Counter(d.kind for d in decisions).items():
            metrics.ENGINE_DECISIONS.labels(kind).inc(count)
        for decision in decisions:
            if decision.kind == "incident.sla_breached" and decision.detail:
                clock, _, priority = decision.detail.partition("/")
                metrics.SLA_BREACHES.labels(clock, priority).inc()
                log.warning("incident.sla_breached", incident=decision.incident_id, clock=clock)
