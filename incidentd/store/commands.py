"""People's changes to incidents, carried from the API (any replica) to the engine (the one
that leads), and the engine's answer carried back.

Only the engine writes incidents (its commits are fenced), so a status change, a note or a
new commander is a command the engine applies in order with the alerts, in the same commit as
their effects. The API waits for the answer (`timeout`, default 5 s): the incident as it is
now, or the error (404, 409, 422). With no engine answering in time it is `Overloaded`
(503): the command may still be applied later, and the timeline will say so.

- `MemoryCommands`: the embedded default, futures in process.
- `RedisCommands`: a stream `{prefix}:commands` with a consumer group; answers are keys
  `{prefix}:command:<id>` that live `RESULT_TTL` seconds, which the API polls. A command left
  pending by a leader that died is reclaimed; the engine remembers the ids it applied (in its
  committed state), so a command delivered twice is applied once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from incidentd.declare import incident as inc
from incidentd.declare.declarer import Command
from incidentd.declare.followup import FollowUpEdit, FollowUpStatus
from incidentd.declare.incident import Incident, IncidentStatus
from incidentd.declare.timeline import Actor
from incidentd.errors import IncidentdError, InputError, Overloaded
from incidentd.model import Priority
from incidentd.store.keys import Keys

RESULT_TTL: Final = 300
_POLL: Final = 0.05
_GROUP: Final = "engine"
_MAXLEN: Final = 10_000


class Refused(InputError):
    """The engine refused the command (the status and reason it gave)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Submitted:
    id: str
    command: Command
    entry: str = ""
    """The queue's own id (Redis stream entry), for the acknowledgement."""
    answer: bool = True
    """False for a command posted without waiting (an action outcome): no answer is kept."""


@dataclass(frozen=True, slots=True)
class Answer:
    id: str
    incident: Incident | None = None
    error: IncidentdError | None = None

    def encode(self) -> bytes:
        if self.incident is not None:
            return orjson.dumps({"incident": inc.to_dict(self.incident)})
        exc = self.error
        status = getattr(exc, "status", 500)
        reason = getattr(exc, "reason", "error")
        return orjson.dumps({"status": status, "reason": reason, "message": str(exc)})


def _outcome(data: bytes) -> Incident:
    d: dict[str, Any] = orjson.loads(data)
    if "incident" in d:
        return inc.from_dict(d["incident"])
    raise Refused(int(d["status"]), str(d["reason"]), str(d["message"]))


def encode_command(cmd: Command) -> bytes:
    return orjson.dumps(
        {
            "incident": cmd.incident_id,
            "action": cmd.action,
            "actor": {"kind": cmd.actor.kind, "name": cmd.actor.name},
            "status": None if cmd.status is None else cmd.status.value,
            "text": cmd.text,
            "commander": cmd.commander,
            "title": cmd.title,
            "priority": None if cmd.priority is None else cmd.priority.value,
            "services": list(cmd.services),
            "into": cmd.into,
            "target": cmd.target,
            "event": cmd.event,
            "outcome": cmd.outcome,
            "followup": cmd.followup,
            "edit": None if cmd.edit is None else _encode_edit(cmd.edit),
        }
    )


def _encode_edit(edit: FollowUpEdit) -> dict[str, Any]:
    return {
        "fields": sorted(edit.fields),
        "status": edit.status.value,
        "title": edit.title,
        "owner": edit.owner,
        "due": None if edit.due is None else edit.due.isoformat(),
    }


def _decode_edit(d: dict[str, Any] | None) -> FollowUpEdit | None:
    if d is None:
        return None
    return FollowUpEdit(
        fields=frozenset(d["fields"]),
        status=FollowUpStatus(d["status"]),
        title=d["title"],
        owner=d["owner"],
        due=None if d["due"] is None else datetime.fromisoformat(d["due"]),
    )


def decode_command(data: bytes) -> Command:
    d: dict[str, Any] = orjson.loads(data)
    actor = d["actor"]
    return Command(
        incident_id=d["incident"],
        action=d["action"],
        actor=Actor(actor["kind"], actor["name"]),
        status=None if d["status"] is None else IncidentStatus(d["status"]),
        text=d["text"],
        commander=d["commander"],
        title=d.get("title", ""),
        priority=None if d.get("priority") is None else Priority(d["priority"]),
        services=tuple(d.get("services", ())),
        into=d.get("into"),
        target=d.get("target", ""),
        event=d.get("event", ""),
        outcome=d.get("outcome", ""),
        followup=d.get("followup", ""),
        edit=_decode_edit(d.get("edit")),
    )


def _no_engine() -> Overloaded:
    return Overloaded(
        "no engine applied the command in time; it may still be applied: read the incident",
        retry_after=5,
    )


class MemoryCommands:
    def __init__(self, *, timeout: float = 5.0) -> None:
        self._timeout = timeout
        self._waiting: dict[str, asyncio.Future[Incident]] = {}
        self._queued: list[Submitted] = []

    async def submit(self, command: Command) -> Incident:
        sub = Submitted(uuid.uuid4().hex, command)
        fut: asyncio.Future[Incident] = asyncio.get_running_loop().create_future()
        self._waiting[sub.id] = fut
        self._queued.append(sub)
        try:
            async with asyncio.timeout(self._timeout):
                return await fut
        except TimeoutError:
            raise _no_engine() from None
        finally:
            self._waiting.pop(sub.id, None)

    async def post(self, command: Command, command_id: str) -> None:
        self._queued.append(Submitted(command_id, command, answer=False))

    async def take(self, consumer: str) -> list[Submitted]:
        out, self._queued = self._queued, []
        return out

    async def finish(self, answers: Sequence[Answer], subs: Sequence[Submitted]) -> None:
        for answer in answers:
            fut = self._waiting.get(answer.id)
            if fut is None or fut.done():
                continue
            if answer.incident is not None:
                fut.set_result(answer.incident)
            else:
                fut.set_exception(_outcome_error(answer))

    async def close(self) -> None:
        return None


def _outcome_error(answer: Answer) -> IncidentdError:
    if answer.error is not None:
        return answer.error
    return InputError("the engine gave no answer")


class RedisCommands:
    def __init__(self, client: Redis, *, prefix: str = "incidentd", timeout: float = 5.0) -> None:
        self._client = client
        self._keys = Keys(prefix)
        self._stream = f"{self._keys.tag}:commands"
        self._results = f"{self._keys.tag}:command:"
        self._timeout = timeout
        self._group_ready = False

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "incidentd", timeout: float = 5.0
    ) -> RedisCommands:
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(client, prefix=prefix, timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def submit(self, command: Command) -> Incident:
        cid = uuid.uuid4().hex
        key = self._results + cid
        try:
            async with asyncio.timeout(self._timeout):
                await self._ensure_group()
                await self._client.xadd(
                    self._stream,
                    {"id": cid, "command": encode_command(command)},
                    maxlen=_MAXLEN,
                    approximate=True,
                )
                while True:
                    found: bytes | None = await self._client.get(key)  # type: ignore[assignment]
                    if found is not None:
                        return _outcome(found)
                    await asyncio.sleep(_POLL)
        except TimeoutError:
            raise _no_engine() from None
        except RedisError as exc:
            raise Overloaded(f"redis unreachable: {type(exc).__name__}", retry_after=5) from exc

    async def post(self, command: Command, command_id: str) -> None:
        """Queue a command without waiting for the engine (its id makes a repeat harmless)."""
        try:
            await self._ensure_group()
            await self._client.xadd(
                self._stream,
                {"id": command_id, "command": encode_command(command), "answer": b"0"},
                maxlen=_MAXLEN,
                approximate=True,
            )
        except RedisError as exc:
            raise Overloaded(f"redis unreachable: {type(exc).__name__}", retry_after=5) from exc

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._client.xgroup_create(self._stream, _GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        self._group_ready = True

    async def take(self, consumer: str) -> list[Submitted]:
        """New commands, and those a dead leader left pending for 10 s (never blocks)."""
        try:
            await self._ensure_group()
            claimed: Any = await self._client.xautoclaim(
                self._stream, _GROUP, consumer, min_idle_time=10_000, count=100
            )
            reply: Any = await self._client.xreadgroup(
                _GROUP, consumer, {self._stream: ">"}, count=100
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._group_ready = False
            return []
        except RedisError as exc:
            raise Overloaded(f"redis unreachable: {type(exc).__name__}") from exc
        entries = list(claimed[1]) + (list(reply[0][1]) if reply else [])
        out: list[Submitted] = []
        for entry_id, fields in entries:
            if not fields:
                continue
            out.append(
                Submitted(
                    fields[b"id"].decode(),
                    decode_command(fields[b"command"]),
                    entry_id.decode(),
                    answer=fields.get(b"answer") != b"0",
                )
            )
        return out

    async def finish(self, answers: Sequence[Answer], subs: Sequence[Submitted]) -> None:
        """Publish the answers and acknowledge the commands (after the engine committed)."""
        if not subs:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                silent = {s.id for s in subs if not s.answer}
                for answer in answers:
                    if answer.id not in silent:
                        pipe.set(self._results + answer.id, answer.encode(), ex=RESULT_TTL)
                ids = [s.entry for s in subs]
                pipe.xack(self._stream, _GROUP, *ids)
                pipe.xdel(self._stream, *ids)
                await pipe.execute()
        except RedisError as exc:
            raise Overloaded(f"redis unreachable: {type(exc).__name__}") from exc
