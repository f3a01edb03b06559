"""Silences created through the HTTP API, in Redis: one hash `{prefix}:silences`, id -> JSON.

Every replica reads and writes them; the engine's leader reloads them each tick.
"""

from __future__ import annotations

import asyncio as _asyncio
from collections.abc import AsyncIterator as _AsyncIterator
from contextlib import asynccontextmanager as _asynccontextmanager
from datetime import datetime as _datetime

import structlog as _structlog
from pydantic import ValidationError as _ValidationError
from redis.asyncio import Redis as _Redis
from redis.asyncio.client import Pipeline as _Pipeline
from redis.asyncio.retry import Retry as _Retry
from redis.backoff import ExponentialWithJitterBackoff as _Backoff
from redis.exceptions import ConnectionError as _ConnectionError
from redis.exceptions import RedisError as _RedisError

from incidentd.correlate.silences import Silence as _Silence
from incidentd.correlate.silences import expired as _expired
from incidentd.errors import Overloaded as _Overloaded
from incidentd.store.keys import Keys as _Keys

_silence_log = _structlog.get_logger(__name__)


class RedisSilences:
    """`SilenceStore` on one Redis hash, `{prefix}:silences`: silence id -> the silence as JSON
    (`Silence.model_dump_json`, matchers as their text). Takes ownership of `client`.

    Every call is bounded by `timeout` and raises `Overloaded` when Redis cannot answer in
    time (the API then answers 503 with Retry-After). `expire` and `purge` read and write under
    WATCH, so replicas racing on one silence never lose a write. An entry that does not decode
    (written by a newer version, or damaged) is logged and treated as absent; it is never
    deleted, so a rolling upgrade cannot purge what a newer replica wrote.
    """

    def __init__(
        self,
        client: _Redis,
        *,
        prefix: str = "incidentd",
        timeout: float = 2.0,
        retry_after: float = 5.0,
    ) -> None:
        self._client = client
        self._key = _Keys(prefix).silences
        self._timeout = timeout
        self._retry_after = retry_after

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "incidentd", timeout: float = 2.0, retry_after: float = 5.0
    ) -> RedisSilences:
        """A store with its own client for `url`; every command here is safe to resend."""
        retry = _Retry(
            _Backoff(base=0.01, cap=0.2), retries=2, supported_errors=(_ConnectionError,)
        )
        client = _Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=retry
        )
        return cls(client, prefix=prefix, timeout=timeout, retry_after=retry_after)

    async def add(self, silence: _Silence) -> None:
        async with self._guard():
            await self._client.hset(self._key, silence.id, silence.model_dump_json())

    async def get(self, silence_id: str) -> _Silence | None:
        async with self._guard():
            raw = await self._client.hget(self._key, silence_id)
        return None if raw is None else self._decode(silence_id, raw)

    async def expire(self, silence_id: str, now: _datetime) -> bool:
        async def step(pipe: _Pipeline) -> bool:
            raw = await pipe.hget(self._key, silence_id)
            silence = None if raw is None else self._decode(silence_id, raw)
            if silence is None:
                return False
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.hset(self._key, silence_id, _expired(silence, now).model_dump_json())
            return True

        async with self._guard():
            return bool(await self._client.transaction(step, self._key, value_from_callable=True))

    async def purge(self, ended_before: _datetime) -> int:
        async def step(pipe: _Pipeline) -> int:
            entries = await pipe.hgetall(self._key)
            stale = []
            for key, raw in entries.items():
                silence = self._decode(key, raw)
                if silence is not None and silence.ends is not None and silence.ends < ended_before:
                    stale.append(key)
            if stale:
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hdel(self._key, *stale)
            return len(stale)

        async with self._guard():
            return int(await self._client.transaction(step, self._key, value_from_callable=True))

    async def list(self) -> list[_Silence]:
        async with self._guard():
            entries = await self._client.hgetall(self._key)
        decoded = (self._decode(key, raw) for key, raw in entries.items())
        return [s for s in decoded if s is not None]

    async def close(self) -> None:
        await self._client.aclose()

    def _decode(self, key: bytes | str, raw: bytes | str) -> _Silence | None:
        try:
            return _Silence.model_validate_json(raw)
        except _ValidationError as exc:
            silence_id = key.decode(errors="replace") if isinstance(key, bytes) else key
            _silence_log.error(
                "silence.undecodable", silence=silence_id[:100], errors=exc.error_count()
            )
            return None

    @_asynccontextmanager
    async def _guard(self) -> _AsyncIterator[None]:
        """Bound the block by `timeout`; Redis unreachable or too slow becomes `Overloaded`."""
        try:
            async with _asyncio.timeout(self._timeout):
                yield
        except (_RedisError, OSError, TimeoutError) as exc:
            raise _Overloaded(
                "silence store is unavailable", retry_after=self._retry_after
            ) from exc
