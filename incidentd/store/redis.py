"""The production alert queue: one Redis Stream and one consumer group, fed by group commit.

Each accepted webhook is ONE stream entry whose field `webhook` holds it as accepted
(`codec.encode_webhook`: a header line, then the body as received, zstd-compressed when it
is large), so a webhook is queued whole or not at all; `read` and `reclaim` parse it into
alerts. Appends are group-committed: callers put their encoded entry in a bounded buffer; one
owned flusher task sends everything waiting in one round trip on a connection of its own,
then starts the next flush as soon as that one returned. An idle queue sends the first append
at once; a busy one with concurrent senders (see `_LINGER`) lingers 1 ms first, so that
evenly spaced requests, as Datadog and Splunk send them, share a flush: a
round trip costs 60-100 us of CPU whatever it carries (system calls included), which one-alert
requests at a few thousand a second would otherwise each pay. A flush holds one EVALSHA of
`append.lua` per chunk of up to 128 appends (about 1 MiB), because a script call costs ~10 us
in Redis whatever it carries; the script checks the high-water mark and XADDs each batch as
its own entry, and each caller gets its own id or its own refusal. Acknowledged entries are
XDEL'd, so XLEN is the unacked depth.

Failure contract. `append` raises `Overloaded` (503) when the buffer is full, the queue is at
its high-water mark, Redis errs or cannot be reached, or `append_timeout` passes. In all those
cases nothing was written, with one exception stated honestly: when the deadline passes while
the pipeline is already in flight, the entry may still land. The sender then retries after its
503 and the batch is queued twice; it is never lost, and the engine drops the duplicate by
`Alert.event_id`. Every other method raises `Overloaded` when Redis cannot be reached in time.

Lifecycle. `start()` starts the flusher, creates the group and loads the scripts; a Redis that
is down at start is not fatal (appends answer 503 until it is back). After a restart of a
redis-server without persistence the group is gone: `append.lua` recreates it with the stream,
and `read`/`reclaim` recreate it on NOGROUP; redis-py reconnects and reloads scripts on its own.
`close()` stops the flusher and closes both clients, which the queue owns.

Poison entries (an entry that does not decode, or whose webhook its parser cannot parse: a
parser bug, an entry of another version) would otherwise be delivered forever: `read` and
`reclaim` move them to the dead-letter stream `{prefix}:alerts:dead` (with the original id,
the error and the entry as it was), acknowledge and delete them, and return the rest.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import cache
from importlib.resources import files
from typing import Any, Final

import structlog
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.typing import EncodableT, FieldT, KeyT, StreamIdT

from incidentd import metrics
from incidentd.errors import Overloaded
from incidentd.ingest.registry import parse_webhook
from incidentd.ingest.source import RawWebhook
from incidentd.model import Alert
from incidentd.store import codec
from incidentd.store.base import Parse, Queued
from incidentd.store.keys import Keys

log = structlog.get_logger(__name__)

_FIELD: Final = b"webhook"
_FLUSH_ENTRIES: Final = 1024
_FLUSH_BYTES: Final = 8 << 20
"""Most appends, and about the most payload bytes, that one flush (one pipeline) carries."""
_CHUNK_ENTRIES: Final = 128
_CHUNK_BYTES: Final = 1 << 20
"""Most appends, and about the most bytes, per script call: bounds how long it blocks Redis."""
_LINGER: Final = 0.001
_LINGER_BUSY: Final = 0.005
_LINGER_BELOW: Final = 16
"""A flush waits `_LINGER` s for more appends when appends come concurrently (the previous
flush carried more than one, or another is already waiting), the previous flush was sent less
than `_LINGER_BUSY` s before (the queue is busy), and fewer than `_LINGER_BELOW` are waiting.
A sender that posts one request at a time never waits for the linger."""
_DEAD_MAXLEN: Final = 10_000
"""The dead-letter stream is for humans to inspect; it is capped (approximately)."""
_PING_TIMEOUT: Final = 1.0
_UNAVAILABLE: Final = (RedisError, OSError, TimeoutError)

_Waiter = tuple[bytes, "asyncio.Future[str]"]
_Entry = tuple[bytes, dict[bytes, bytes] | None]
_Poison = tuple[bytes, dict[bytes, bytes] | None, Exception]


@cache
def _script(name: str) -> str:
    return (files("incidentd.store") / "scripts" / name).read_text(encoding="utf-8")


def _chunks(waiters: list[_Waiter]) -> list[list[_Waiter]]:
    """The appends still awaited (not timed out), cut into chunks of one script call each."""
    out: list[list[_Waiter]] = []
    size = 0
    for waiter in waiters:
        if waiter[1].done():
            continue
        if not out or len(out[-1]) >= _CHUNK_ENTRIES or size + len(waiter[0]) > _CHUNK_BYTES:
            out.append([])
            size = 0
        out[-1].append(waiter)
        size += len(waiter[0])
    return out


def _is_nogroup(exc: ResponseError) -> bool:
    return str(exc).startswith("NOGROUP")


def _decode(fields: dict[bytes, bytes] | None, parse: Parse) -> tuple[Alert, ...]:
    """The alerts of one entry; raises (ValueError, ParseError, a parser bug) if it is poison."""
    payload = (fields or {}).get(_FIELD)
    if payload is None:
        raise ValueError("entry has no 'webhook' field")
    return tuple(parse(codec.decode_webhook(payload)))


def _stream_entries(reply: Any) -> list[_Entry]:
    """The entries of our one stream in an XREADGROUP reply (RESP2, redis-py's default)."""
    return list(reply[0][1]) if reply else []


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisQueue:
    """`AlertQueue` on a Redis Stream. Takes ownership of `client` (and `read_client`).

    `read_client` serves the blocking XREADGROUP: give it no socket timeout (reads are bounded
    by `block_ms` plus `append_timeout` here) while `client` keeps a short one. Without it,
    `client` serves both; its pool opens a connection per concurrent command, so a blocked read
    never holds up appends, but a socket timeout shorter than `block_ms` would break reads.
    """

    def __init__(
        self,
        client: Redis,
        *,
        read_client: Redis | None = None,
        prefix: str = "incidentd",
        max_depth: int = 100_000,
        append_timeout: float = 2.0,
        retry_after: float = 5.0,
        group: str = "engine",
        max_buffered: int = 10_000,
        parse: Parse = parse_webhook,
    ) -> None:
        self._client = client
        self._parse = parse
        self._reader = read_client if read_client is not None else client
        self._keys = Keys(prefix)
        self._stream = self._keys.alerts
        self._group = group
        self._max_depth = max_depth
        self._append_timeout = append_timeout
        self._retry_after = retry_after
        self._append_script = client.register_script(_script("append.lua"))
        self._reclaim_script = client.register_script(_script("reclaim.lua"))
        self._buffer: asyncio.Queue[_Waiter] = asyncio.Queue(maxsize=max_buffered)
        self._flusher: asyncio.Task[None] | None = None
        self._deadlines: deque[tuple[float, asyncio.Future[str]]] = deque()
        """Every append awaited, in the order appended (so by deadline): one timer, `_expire`,
        enforces all their deadlines, instead of an asyncio.timeout per append."""
        self._expiry: asyncio.TimerHandle | None = None
        self._conn: AbstractConnection | None = None
        self._last_flush = float("-inf")
        self._last_batch = 0
        self._closed = False
        self._reclaim_cursor: bytes | str = b"0-0"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "incidentd",
        max_depth: int = 100_000,
        append_timeout: float = 2.0,
        retry_after: float = 5.0,
        group: str = "engine",
        max_buffered: int = 10_000,
    ) -> RedisQueue:
        """A queue with its own two clients (appends and blocking reads) for `url`.

        Two quick retries on connection errors let a stale pooled connection (Redis restarted)
        reconnect transparently; `append_timeout` still bounds every append.
        """
        # Retry connection errors only: a timed-out EVALSHA may have run, and resending it
        # would queue the batch again.
        retry = Retry(
            ExponentialWithJitterBackoff(base=0.01, cap=0.2),
            retries=2,
            supported_errors=(RedisConnectionError,),
        )
        client = Redis.from_url(
            url, socket_timeout=append_timeout, socket_connect_timeout=append_timeout, retry=retry
        )
        reader = Redis.from_url(
            url, socket_timeout=None, socket_connect_timeout=append_timeout, retry=retry
        )
        return cls(
            client,
            read_client=reader,
            prefix=prefix,
            max_depth=max_depth,
            append_timeout=append_timeout,
            retry_after=retry_after,
            group=group,
            max_buffered=max_buffered,
        )

    async def start(self) -> None:
        """Start the flusher; create the consumer group and load the scripts if Redis answers."""
        if self._flusher is not None:
            return
        self._flusher = asyncio.create_task(self._flush_forever(), name="incidentd-queue-flush")
        try:
            async with asyncio.timeout(self._append_timeout):
                await self._create_group()
                await self._client.script_load(self._append_script.script)
        except _UNAVAILABLE as exc:
            log.warning("queue.unreachable", error=type(exc).__name__)

    async def append(self, webhook: RawWebhook) -> str:
        """Queue the webhook as one entry and return its id; `Overloaded` when it cannot."""
        if self._flusher is None:
            raise RuntimeError("RedisQueue.start() was not awaited")
        if self._closed:
            raise Overloaded("alert queue is closing", retry_after=self._retry_after)
        payload = codec.encode_webhook(webhook)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        try:
            self._buffer.put_nowait((payload, fut))
        except asyncio.QueueFull:
            raise Overloaded("alert queue is busy", retry_after=self._retry_after) from None
        deadlines = self._deadlines
        while deadlines and deadlines[0][1].done():
            deadlines.popleft()
        deadline = loop.time() + self._append_timeout
        deadlines.append((deadline, fut))
        if self._expiry is None:
            self._expiry = loop.call_at(deadline, self._expire)
        # `_expire` fails `fut` at the deadline: a flush that has not sent it yet skips it.
        return await fut

    def _expire(self) -> None:
        """Fail the appends whose deadline passed; then wait for the next deadline, if any."""
        self._expiry = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadlines = self._deadlines
        while deadlines:
            deadline, fut = deadlines[0]
            if not fut.done():
                if deadline > now:
                    self._expiry = loop.call_at(deadline, self._expire)
                    return
                fut.set_exception(self._unavailable(None, "alert queue did not answer in time"))
            deadlines.popleft()

    async def read(self, consumer: str, *, count: int, block_ms: int) -> list[Queued]:
        # BLOCK 0 means "forever" to Redis; block_ms=0 means "do not wait" in our contract.
        block = block_ms if block_ms > 0 else None
        async with self._guard(block_ms / 1000 + self._append_timeout):
            reply = await self._xreadgroup(consumer, count, block)
            entries = _stream_entries(reply)
            return await self._accept(entries, [1] * len(entries))

    async def ack(self, ids: Sequence[str]) -> None:
        """XACK and XDEL together, so that an acknowledged entry leaves the depth at once."""
        if not ids:
            return
        async with self._guard(self._append_timeout), self._client.pipeline() as pipe:
            pipe.xack(self._stream, self._group, *ids)
            pipe.xdel(self._stream, *ids)
            await pipe.execute()

    async def reclaim(self, consumer: str, *, idle_ms: int, count: int) -> list[Queued]:
        """Take over entries pending longer than `idle_ms` (XAUTOCLAIM, resumed from a cursor
        across calls); `deliveries` is Redis's delivery count, 2 after the first reclaim."""
        async with self._guard(self._append_timeout):
            reply = await self._autoclaim(consumer, idle_ms, count)
            if reply is None:
                return []
            cursor, raw, deliveries = reply
            self._reclaim_cursor = cursor
            entries: list[_Entry] = [(item[0], _pairs(item[1])) for item in raw]
            return await self._accept(entries, [int(n) for n in deliveries])

    async def depth(self) -> int:
        async with self._guard(self._append_timeout):
            return int(await self._client.xlen(self._stream))

    async def ping(self) -> None:
        async with self._guard(min(_PING_TIMEOUT, self._append_timeout)):
            await self._client.ping()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.wait([self._flusher])
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        leftover: list[_Waiter] = []
        while not self._buffer.empty():
            leftover.append(self._buffer.get_nowait())
        self._fail(leftover, None)
        if self._conn is not None:
            await self._conn.disconnect(nowait=True)
        await self._client.aclose()
        if self._reader is not self._client:
            await self._reader.aclose()

    # -- group commit ---------------------------------------------------------------------

    async def _flush_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._buffer.get()]
            waiting = self._buffer.qsize()
            if (
                (self._last_batch > 1 or waiting)
                and waiting < _LINGER_BELOW
                and loop.time() - self._last_flush < _LINGER_BUSY
            ):
                await asyncio.sleep(_LINGER)
            self._last_flush = loop.time()
            size = len(batch[0][0])
            while size < _FLUSH_BYTES and len(batch) < _FLUSH_ENTRIES and not self._buffer.empty():
                batch.append(self._buffer.get_nowait())
                size += len(batch[-1][0])
            self._last_batch = len(batch)
            try:
                await self._flush(batch)
            except Exception as exc:  # task boundary: one bad flush must not stop the flusher
                log.exception("queue.flush_failed")
                self._fail(batch, exc)
            finally:
                self._fail(batch, None)  # only futures still open, e.g. when cancelled

    async def _flush(self, batch: list[_Waiter]) -> None:
        chunks = _chunks(batch)
        for attempt in range(2):  # a second round only after NOSCRIPT (script cache flushed)
            if not chunks:
                return
            try:
                async with asyncio.timeout(self._append_timeout):
                    results = await self._send(chunks, load_script=attempt > 0)
            except _UNAVAILABLE as exc:
                self._fail([waiter for chunk in chunks for waiter in chunk], exc)
                return
            again = [c for c, r in zip(chunks, results, strict=True) if not self._settle(c, r)]
            chunks = _chunks([waiter for chunk in again for waiter in chunk])
        self._fail([waiter for chunk in chunks for waiter in chunk], None)

    async def _send(self, chunks: list[list[_Waiter]], *, load_script: bool) -> list[Any]:
        """One round trip, one EVALSHA of append.lua per chunk of appends; each reply (an
        error reply as its exception) in order.

        On the flusher's own connection, not through a redis-py pipeline: the pipeline's
        connection pool, retry wrapper and per-command `wait_for` task cost ~40 us of CPU per
        flush, and a flush is what each request pays alone when they come one at a time. The
        caller's deadline bounds the round trip (no socket timeout here). A connection error
        before any reply is retried once on a new connection (a Redis restarted while the
        queue was idle), as redis-py's own retry would."""
        if load_script:
            await self._client.script_load(self._append_script.script)
        sha = self._append_script.sha
        head: list[EncodableT] = ["EVALSHA", sha, 1, self._stream, self._max_depth, self._group]
        commands = [[*head, *(payload for payload, _ in chunk)] for chunk in chunks]
        for attempt in range(2):
            conn = self._connection()
            replies: list[Any] = []
            try:
                await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
                for _ in commands:
                    try:
                        replies.append(await conn.read_response())
                    except ResponseError as exc:  # NOSCRIPT, or the script's own error
                        replies.append(exc)
            except RedisConnectionError:
                await conn.disconnect(nowait=True)
                if replies or attempt:
                    raise
                continue
            except BaseException:  # a deadline mid-reply: the replies are out of step now
                await conn.disconnect(nowait=True)
                raise
            return replies
        raise AssertionError("unreachable")

    def _connection(self) -> AbstractConnection:
        """The flusher's own connection (it connects on first use and after an error)."""
        if self._conn is None:
            pool = self._client.connection_pool
            self._conn = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})
        return self._conn

    def _settle(self, chunk: list[_Waiter], result: Any) -> bool:
        """Resolve each future of the chunk with its own outcome; False to resend after NOSCRIPT."""
        if isinstance(result, NoScriptError):
            return False
        outcomes = result if isinstance(result, list) else [result] * len(chunk)
        for (_, fut), outcome in zip(chunk, outcomes, strict=True):
            if fut.done():
                if isinstance(outcome, bytes):  # the caller got a 503: a possible duplicate
                    log.info("queue.append_landed_late", entry=outcome.decode())
            elif isinstance(outcome, bytes):
                fut.set_result(outcome.decode())
            elif outcome is None:
                fut.set_exception(Overloaded("alert queue is full", retry_after=self._retry_after))
            else:
                fut.set_exception(self._unavailable(outcome))
        return True

    def _fail(self, waiters: list[_Waiter], cause: BaseException | None) -> None:
        for _, fut in waiters:
            if not fut.done():
                fut.set_exception(self._unavailable(cause))

    def _unavailable(
        self, cause: BaseException | None, message: str = "alert queue is unavailable"
    ) -> Overloaded:
        exc = Overloaded(message, retry_after=self._retry_after)
        exc.__cause__ = cause
        return exc

    # -- reads ----------------------------------------------------------------------------

    @asynccontextmanager
    async def _guard(self, seconds: float) -> AsyncIterator[None]:
        """Bound the block by `seconds`; turn Redis being unreachable into `Overloaded`."""
        try:
            async with asyncio.timeout(seconds):
                yield
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc) from exc

    async def _create_group(self) -> None:
        try:
            await self._client.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise

    async def _xreadgroup(self, consumer: str, count: int, block: int | None) -> Any:
        streams: dict[KeyT, StreamIdT] = {self._stream: ">"}
        try:
            return await self._reader.xreadgroup(
                self._group, consumer, streams, count=count, block=block
            )
        except ResponseError as exc:
            if not _is_nogroup(exc):
                raise
        await self._create_group()  # Redis restarted without persistence
        return await self._reader.xreadgroup(
            self._group, consumer, streams, count=count, block=block
        )

    async def _autoclaim(self, consumer: str, idle_ms: int, count: int) -> Any:
        args: list[EncodableT] = [self._group, consumer, idle_ms, self._reclaim_cursor, count]
        try:
            return await self._reclaim_script(keys=[self._stream], args=args)
        except ResponseError as exc:
            if not _is_nogroup(exc):
                raise
        await self._create_group()  # a new group has nothing pending
        self._reclaim_cursor = b"0-0"
        return None

    async def _accept(self, entries: list[_Entry], deliveries: list[int]) -> list[Queued]:
        out: list[Queued] = []
        poison: list[_Poison] = []
        for (entry_id, fields), n in zip(entries, deliveries, strict=True):
            try:
                out.append(Queued(entry_id.decode(), _decode(fields, self._parse), n))
            except Exception as exc:  # noqa: BLE001 (poison, whatever the parser raised)
                poison.append((entry_id, fields, exc))
        if poison:
            await self._bury(poison)
        return out

    async def _bury(self, poison: list[_Poison]) -> None:
        """Move undecodable entries to the dead-letter stream, atomically with their ack."""
        ids = [entry_id for entry_id, _, _ in poison]
        async with self._client.pipeline() as pipe:
            for entry_id, fields, exc in poison:
                payload = (fields or {}).get(_FIELD, b"")
                record: dict[FieldT, EncodableT] = {
                    "id": entry_id,
                    "error": repr(exc)[:1000],
                    "webhook": payload,
                }
                pipe.xadd(self._keys.alerts_dead, record, maxlen=_DEAD_MAXLEN, approximate=True)
            pipe.xack(self._stream, self._group, *ids)
            pipe.xdel(self._stream, *ids)
            await pipe.execute()
        metrics.QUEUE_DEAD_LETTERED.inc(len(poison))
        for entry_id, fields, exc in poison:
            size = len((fields or {}).get(_FIELD, b""))
            log.error(
                "queue.entry_dead_lettered",
                entry=entry_id.decode(),
                error=type(exc).__name__,
                size=size,
            )
