"""POST /webhooks/{source}: authenticate, bound, check, queue durably, answer.

Order of checks: known source (404), credentials (401), content type (415), size (413),
signature (401), shape (400/422), durable append (503 + Retry-After). A request is accepted
whole (202 after the append) or rejected whole with nothing written.

The body is checked here exactly as its parser would reject it (`Source.check`), and queued
as received; the queue's consumer normalizes it (`parse`). Normalizing costs three to four
times what checking does, and a sender waits on this path, not on the consumer's.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import structlog
from aiohttp import web

from incidentd import metrics
from incidentd.errors import (
    BodyTooLarge,
    IncidentdError,
    InputError,
    NotJSON,
    Overloaded,
    UnknownSource,
    UnsupportedMediaType,
    WrongShape,
)
from incidentd.http import auth
from incidentd.http.deps import DEPS, Deps
from incidentd.http.middleware import json_response
from incidentd.ingest.registry import SOURCES
from incidentd.ingest.source import RawWebhook, Source, SourceOptions, run_check

log = structlog.get_logger(__name__)

_JSON_TYPES = frozenset({"application/json", "text/json"})
_READ_CHUNK = 64 * 1024


@functools.cache
def _child(metric: Any, *values: str) -> Any:
    """A metric's labelled child, looked up once: label values here come from closed sets
    (registered sources, "unknown", error reasons), so the cache stays small."""
    return metric.labels(*values)


def _check_content_type(request: web.Request) -> None:
    if "Content-Type" not in request.headers:
        return  # lenient with senders that set none; the body must still be JSON
    ctype = request.content_type
    if ctype not in _JSON_TYPES and not ctype.endswith("+json"):
        raise UnsupportedMediaType(f"Content-Type {ctype} is not accepted; send application/json")
    charset = request.charset
    if charset is not None and charset.lower().replace("-", "") != "utf8":
        raise UnsupportedMediaType(f"charset {charset} is not accepted; send UTF-8")


async def _read_body(request: web.Request, limit: int) -> bytes:
    length = request.content_length
    if length is not None:
        if length > limit:
            raise BodyTooLarge(f"body of {length} bytes exceeds the {limit}-byte limit")
        try:  # one await for the usual request (a body of known length)
            return await request.content.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            got = len(exc.partial)
            raise NotJSON(f"body ended after {got} of its {length} bytes") from None
    chunks: list[bytes] = []  # chunked transfer encoding: read and bound as it comes
    size = 0
    while chunk := await request.content.read(_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _sender(request: web.Request) -> str | None:
    sender = request.query.get("sender")
    if sender is not None and not 0 < len(sender) <= 200:
        raise WrongShape("?sender", "must be 1 to 200 characters")
    return sender


async def _accept(request: web.Request, deps: Deps, name: str, source: Source) -> web.Response:
    config = deps.rules.current.sources
    spec = config.source(name)
    if not spec.enabled:
        raise UnknownSource(f"source {name} is disabled")
    headers = request.headers  # case-insensitive: looked up by lower-case names
    auth.check(spec.auth, headers, request.query)
    _check_content_type(request)
    body = await _read_body(request, config.body_limit(name))
    received_at = deps.clock.now()
    if spec.hmac is not None:
        auth.check_hmac(spec.hmac, body, headers, received_at)
    options = SourceOptions(
        auto_resolve_after=spec.ttl(source.default_auto_resolve_after),
        sender=_sender(request) or spec.sender,
    )
    raw = RawWebhook(name, body, headers, received_at, options)
    count = run_check(source, raw)
    _child(metrics.ALERTS_RECEIVED, name).inc(count)
    entry_id = None
    if count:
        try:
            entry_id = await deps.queue.append(RawWebhook(name, body, {}, received_at, options))
        except Overloaded:
            _child(metrics.ALERTS_REJECTED, name, "unavailable").inc(count)
            raise
        _child(metrics.ALERTS_ACCEPTED, name).inc(count)
        if deps.recorder is not None:
            deps.recorder.record(name, received_at, body)
    log.debug("webhook.accepted", source=name, alerts=count, bytes=len(body), entry=entry_id)
    return json_response(202, {"status": "accepted", "alerts": count, "id": entry_id})


async def receive(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    name = request.match_info["source"]
    source = SOURCES.get(name)
    label = name if source is not None else "unknown"
    started = time.perf_counter()
    try:
        if source is None:
            raise UnknownSource(f"unknown source {name[:64]!r}; known: {', '.join(SOURCES)}")
        response = await _accept(request, deps, name, source)
    except (InputError, Overloaded) as exc:
        _child(metrics.WEBHOOKS, label, exc.reason).inc()
        _log_rejection(request, label, exc)
        raise
    finally:
        _child(metrics.WEBHOOK_SECONDS, label).observe(time.perf_counter() - started)
    _child(metrics.WEBHOOKS, label, "accepted").inc()
    return response


def _log_rejection(request: web.Request, source: str, exc: IncidentdError) -> None:
    """One line per rejected request: what was wrong and who sent it, never the content."""
    log.warning(
        "webhook.rejected",
        source=source,
        reason=getattr(exc, "reason", "error"),
        message=getattr(exc, "message", str(exc))[:300],
        content_length=request.content_length,
        peer=request.remote,
        user_agent=request.headers.get("User-Agent", "")[:80],
    )
