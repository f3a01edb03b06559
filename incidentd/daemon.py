"""The composition root: builds settings, rules, store, web app and background tasks, runs
them, and shuts them down in order. The only module that wires things together.

Shutdown order (SIGTERM/SIGINT): /readyz turns 503, the listener closes, in-flight requests
finish (up to `shutdown_timeout`), background tasks are cancelled and awaited, the queue
flushes and closes. SIGHUP reloads the configuration.
"""

from __future__ import annotations

import asyncio
import signal
from contextlib import suppress

import structlog
from aiohttp import web

from incidentd.clock import SystemClock
from incidentd.http.app import make_app
from incidentd.http.deps import Deps
from incidentd.rules.loader import RuleSet
from incidentd.rules.reload import RulesHandle
from incidentd.settings import Settings
from incidentd.store.base import AlertQueue
from incidentd.store.memory import MemoryQueue
from incidentd.store.redis import RedisQueue

log = structlog.get_logger(__name__)


def build_queue(settings: Settings) -> AlertQueue:
    if settings.redis_url is None:
        return MemoryQueue(max_depth=settings.queue_max_depth, retry_after=settings.retry_after)
    return RedisQueue.from_url(
        settings.redis_url.get_secret_value(),
        prefix=settings.redis_prefix,
        max_depth=settings.queue_max_depth,
        append_timeout=settings.append_timeout,
        retry_after=settings.retry_after,
    )


def _warn_about(rules: RuleSet) -> None:
    for warning in rules.warnings:
        log.warning("config.warning", warning=warning)
    open_sources = [n for n, s in rules.sources.sources.items() if s.auth.type == "none"]
    if open_sources:
        log.warning("config.unauthenticated_sources", sources=open_sources)


async def run(settings: Settings, rules: RuleSet) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    clock = SystemClock()
    queue = build_queue(settings)
    await queue.start()
    handle = RulesHandle(rules)
    deps = Deps(rules=handle, queue=queue, clock=clock)
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
            listen=[f"{host}:{port}" for host, port, *_ in runner.addresses],
            config_version=rules.version,
            config_dir=str(settings.config_dir),
        )
        if settings.redis_url is None:
            log.warning("store.in_memory", note="alerts are not kept across restarts")
        async with asyncio.TaskGroup() as tasks:
            watcher = tasks.create_task(handle.watch(clock, interval=settings.reload_interval))
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
            watcher.cancel()
    finally:
        for task in reloads:
            task.cancel()
        with suppress(asyncio.CancelledError):
            await asyncio.gather(*reloads)
        await runner.cleanup()
        await queue.close()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        log.info("daemon.stopped")
