"""The outbox: every action the engine decided, kept until a target has taken it.

An `Action` is written in the same atomic commit as the decision that causes it (the
engine's fenced commit: memory_state.py, redis_state.py), so a declaration without its page,
or a page for a declaration that was never committed, cannot happen. Workers (dispatch.py,
on every replica) claim due actions, make one attempt through the target, and settle them:
sent, retried later (exponential backoff with full jitter, or the vendor's Retry-After), or
dead-lettered after `max_attempts` or `max_age`. A dead action waits for a person
(`POST /api/v1/actions/{key}/retry`).

Order: the actions of one incident for one target form a chain, sent one at a time in the
order decided (a resolve never overtakes its trigger). Only the head of a chain is due; a
settled head (sent or dead) releases the next one. Reminders recur on a chain of their own.

Exactly once, as far as the vendors allow: a claim lasts `claim_for`; a worker that dies
between the send and its record leaves its claim to expire, and the action is sent again
with the same idempotency key (PagerDuty's dedup_key, Opsgenie's alias, ...), which the
vendor deduplicates. A settle by a worker whose claim expired and was taken over is refused
(the claim token no longer matches), so two workers never both record an outcome.

Two implementations pass one contract suite (tests/contract/test_outbox_contract.py):
`MemoryOutbox` here (the embedded default) and `RedisOutbox` (store/redis_outbox.py).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import orjson

from incidentd.act.routing import Backoff
from incidentd.act.target import ActionEvent


class ActionState(StrEnum):
    PENDING = "pending"
    """Waiting for its turn, its due time, or a retry."""
    SENT = "sent"
    DEAD = "dead"
    """Given up (attempts, age, a permanent failure): waits for a person to retry it."""


@dataclass(frozen=True, slots=True)
class Action:
    """One action for one target, and where it stands."""

    key: str
    """The idempotency key: `<incident>:<event>:<seq>:<target>`."""
    incident_id: str
    target: str
    event: ActionEvent
    seq: int
    """Timeline position of the entry that caused it."""
    created_at: datetime
    due_at: datetime
    people: tuple[str, ...] = ()
    """Names of the people to involve (the commander, who was on call), from oncall.yaml."""
    note: str = ""
    state: ActionState = ActionState.PENDING
    attempts: int = 0
    """Attempts since it was created or retried by hand."""
    sends: int = 0
    """Successful sends (a reminder recurs)."""
    last_at: datetime | None = None
    last_outcome: str = ""
    last_reason: str = ""
    recurring: bool = False
    """A reminder: re-armed after each send until the incident is resolved."""
    waits_for: tuple[str, ...] = ()
    """Bridge targets acting on the same event: a chat message waits (up to `bridge_wait`)
    for the bridge link they make."""

    @property
    def chain(self) -> str:
        suffix = "/reminder" if self.recurring else ""
        return f"{self.incident_id}/{self.target}{suffix}"

    def view(self) -> dict[str, Any]:
        return to_dict(self)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def to_dict(action: Action) -> dict[str, Any]:
    return {
        "key": action.key,
        "incident_id": action.incident_id,
        "target": action.target,
        "event": action.event.value,
        "seq": action.seq,
        "created_at": action.created_at.isoformat(),
        "due_at": action.due_at.isoformat(),
        "people": list(action.people),
        "note": action.note,
        "state": action.state.value,
        "attempts": action.attempts,
        "sends": action.sends,
        "last_at": None if action.last_at is None else action.last_at.isoformat(),
        "last_outcome": action.last_outcome,
        "last_reason": action.last_reason,
        "recurring": action.recurring,
        "waits_for": list(action.waits_for),
    }


def encode(action: Action) -> bytes:
    return orjson.dumps(to_dict(action))


def decode(raw: bytes | str) -> Action:
    d: dict[str, Any] = orjson.loads(raw)
    return Action(
        key=d["key"],
        incident_id=d["incident_id"],
        target=d["target"],
        event=ActionEvent(d["event"]),
        seq=int(d["seq"]),
        created_at=_at(d["created_at"]),
        due_at=_at(d["due_at"]),
        people=tuple(d.get("people", ())),
        note=d.get("note", ""),
        state=ActionState(d["state"]),
        attempts=int(d.get("attempts", 0)),
        sends=int(d.get("sends", 0)),
        last_at=None if d.get("last_at") is None else _at(d["last_at"]),
        last_outcome=d.get("last_outcome", ""),
        last_reason=d.get("last_reason", ""),
        recurring=bool(d.get("recurring", False)),
        waits_for=tuple(d.get("waits_for", ())),
    )


def encode_refs(refs: Mapping[str, str]) -> bytes:
    return orjson.dumps(dict(refs))


def decode_refs(raw: bytes | str | None) -> dict[str, str]:
    if raw is None:
        return {}
    found: dict[str, Any] = orjson.loads(raw)
    return {str(k): str(v) for k, v in found.items()}


def backoff(attempts: int, spec: Backoff, *, rng: random.Random | None = None) -> timedelta:
    """Full jitter (AWS architecture blog): uniform between half and all of
    `initial * 2**(attempts-1)`, capped at `max`. Half, not zero: a vendor that just failed
    is not hit again at once."""
    doubled = spec.initial.total_seconds() * 2 ** max(0, attempts - 1)
    ceiling = min(spec.max.total_seconds(), doubled)
    pick = (rng or random).uniform(ceiling / 2, ceiling)
    return timedelta(seconds=pick)


@dataclass(frozen=True, slots=True)
class Claimed:
    """An action a worker holds until `settle` (or until the claim expires)."""

    action: Action
    token: str
    refs: dict[str, str]
    """What the earlier actions of its chain made at the vendor (channel id, sys_id, ...)."""


class Outbox(Protocol):
    async def claim(
        self, worker: str, now: datetime, *, count: int, claim_for: timedelta
    ) -> list[Claimed]:
        """Up to `count` due actions (heads of their chains), each claimed until
        `now + claim_for`."""
        ...

    async def settle(
        self, claimed: Claimed, action: Action, refs: Mapping[str, str], *, now: datetime
    ) -> bool:
        """Record `action` (its new state) and the chain's refs. A pending action is due
        again at its `due_at`; a sent or dead one releases its chain's next action (due at
        `now`). False, and nothing written, when the claim expired and another worker took
        the action over."""
        ...

    async def retry(self, key: str, now: datetime) -> Action | None:
        """A person's retry of a dead action: pending, attempts reset, due now. None when
        there is no such action; a ValueError when it is not dead."""
        ...

    async def get(self, key: str) -> Action | None: ...

    async def list(
        self, *, incident_id: str | None = None, state: ActionState | None = None, limit: int = 500
    ) -> list[Action]:
        """Newest first."""
        ...

    async def refs(self, incident_id: str) -> dict[str, dict[str, str]]:
        """Every chain's refs for one incident, by target (what the bridge made, ...)."""
        ...

    async def next_due(self) -> datetime | None: ...

    async def wait(self, seconds: float) -> None:
        """Return when actions were added (or a claim may be due), or after `seconds`."""
        ...

    async def counts(self) -> dict[str, int]:
        """{"due": heads waiting, "dead": dead-lettered}: for the metrics."""
        ...

    async def purge(self, settled_before: datetime) -> int:
        """Forget actions settled (sent or dead) before the time; how many."""
        ...

    async def close(self) -> None: ...


def new_token(worker: str) -> str:
    return f"{worker}:{uuid.uuid4().hex}"


@dataclass(slots=True)
class _Memory:
    actions: dict[str, Action] = field(default_factory=dict)
    due: dict[str, datetime] = field(default_factory=dict)
    chains: dict[str, deque[str]] = field(default_factory=dict)
    refs: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    claims: dict[str, str] = field(default_factory=dict)
    settled: dict[str, datetime] = field(default_factory=dict)
    by_incident: dict[str, list[str]] = field(default_factory=dict)


class MemoryOutbox:
    """The embedded default: the same semantics in process (lost with the process, like the
    rest of the in-memory store)."""

    def __init__(self) -> None:
        self._m = _Memory()
        self._added = asyncio.Event()

    def enqueue(self, actions: Sequence[Action]) -> None:
        """Called by the state store's commit (synchronously: part of the same commit). An
        action whose key is already there changes nothing (a commit replayed)."""
        m = self._m
        for action in actions:
            if action.key in m.actions:
                continue
            m.actions[action.key] = action
            m.by_incident.setdefault(action.incident_id, []).append(action.key)
            chain = m.chains.setdefault(action.chain, deque())
            chain.append(action.key)
            if len(chain) == 1:
                m.due[action.key] = action.due_at
        if actions:
            self._added.set()

    async def claim(
        self, worker: str, now: datetime, *, count: int, claim_for: timedelta
    ) -> list[Claimed]:
        m = self._m
        ready = sorted((due, key) for key, due in m.due.items() if due <= now)[:count]
        out: list[Claimed] = []
        for _, key in ready:
            token = new_token(worker)
            m.claims[key] = token
            m.due[key] = now + claim_for
            action = m.actions[key]
            refs = dict(m.refs.get(action.incident_id, {}).get(_ref_field(action), {}))
            out.append(Claimed(action, token, refs))
        return out

    async def settle(
        self, claimed: Claimed, action: Action, refs: Mapping[str, str], *, now: datetime
    ) -> bool:
        m = self._m
        key = action.key
        if m.claims.get(key) != claimed.token:
            return False
        del m.claims[key]
        m.actions[key] = action
        m.refs.setdefault(action.incident_id, {})[_ref_field(action)] = dict(refs)
        if action.state is ActionState.PENDING:
            m.due[key] = action.due_at
            self._added.set()
            return True
        m.due.pop(key, None)
        m.settled[key] = now
        chain = m.chains.get(action.chain)
        if chain is not None:
            if key in chain:
                chain.remove(key)
            if chain:
                m.due[chain[0]] = now
                self._added.set()
            else:
                del m.chains[action.chain]
        return True

    async def retry(self, key: str, now: datetime) -> Action | None:
        m = self._m
        found = m.actions.get(key)
        if found is None:
            return None
        if found.state is not ActionState.DEAD:
            raise ValueError(f"action {key} is {found.state}, not dead")
        again = replace(found, state=ActionState.PENDING, attempts=0, due_at=now)
        m.actions[key] = again
        m.settled.pop(key, None)
        m.due[key] = now
        self._added.set()
        return again

    async def get(self, key: str) -> Action | None:
        return self._m.actions.get(key)

    async def list(
        self, *, incident_id: str | None = None, state: ActionState | None = None, limit: int = 500
    ) -> list[Action]:
        m = self._m
        keys = m.by_incident.get(incident_id, []) if incident_id is not None else list(m.actions)
        found = [m.actions[k] for k in keys if k in m.actions]
        if state is not None:
            found = [a for a in found if a.state is state]
        found.sort(key=lambda a: (a.created_at, a.seq), reverse=True)
        return found[:limit]

    async def refs(self, incident_id: str) -> dict[str, dict[str, str]]:
        return {k: dict(v) for k, v in self._m.refs.get(incident_id, {}).items()}

    async def next_due(self) -> datetime | None:
        return min(self._m.due.values(), default=None)

    async def wait(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._added.wait()
        except TimeoutError:
            pass
        self._added.clear()

    async def counts(self) -> dict[str, int]:
        m = self._m
        dead = sum(1 for a in m.actions.values() if a.state is ActionState.DEAD)
        return {"due": len(m.due), "dead": dead}

    async def purge(self, settled_before: datetime) -> int:
        m = self._m
        old = [k for k, at in m.settled.items() if at < settled_before]
        for key in old:
            del m.settled[key]
            action = m.actions.pop(key, None)
            if action is not None:
                keys = m.by_incident.get(action.incident_id)
                if keys is not None and key in keys:
                    keys.remove(key)
                    if not keys:
                        del m.by_incident[action.incident_id]
                        m.refs.pop(action.incident_id, None)
        return len(old)

    async def close(self) -> None:
        return None


def _ref_field(action: Action) -> str:
    """Refs are kept per incident and target (a reminder shares its target's refs: the
    Slack channel it posts to)."""
    return action.target
