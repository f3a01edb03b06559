"""The composition root: builds settings, rules, stores, engine consumer, web app and
background tasks, runs them, and shuts them down in order. The only module that wires.

Shutdown order (SIGTERM/SIGINT): /readyz turns 503, the listener closes, in-flight requests
finish (up to `shutdown_timeout`), the engine finishes its batch (commit, then ack), the
other background tasks are cancelled and awaited, the stores flush and close. SIGHUP reloads
the configuration.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta

import structlog
from aiohttp import web

from incidentd.act.dispatch import Dispatcher
from incidentd.act.outbox import MemoryOutbox, Outbox
from incidentd.clock import SystemClock
from incidentd.consumer import Consumer, ConsumerSettings
from incidentd.http.app import make_app
from incidentd.http.deps import Deps
from incidentd.ingest.alertmanager_api import AlertmanagerSync
from incidentd.recorder import Recorder
from incidentd.replay import YOUNG_GENERATION
from incidentd.rules.loader import RuleSet
from incidentd.rules.reload import RulesHandle
from incidentd.settings import Settings
from incidentd.store.base import AlertQueue, CommandBus, SilenceStore, StateStore
from incidentd.store.commands import MemoryCommands, RedisCommands
from incidentd.store.memory import MemoryQueue, MemorySilences
from incidentd.store.memory_state import MemoryState
from incidentd.store.redis import RedisQueue
from incidentd.store.redis_outbox import RedisOutbox
from incidentd.store.redis_silences import RedisSilences
from incidentd.store.redis_state import RedisState

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Stores:
    queue: AlertQueue
    state: StateStore
    silences: SilenceStore
    commands: CommandBus
    outbox: Outbox

    async def close(self) -> None:
        await self.outbox.close()
        await self.queue.close()
        await self.state.close()
        await self.silences.close()
        await self.commands.close()


def build_stores(settings: Settings) -> Stores:
    if settings.redis_url is None:
        outbox = MemoryOutbox()
        return Stores(
            queue=MemoryQueue(max_depth=settings.queue_max_depth, retry_after=settings.retry_after),
            state=MemoryState(outbox),
            silences=MemorySilences(),
            commands=MemoryCommands(),
            outbox=outbox,
        )
    url = settings.redis_url.get_secret_value()
    prefix = settings.redis_prefix
    return Stores(
        queue=RedisQueue.from_url(
            url,
            prefix=prefix,
            max_depth=settings.queue_max_depth,
            append_timeout=settings.append_timeout,
            retry_after=settings.retry_after,
        ),
        state=RedisState.from_url(url, prefix=prefix),
        silences=RedisSilences.from_url(
            url, prefix=prefix, timeout=settings.append_timeout, retry_after=settings.retry_after
        ),
        commands=RedisCommands.from_url(url, prefix=prefix),
        outbox=RedisOutbox.from_url(url, prefix=prefix),
    )


def build_consumer(
    settings: Settings, stores: Stores, rules: RulesHandle, clock: SystemClock
) -> Consumer:
    return Consumer(
        queue=stores.queue,
        store=stores.state,
        silences=stores.silences,
        commands=stores.commands,
        rules=rules,
        clock=clock,
        settings=ConsumerSettings(
            name=f"{socket.gethostname()}-{os.getpid()}",
            batch=settings.engine_batch,
            reclaim_idle_ms=int(settings.reclaim_idle * 1000),
            lease_ttl_ms=int(settings.lease_ttl * 1000),
        ),
        retention=timedelta(seconds=settings.retention),
    )


def build_dispatcher(
    settings: Settings, stores: Stores, rules: RulesHandle, clock: SystemClock
) -> Dispatcher:
    return Dispatcher(
        outbox=stores.outbox,
        state=stores.state,
        commands=stores.commands,
        rules=rules,
        clock=clock,
        name=f"{socket.gethostname()}-{os.getpid()}",
        public_url=settings.public_url,
    )


@dataclass(frozen=True, slots=True)
class Workers:
    """The background loops: the engine (one leader across replicas) and the outbox."""

    consumer: Consumer | None
    dispatcher: Dispatcher | None
    alertmanager_api: AlertmanagerSync | None = None
    """Asks the Alertmanagers of `sources.alertmanager.api` what is still active (leader only)."""

    def start(self, tasks: asyncio.TaskGroup) -> None:
        if self.consumer is not None:
            tasks.create_task(self.consumer.run())
        if self.dispatcher is not None:
            tasks.create_task(self.dispatcher.run())
        if self.alertmanager_api is not None:
            tasks.create_task(self.alertmanager_api.run())

    def stop(self) -> None:
        if self.alertmanager_api is not None:
            self.alertmanager_api.stopping.set()
        if self.consumer is not None:
            self.consumer.stopping.set()  # ends after its current batch: commit, then ack
        if self.dispatcher is not None:
            self.dispatcher.stopping.set()  # attempts under way finish and are recorded


def _warn_about(rules: RuleSet) -> None:
    for warning in rules.warnings:
        log.warning("config.warning", warning=warning)
    open_sources = [n for n, s in rules.sources.sources.items() if s.auth.type == "none"]
    if open_sources:
        log.warning("config.unauthenticated_sources", sources=open_sources)


async def run(settings: Settings, rules: RuleSet) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    # Every request and alert makes short-lived objects: the collector's young generation
    # at 700 ran several times per webhook of 100 alerts (replay measured 10% of its time in
    # it); the loaded config is frozen out of its scans (the engine's state too, once loaded).
    gc.set_threshold(YOUNG_GENERATION, *gc.get_threshold()[1:])
    gc.freeze()
    clock = SystemClock()
    stores = build_stores(settings)
    await stores.queue.start()
    handle = RulesHandle(rules)
    recorder = None
    if settings.record_path is not None:
        recorder = Recorder(settings.record_path, max_bytes=settings.record_max_bytes)
    deps = Deps(
        rules=handle,
        queue=stores.queue,
        clock=clock,
        silences=stores.silences,
        state=stores.state,
        recorder=recorder,
        commands=stores.commands,
        outbox=stores.outbox,
    )
    consumer = build_consumer(settings, stores, handle, clock) if settings.engine else None
    workers = Workers(
        consumer,
        build_dispatcher(settings, stores, handle, clock) if settings.actions else None,
        None
        if consumer is None
        else AlertmanagerSync(
            rules=handle, queue=stores.queue, held=consumer.held, clock=clock, recorder=recorder
        ),
    )
    runner = web.AppRunner(
        make_app(deps),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=settings.shutdown_timeout,
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[bool]] = set()

    def _hup() -> None:
        task = loop.create_task(handle.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _hup)
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        _warn_about(rules)
        log.info(
            "daemon.started",
            store="redis" if settings.redis_url is not None else "memory",
            engine=settings.engine,
            actions=settings.actions,
            recording=str(settings.record_path) if recorder is not None else None,
            listen=[f"{host}:{port}" for host, port, *_ in runner.addresses],
            config_version=rules.version,
            config_dir=str(settings.config_dir),
        )
        if settings.redis_url is None:
            log.warning("store.in_memory", note="alerts are not kept across restarts")
        async with asyncio.TaskGroup() as tasks:
            watcher = tasks.create_task(handle.watch(clock, interval=settings.reload_interval))
            writer = tasks.create_task(recorder.run()) if recorder is not None else None
            workers.start(tasks)
            await stop.wait()
            log.info("daemon.stopping")
            deps.accepting = False
            await site.stop()  # no new connections; requests under way go on
            try:
                async with asyncio.timeout(settings.shutdown_timeout):
                    await deps.inflight.wait_idle()
            except TimeoutError:
                log.warning("daemon.shutdown_timeout", inflight=deps.inflight.count)
            await runner.cleanup()
            workers.stop()
            watcher.cancel()
            if writer is not None:
                writer.cancel()
    finally:
        for task in reloads:
            task.cancel()
        with suppress(asyncio.CancelledError):
            await asyncio.gather(*reloads)
        await runner.cleanup()
        await stores.close()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        log.info("daemon.stopped")
