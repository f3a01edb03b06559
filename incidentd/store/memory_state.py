"""The engine's state in process: the embedded default. No lease to share, nothing to write.

The engine works on the very `EngineState` this store hands out, so the read API sees every
change at once; decisions are kept in a bounded ring for `/api/v1/decisions`. Incidents and
their timelines are kept whole, also those the engine has forgotten (resolved long ago).
State lives as long as the process. The outbox's actions are added in the same commit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import orjson

from incidentd.act.outbox import Action, MemoryOutbox
from incidentd.correlate.dedup import AlertState
from incidentd.correlate.grouping import Group, GroupState
from incidentd.declare.incident import Incident
from incidentd.declare.timeline import TimelineEntry
from incidentd.engine import QUIET_DECISIONS, Changes, Decision, EngineState

DECISIONS_KEPT = 10_000


class MemoryState:
    def __init__(self, outbox: MemoryOutbox | None = None) -> None:
        self.state = EngineState()
        self.outbox = outbox if outbox is not None else MemoryOutbox()
        self._decisions: deque[bytes] = deque(maxlen=DECISIONS_KEPT)
        self._incidents: dict[str, Incident] = {}
        self._timelines: dict[str, list[TimelineEntry]] = {}

    async def acquire(self, owner: str, *, ttl_ms: int) -> bool:
        return True

    async def release(self, owner: str) -> None:
        return None

    async def close(self) -> None:
        return None

    async def load(self) -> EngineState:
        return self.state

    async def commit(
        self,
        owner: str,
        changes: Changes,
        decisions: Sequence[Decision],
        actions: Sequence[Action] = (),
    ) -> None:
        self.outbox.enqueue(actions)
        self._decisions.extend(orjson.dumps(d) for d in decisions if d.kind not in QUIET_DECISIONS)
        for incident in changes.incidents.incidents:
            self._incidents[incident.id] = incident
        for incident_id, entry in changes.incidents.entries:
            self._timelines.setdefault(incident_id, []).append(entry)

    async def incidents(
        self, *, open_only: bool = False, limit: int = 500, before: int | None = None
    ) -> list[Incident]:
        found = [
            i
            for i in self._incidents.values()
            if (i.open or not open_only) and (before is None or i.number < before)
        ]
        found.sort(key=lambda i: i.number, reverse=True)
        return found[:limit]

    async def incident(self, incident_id: str) -> tuple[Incident, list[TimelineEntry]] | None:
        found = self._incidents.get(incident_id)
        if found is None:
            return None
        return found, list(self._timelines.get(incident_id, ()))

    async def groups(self, *, state: GroupState | None = None, limit: int = 500) -> list[Group]:
        found = [g for g in self.state.groups.values() if state is None or g.state is state]
        found.sort(key=lambda g: g.last_seen, reverse=True)
        return found[:limit]

    async def group(self, gid: str) -> tuple[Group, list[AlertState]] | None:
        group = self.state.groups.get(gid)
        if group is None:
            return None
        alerts = [self.state.alerts[f] for f in group.members if f in self.state.alerts]
        return group, alerts

    async def recent_decisions(self, *, limit: int = 100) -> list[dict[str, object]]:
        newest = list(self._decisions)[-limit:]
        return [orjson.loads(d) for d in reversed(newest)]
