"""The engine's state in Redis: one leader at a time, fenced commits, everything shared.

Several daemons may share one Redis. All of them ingest; one of them, the holder of a lease
(`SET {prefix}:engine:lease NX PX`), runs the engine. The leader loads the whole state when
it takes the lease, keeps it in memory, and writes every batch's changes in one MULTI/EXEC
that WATCHes the lease key: a leader that lost its lease (paused, partitioned) cannot write
any more, and because the queue is acknowledged only after a successful commit, whatever it
had read is delivered again to the next leader. The result is exactly what one process
produces from the same alerts, with a failover time of about one lease TTL.

Keys (all under one hash tag, see keys.py): `state:alerts` (fingerprint -> AlertState),
`state:groups` (group id -> Group header), `state:members:<group id>` (fingerprint ->
Member), `decisions` (a capped stream of decisions), `engine:lease`. Resolved alerts and
groups are deleted by the engine after its retention time, so memory stays bounded.

Incidents are records and are kept: `incidents` (id -> Incident), `incidents:by_number` (a
sorted set, for listing newest first), `incident:<id>:timeline` (a list, appended in the same
commit as the change that made each entry), `incidents:live` (the ids the engine still works
with: what a new leader loads) and `state:declare` (the incident counter and the
declarer's bookkeeping). The counter moves in the fenced commit, so however many replicas
race, each number, and each incident, is declared once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from incidentd.act.outbox import Action
from incidentd.correlate.dedup import AlertState
from incidentd.correlate.grouping import Group, GroupState
from incidentd.declare.incident import Incident
from incidentd.declare.timeline import TimelineEntry
from incidentd.engine import QUIET_DECISIONS, Changes, Decision, EngineState
from incidentd.errors import LeaseLost, Overloaded
from incidentd.store import codec
from incidentd.store.keys import Keys
from incidentd.store.redis_outbox import OutboxKeys, queue_enqueue

log = structlog.get_logger(__name__)

DECISIONS_MAXLEN: Final = 10_000
"""Commits (stream entries, each the decisions of one batch) kept in the decisions stream."""


_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
_WRITE = """
-- One batch's alerts and group members, sent as one JSON payload (ARGV[1]): redis-py packs
-- each argument of a command in Python, a payload costs it one. KEYS[1] is the alerts hash,
-- KEYS[2..] the member hashes of the groups that changed. The payload is
-- [[alert field, value, ...], [[member field, value, ...], [member field to delete, ...]], ...]
-- with one member entry per member key, in order. Written in slices: Lua's unpack cannot
-- spread more than a few thousand values at once.
local SLICE = 2000
local function each(command, key, values)
  for i = 1, #values, SLICE do
    redis.call(command, key, unpack(values, i, math.min(i + SLICE - 1, #values)))
  end
end
local batch = cjson.decode(ARGV[1])
each('HSET', KEYS[1], batch[1])
for i = 2, #KEYS do
  each('HSET', KEYS[i], batch[i][1])
  each('HDEL', KEYS[i], batch[i][2])
end
return #KEYS
"""


class RedisState:
    def __init__(self, client: Redis, *, prefix: str = "incidentd") -> None:
        self._client = client
        self._keys = Keys(prefix)
        tag = self._keys.tag
        self.lease_key = f"{tag}:engine:lease"
        self.alerts_key = f"{tag}:state:alerts"
        self.groups_key = f"{tag}:state:groups"
        self.decisions_key = f"{tag}:decisions"
        self._members_prefix = f"{tag}:state:members:"
        self.incidents_key = f"{tag}:incidents"
        self.by_number_key = f"{tag}:incidents:by_number"
        self.live_key = f"{tag}:incidents:live"
        self.declare_key = f"{tag}:state:declare"
        self._timeline_prefix = f"{tag}:incident:"
        self._outbox = OutboxKeys(tag)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "incidentd", timeout: float = 5.0) -> RedisState:
        """A store with its own client. Loading a big state takes a while: `timeout` bounds
        each command, not the whole load."""
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(client, prefix=prefix)

    async def close(self) -> None:
        await self._client.aclose()

    def members_key(self, gid: str) -> str:
        return self._members_prefix + gid

    def timeline_key(self, incident_id: str) -> str:
        return f"{self._timeline_prefix}{incident_id}:timeline"

    # -- the lease -------------------------------------------------------------------------

    async def acquire(self, owner: str, *, ttl_ms: int) -> bool:
        """Take the lease if free, or renew it if ours. Raises Overloaded when Redis is down."""
        try:
            if await self._client.set(self.lease_key, owner, nx=True, px=ttl_ms):
                return True
            renewed = await self._client.eval(_RENEW, 1, self.lease_key, owner, ttl_ms)
        except RedisError as exc:
            raise Overloaded(f"redis unreachable: {type(exc).__name__}") from exc
        return bool(renewed)

    async def release(self, owner: str) -> None:
        try:
            await self._client.eval(_RELEASE, 1, self.lease_key, owner)
        except RedisError:
            log.warning("engine.lease_release_failed")

    # -- load ------------------------------------------------------------------------------

    async def load(self) -> EngineState:
        """Everything the engine had committed (indexes are rebuilt by the engine)."""
        try:
            raw_alerts: dict[bytes, bytes] = await self._client.hgetall(self.alerts_key)  # type: ignore[assignment]
            raw_groups: dict[bytes, bytes] = await self._client.hgetall(self.groups_key)  # type: ignore[assignment]
            async with self._client.pipeline(transaction=False) as pipe:
                ids = [gid.decode() for gid in raw_groups]
                for gid in ids:
                    pipe.hgetall(self.members_key(gid))
                member_maps = await pipe.execute()
            live: set[bytes] = await self._client.smembers(self.live_key)  # type: ignore[assignment]
            raw_incidents = (
                await self._client.hmget(self.incidents_key, sorted(live)) if live else []
            )
            meta: bytes | None = await self._client.get(self.declare_key)  # type: ignore[assignment]
        except RedisError as exc:
            raise Overloaded(f"redis unreachable: {type(exc).__name__}") from exc
        state = EngineState()
        for raw in raw_alerts.values():
            alert = codec.decode_alert(raw)
            state.alerts[alert.fingerprint] = alert
        for gid, raw_members in zip(ids, member_maps, strict=True):
            members = {fp.decode(): codec.decode_member(m) for fp, m in raw_members.items()}
            state.groups[gid] = codec.decode_group(raw_groups[gid.encode()], members)
        incidents = [codec.decode_incident(raw) for raw in raw_incidents if raw is not None]
        state.declare = codec.declare_state(incidents, meta)
        return state

    # -- commit ----------------------------------------------------------------------------

    async def commit(
        self,
        owner: str,
        changes: Changes,
        decisions: Sequence[Decision],
        actions: Sequence[Action] = (),
    ) -> None:
        """Write one batch's changes atomically, only while `owner` holds the lease, with the
        outbox actions they cause (store/redis_outbox.py).

        Raises LeaseLost when the lease is gone (nothing written) and Overloaded when Redis
        cannot be reached (nothing written, or all of it: MULTI/EXEC is all or nothing).
        """
        if not changes and not decisions and not actions:
            return
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                await pipe.watch(self.lease_key)
                holder: bytes | None = await pipe.get(self.lease_key)  # type: ignore[assignment]
                if holder is None or holder.decode() != owner:
                    raise LeaseLost("the engine lease belongs to another process")
                pipe.multi()  # type: ignore[no-untyped-call]
                self._queue_writes(pipe, changes, decisions)
                queue_enqueue(pipe, self._outbox, actions)
                await pipe.execute()
        except WatchError as exc:
            raise LeaseLost("the engine lease changed during the commit") from exc
        except RedisError as exc:
            raise Overloaded(f"redis unreachable: {type(exc).__name__}") from exc

    def _queue_writes(self, pipe: Any, changes: Changes, decisions: Sequence[Decision]) -> None:
        self._queue_alerts_and_members(pipe, changes)
        if changes.removed_alerts:
            pipe.hdel(self.alerts_key, *changes.removed_alerts)
        if changes.groups:
            pipe.hset(
                self.groups_key, mapping={g.id: codec.encode_group(g) for g in changes.groups}
            )
        if changes.removed_groups:
            pipe.hdel(self.groups_key, *changes.removed_groups)
            for gid in changes.removed_groups:
                pipe.delete(self.members_key(gid))
        self._queue_incidents(pipe, changes)
        kept = [d for d in decisions if d.kind not in QUIET_DECISIONS]
        if kept:  # one stream entry per commit, like the queue: one command, not one per alert
            pipe.xadd(
                self.decisions_key,
                {"d": orjson.dumps(kept)},
                maxlen=DECISIONS_MAXLEN,
                approximate=True,
            )

    def _queue_alerts_and_members(self, pipe: Any, changes: Changes) -> None:
        """The alerts and the group members that changed, in one command (`_WRITE`)."""
        keys = [self.alerts_key]
        alerts: list[str] = []
        for a in changes.alerts:
            alerts += (a.fingerprint, codec.encode_alert(a).decode())
        batch: list[Any] = [alerts]
        for group in changes.groups:
            fingerprints = changes.members.get(group.id, ())
            members = group.members
            present: list[str] = []
            gone: list[str] = []
            for f in fingerprints:
                if f in members:
                    present += (f, codec.encode_member(members[f]).decode())
                else:
                    gone.append(f)
            if present or gone:
                keys.append(self.members_key(group.id))
                batch.append([present, gone])
        if alerts or len(keys) > 1:
            pipe.eval(_WRITE, len(keys), *keys, orjson.dumps(batch))

    def _queue_incidents(self, pipe: Any, changes: Changes) -> None:
        found = changes.incidents
        if found.incidents:
            pipe.hset(
                self.incidents_key,
                mapping={i.id: codec.encode_incident(i) for i in found.incidents},
            )
            pipe.zadd(self.by_number_key, {i.id: i.number for i in found.incidents})
            pipe.sadd(self.live_key, *(i.id for i in found.incidents))
        entries: dict[str, list[bytes]] = {}
        for incident_id, entry in found.entries:
            entries.setdefault(incident_id, []).append(codec.encode_entry(entry))
        for incident_id, encoded in entries.items():
            pipe.rpush(self.timeline_key(incident_id), *encoded)
        if found.forgotten:
            pipe.srem(self.live_key, *found.forgotten)
        if found.meta is not None:
            pipe.set(self.declare_key, codec.encode_declare_meta(found.meta))

    # -- reads for the API (any replica) ----------------------------------------------------

    async def incidents(
        self, *, open_only: bool = False, limit: int = 500, before: int | None = None
    ) -> list[Incident]:
        """Newest first. `open_only` reads the incidents the engine still works with (open
        ones are among them), else the newest `limit` of all, or of those numbered below
        `before`."""
        try:
            if open_only:
                ids: list[bytes] = sorted(await self._client.smembers(self.live_key))  # type: ignore[arg-type]
            elif before is not None:
                ids = await self._client.zrevrangebyscore(  # type: ignore[assignment]
                    self.by_number_key, f"({before}", "-inf", start=0, num=limit
                )
            else:
                ids = await self._client.zrevrange(self.by_number_key, 0, limit - 1)  # type: ignore[assignment]
            raw = await self._client.hmget(self.incidents_key, ids) if ids else []
        except RedisError as exc:
            raise Overloaded(f"redis unreachable: {type(exc).__name__}") from exc
        out = [codec.decode_incident(r) for r in raw if r is not None]
        if open_only:
            out = [i for i in out if i.open and (before is None or i.number < before)]
        out.sort(key=lambda i: i.number, reverse=True)
        return out[:limit]

    async def incident(self, incident_id: str) -> tuple[Incident, list[TimelineEntry]] | None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hget(self.incidents_key, incident_id)
                pipe.lrange(self.timeline_key(incident_id), 0, -1)
                raw, entries = await pipe.execute()
        except RedisError as exc:
            raise Overloaded(f"redis unreachable: {type(exc).__name__}") from exc
        if raw is None:
            return None
        return codec.decode_incident(raw), [codec.decode_entry(e) for e in entries]

    async def groups(self, *, state: GroupState | None = None, limit: int = 500) -> list[Group]:
        try:
            raw: dict[bytes, bytes] = await self._client.hgetall(self.groups_key)  # type: ignore[assignment]
        except RedisError as exc:
            raise Overloaded(f"redis unreachable: {type(exc).__name__}") from exc
        out = [codec.decode_group(v, {}) for v in raw.values()]
        if state is not None:
            out = [g for g in out if g.state is state]
        out.sort(key=lambda g: g.last_seen, reverse=True)
        return out[:limit]

    async def group(self, gid: str) -> tuple[Group, list[AlertState]] | None:
        try:
            raw: bytes | None = await self._client.hget(self.groups_key, gid)  # type: ignore[assignment]
            if raw is None:
                return None
            raw_members: dict[bytes, bytes] = await self._client.hgetall(self.members_key(gid))  # type: ignore[assignment]
            fps = [f.decode() for f in raw_members]
            raw_alerts = await self._client.hmget(self.alerts_key, fps) if fps else []
        except RedisError as exc:
            raise Overloaded(f"redis unreachable: {type(exc).__name__}") from exc
        members = {f.decode(): codec.decode_member(m) for f, m in raw_members.items()}
        alerts = [codec.decode_alert(a) for a in raw_alerts if a is not None]
        return codec.decode_group(raw, members), alerts

    async def recent_decisions(self, *, limit: int = 100) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        last = "+"
        while len(out) < limit:
            try:
                entries: list[Any] = await self._client.xrevrange(  # type: ignore[assignment]
                    self.decisions_key, max=last, count=32
                )
            except RedisError as exc:
                raise Overloaded(f"redis unreachable: {type(exc).__name__}") from exc
            for entry_id, fields in entries:
                out.extend(reversed(orjson.loads(fields[b"d"])))
                last = "(" + entry_id.decode()
            if len(entries) < 32:
                break
        return out[:limit]
