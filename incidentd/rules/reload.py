"""Holds the running RuleSet and replaces it whole when a valid new one is loaded.

A reload (SIGHUP, or a change seen in the config directory) validates every file; on any
problem the running set stays, the problems are logged with file and line and counted, and
the daemon stays ready.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from incidentd import metrics
from incidentd.clock import Clock
from incidentd.errors import ConfigInvalid
from incidentd.rules.loader import FILES, RuleSet, load

log = structlog.get_logger(__name__)

Snapshot = tuple[tuple[str, int, int], ...]


def snapshot(directory: Path) -> Snapshot:
    """(name, mtime_ns, size) of every file the loader reads; a change means reload."""
    out = []
    for path in sorted(directory.iterdir()):
        if path.suffix in (".yaml", ".yml") or path.name in FILES:
            try:
                stat = path.stat()
            except OSError:
                continue
            out.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(out)


class RulesHandle:
    """The one reference to the running configuration; readers take `current` each time."""

    def __init__(self, rules: RuleSet) -> None:
        self.current = rules
        self._lock = asyncio.Lock()

    async def reload(self) -> bool:
        """Load the directory again; swap on success. Return whether the new set is running."""
        directory = self.current.directory
        if directory is None:
            return False
        async with self._lock:
            try:
                rules = await asyncio.to_thread(load, directory)
            except ConfigInvalid as exc:
                metrics.CONFIG_RELOADS.labels("invalid").inc()
                log.error(  # noqa: TRY400 (the problems are the message; no traceback wanted)
                    "config.invalid",
                    problems=[str(p) for p in exc.problems],
                    running_version=self.current.version,
                )
                return False
            changed = rules.version != self.current.version
            self.current = rules
            metrics.CONFIG_RELOADS.labels("ok").inc()
            if changed:
                log.info("config.reloaded", version=rules.version, warnings=list(rules.warnings))
            return True

    async def watch(self, clock: Clock, *, interval: float) -> None:
        """Reload whenever the directory's files change; runs until cancelled."""
        directory = self.current.directory
        if directory is None:
            return
        seen = await asyncio.to_thread(snapshot, directory)
        while True:
            await clock.sleep(interval)
            try:
                now = await asyncio.to_thread(snapshot, directory)
            except OSError as exc:
                log.warning("config.unreadable", error=str(exc))
                continue
            if now != seen:
                seen = now
                await self.reload()
