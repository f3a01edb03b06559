"""The outbox in Redis: shared by every replica, written in the engine's fenced commit.

Keys (under the deployment's hash tag, so the scripts stay legal on Redis Cluster):
`outbox:actions` (key -> Action JSON), `outbox:due` (sorted set: the heads of chains, and
claimed actions until their claim expires, by due time in ms), `outbox:chain:<incident>/
<target>` (list: a chain's action keys in order), `outbox:claims` (key -> claim token),
`outbox:refs:<incident>` (target -> refs JSON), `outbox:incident:<incident>` (list: its
action keys), `outbox:created` (sorted set by creation, for listing), `outbox:settled` and
`outbox:dead` (sorted sets by settle time), and
`outbox:wake` (a one-element list the workers block on, pushed when something is due now).

Every change to the structures is one Lua script, so a claim, a settle and the release of a
chain's next action are atomic with respect to each other and to the engine's commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from incidentd.act import outbox as ob
from incidentd.act.outbox import Action, ActionState, Claimed
from incidentd.errors import Overloaded
from incidentd.store.keys import Keys

_ENQUEUE: Final = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1])
redis.call('RPUSH', KEYS[4], ARGV[1])
if redis.call('RPUSH', KEYS[3], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
  redis.call('LPUSH', KEYS[5], '1')
  redis.call('LTRIM', KEYS[5], 0, 0)
end
return 1
"""

_CLAIM: Final = """
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for i, k in ipairs(keys) do
  local token = ARGV[4] .. ':' .. i
  redis.call('ZADD', KEYS[1], ARGV[2], k)
  redis.call('HSET', KEYS[3], k, token)
  out[#out + 1] = k
  out[#out + 1] = token
  out[#out + 1] = redis.call('HGET', KEYS[2], k) or ''
end
return out
"""

_SETTLE: Final = """
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[4], ARGV[5], ARGV[4])
if ARGV[6] == 'pending' then
  redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
  return 1
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[8], ARGV[1])
if ARGV[6] == 'dead' then redis.call('ZADD', KEYS[7], ARGV[8], ARGV[1]) end
redis.call('LREM', KEYS[5], 1, ARGV[1])
local nxt = redis.call('LINDEX', KEYS[5], 0)
if nxt then
  redis.call('ZADD', KEYS[2], ARGV[8], nxt)
  redis.call('LPUSH', KEYS[8], '1')
  redis.call('LTRIM', KEYS[8], 0, 0)
end
return 1
"""

_RETRY: Final = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[6], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('LPUSH', KEYS[5], '1')
redis.call('LTRIM', KEYS[5], 0, 0)
return 1
"""


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class OutboxKeys:
    tag: str

    @classmethod
    def of(cls, prefix: str) -> OutboxKeys:
        return cls(Keys(prefix).tag)

    @property
    def actions(self) -> str:
        return f"{self.tag}:outbox:actions"

    @property
    def due(self) -> str:
        return f"{self.tag}:outbox:due"

    @property
    def claims(self) -> str:
        return f"{self.tag}:outbox:claims"

    @property
    def settled(self) -> str:
        return f"{self.tag}:outbox:settled"

    @property
    def dead(self) -> str:
        return f"{self.tag}:outbox:dead"

    @property
    def created(self) -> str:
        return f"{self.tag}:outbox:created"

    @property
    def wake(self) -> str:
        return f"{self.tag}:outbox:wake"

    def chain(self, chain: str) -> str:
        return f"{self.tag}:outbox:chain:{chain}"

    def refs(self, incident_id: str) -> str:
        return f"{self.tag}:outbox:refs:{incident_id}"

    def incident(self, incident_id: str) -> str:
        return f"{self.tag}:outbox:incident:{incident_id}"


def queue_enqueue(pipe: Any, keys: OutboxKeys, actions: Sequence[Action]) -> None:
    """Add `actions` inside the caller's MULTI (the engine's fenced commit)."""
    for action in actions:
        pipe.eval(
            _ENQUEUE,
            6,
            keys.actions,
            keys.due,
            keys.chain(action.chain),
            keys.incident(action.incident_id),
            keys.wake,
            keys.created,
            action.key,
            ob.encode(action),
            _ms(action.due_at),
            _ms(action.created_at),
        )


class RedisOutbox:
    def __init__(self, client: Redis, *, prefix: str = "incidentd") -> None:
        self._client = client
        self.keys = OutboxKeys.of(prefix)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "incidentd", timeout: float = 5.0) -> RedisOutbox:
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(client, prefix=prefix)

    async def close(self) -> None:
        await self._client.aclose()

    async def enqueue(self, actions: Sequence[Action]) -> None:
        """Outside a commit (tests, tools): the same script in its own transaction."""
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                queue_enqueue(pipe, self.keys, actions)
                await pipe.execute()
        except RedisError as exc:
            raise _down(exc) from exc

    async def claim(
        self, worker: str, now: datetime, *, count: int, claim_for: timedelta
    ) -> list[Claimed]:
        k = self.keys
        try:
            raw: Any = await self._client.eval(
                _CLAIM,
                3,
                k.due,
                k.actions,
                k.claims,
                _ms(now),
                _ms(now + claim_for),
                count,
                ob.new_token(worker),
            )
            if not raw:
                return []
            found: list[tuple[str, Action]] = []
            for i in range(0, len(raw), 3):
                if raw[i + 2]:
                    found.append((raw[i + 1].decode(), ob.decode(raw[i + 2])))
            async with self._client.pipeline(transaction=False) as pipe:
                for _, action in found:
                    pipe.hget(k.refs(action.incident_id), action.target)
                refs = await pipe.execute()
        except RedisError as exc:
            raise _down(exc) from exc
        return [
            Claimed(action, token, ob.decode_refs(r))
            for (token, action), r in zip(found, refs, strict=True)
        ]

    async def settle(
        self, claimed: Claimed, action: Action, refs: Mapping[str, str], *, now: datetime
    ) -> bool:
        k = self.keys
        try:
            done: Any = await self._client.eval(
                _SETTLE,
                8,
                k.actions,
                k.due,
                k.claims,
                k.refs(action.incident_id),
                k.chain(action.chain),
                k.settled,
                k.dead,
                k.wake,
                action.key,
                claimed.token,
                ob.encode(action),
                ob.encode_refs(refs),
                action.target,
                action.state.value,
                _ms(action.due_at),
                _ms(now),
            )
        except RedisError as exc:
            raise _down(exc) from exc
        return bool(done)

    async def retry(self, key: str, now: datetime) -> Action | None:
        found = await self.get(key)
        if found is None:
            return None
        if found.state is not ActionState.DEAD:
            raise ValueError(f"action {key} is {found.state}, not dead")
        again = replace(found, state=ActionState.PENDING, attempts=0, due_at=now)
        k = self.keys
        try:
            done: Any = await self._client.eval(
                _RETRY,
                6,
                k.actions,
                k.due,
                k.dead,
                k.settled,
                k.wake,
                k.claims,
                key,
                ob.encode(again),
                _ms(now),
            )
        except RedisError as exc:
            raise _down(exc) from exc
        if done == -1:
            raise ValueError(f"action {key} is no longer dead")
        return again if done == 1 else None

    async def get(self, key: str) -> Action | None:
        try:
            raw: Any = await self._client.hget(self.keys.actions, key)
        except RedisError as exc:
            raise _down(exc) from exc
        return None if raw is None else ob.decode(raw)

    async def list(
        self, *, incident_id: str | None = None, state: ActionState | None = None, limit: int = 500
    ) -> list[Action]:
        k = self.keys
        try:
            if incident_id is not None:
                keys: Any = await self._client.lrange(k.incident(incident_id), 0, -1)
                raw = await self._client.hmget(k.actions, keys) if keys else []
            elif state is ActionState.DEAD:
                keys = await self._client.zrevrange(k.dead, 0, limit - 1)
                raw = await self._client.hmget(k.actions, keys) if keys else []
            else:  # newest first; a state filter may leave fewer than `limit`
                keys = await self._client.zrevrange(k.created, 0, limit - 1)
                raw = await self._client.hmget(k.actions, keys) if keys else []
        except RedisError as exc:
            raise _down(exc) from exc
        found = [ob.decode(r) for r in raw if r is not None]
        if state is not None:
            found = [a for a in found if a.state is state]
        found.sort(key=lambda a: (a.created_at, a.seq), reverse=True)
        return found[:limit]

    async def refs(self, incident_id: str) -> dict[str, dict[str, str]]:
        try:
            raw: Any = await self._client.hgetall(self.keys.refs(incident_id))
        except RedisError as exc:
            raise _down(exc) from exc
        return {t.decode(): ob.decode_refs(r) for t, r in raw.items()}

    async def next_due(self) -> datetime | None:
        try:
            first: Any = await self._client.zrange(self.keys.due, 0, 0, withscores=True)
        except RedisError as exc:
            raise _down(exc) from exc
        if not first:
            return None
        return datetime.fromtimestamp(first[0][1] / 1000, tz=UTC)

    async def wait(self, seconds: float) -> None:
        try:
            await self._client.blpop([self.keys.wake], timeout=max(0.01, seconds))
        except RedisError as exc:
            raise _down(exc) from exc

    async def counts(self) -> dict[str, int]:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.zcard(self.keys.due)
                pipe.zcard(self.keys.dead)
                due, dead = await pipe.execute()
        except RedisError as exc:
            raise _down(exc) from exc
        return {"due": int(due), "dead": int(dead)}

    async def purge(self, settled_before: datetime) -> int:
        k = self.keys
        try:
            keys: Any = await self._client.zrangebyscore(
                k.settled, "-inf", _ms(settled_before) - 1, start=0, num=1000
            )
            if not keys:
                return 0
            raw = await self._client.hmget(k.actions, keys)
            async with self._client.pipeline(transaction=True) as pipe:
                for key, record in zip(keys, raw, strict=True):
                    if record is not None:
                        action = ob.decode(record)
                        pipe.lrem(k.incident(action.incident_id), 1, key)
                pipe.hdel(k.actions, *keys)
                pipe.zrem(k.settled, *keys)
                pipe.zrem(k.dead, *keys)
                pipe.zrem(k.created, *keys)
                await pipe.execute()
        except RedisError as exc:
            raise _down(exc) from exc
        return len(keys)


def _down(exc: RedisError) -> Overloaded:
    return Overloaded(f"redis unreachable: {type(exc).__name__}")
