"""The silences API, Alertmanager-like, JSON in and out.

    GET    /api/v1/silences        every silence, silences.yaml's and the API's, each with
                                   `active`, `state` and `next_change` at the clock's now
    POST   /api/v1/silences        create one: 201 {"id": ...} and a Location header
    GET    /api/v1/silences/{id}   200, or 404
    DELETE /api/v1/silences/{id}   expire it (ends = now, kept for the record): 200 with the
                                   silence; 404 unknown; 409 for a silence of silences.yaml

Writes (POST, DELETE) need a bearer token with the `write` scope, reads one with `read` unless
api.yaml allows anonymous reads (http/access.py). Bad input is rejected
whole, nothing written: 400 not JSON, 413 over 64 KiB, 415 not a JSON content type, 422 with
the JSON path for a wrong shape, a bad matcher or regex, a one-off silence without `ends`,
`ends` not after `starts` or already past, matchers that all match the empty string (they
would silence nearly everything). Expired API silences are forgotten `RETENTION` after they
end, and at most `MAX_SILENCES` are kept (409 beyond). The store unreachable: 503.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, field_validator
from pydantic_core import PydanticCustomError

from incidentd.correlate import matchers
from incidentd.correlate.matchers import Matcher
from incidentd.correlate.silences import (
    Silence,
    from_file,
    is_active,
    matches_everything,
    next_change,
    state,
)
from incidentd.errors import BodyTooLarge, InputError, UnsupportedMediaType, WrongShape
from incidentd.http import access
from incidentd.http.deps import DEPS, Deps
from incidentd.http.middleware import json_response
from incidentd.ingest.source import ParseError, UtcTimestamp, decode
from incidentd.rules.schema import Recurring

log = structlog.get_logger(__name__)

MAX_BODY = 64 * 1024
MAX_SILENCES = 10_000
"""Stored API silences (expired ones included) beyond which POST answers 409."""
RETENTION = timedelta(days=7)
"""How long an expired API silence is kept for the record (Alertmanager keeps 5 days)."""
_READ_CHUNK = 16 * 1024
_MAX_MATCHER = 1000
_MAX_MATCHERS = 50


class SilenceNotFound(InputError):
    status = 404
    reason = "not_found"


class SilenceConflict(InputError):
    status = 409
    reason = "conflict"


def _api_matcher(value: object) -> Matcher:
    if not isinstance(value, str):
        raise PydanticCustomError("matcher_type", 'a matcher is a string like service="db"')
    if len(value) > _MAX_MATCHER:
        raise PydanticCustomError("matcher_length", f"longer than {_MAX_MATCHER} characters")
    try:
        return matchers.parse(value)
    except ValueError as exc:
        raise PydanticCustomError("matcher", str(exc)[:300]) from None


class NewSilence(BaseModel):
    """The body of POST /api/v1/silences."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    matchers: tuple[Annotated[Matcher, PlainValidator(_api_matcher)], ...]
    comment: str = Field(min_length=1, max_length=2000)
    created_by: str = Field(min_length=1, max_length=200)
    name: str = Field(default="", max_length=200)
    starts: UtcTimestamp | None = None
    ends: UtcTimestamp | None = None
    every: Recurring | None = None

    @field_validator("matchers")
    @classmethod
    def _count(cls, value: tuple[Matcher, ...]) -> tuple[Matcher, ...]:
        # Checked after the items (a Field length would also fire when one item is bad).
        if not 1 <= len(value) <= _MAX_MATCHERS:
            raise PydanticCustomError("matchers", f"give 1 to {_MAX_MATCHERS} matchers")
        return value


def _check_content_type(request: web.Request) -> None:
    if "Content-Type" not in request.headers:
        return
    ctype = request.content_type
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise UnsupportedMediaType(f"Content-Type {ctype} is not accepted; send application/json")


async def _read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BodyTooLarge(f"body of {request.content_length} bytes exceeds {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_READ_CHUNK):
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge(f"body exceeds {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(raw: bytes) -> NewSilence:
    try:
        return decode(NewSilence, raw)
    except ParseError as exc:  # pydantic prefixes a validator's ValueError text: drop it
        raise WrongShape(exc.path, exc.reason_text.removeprefix("Value error, ")) from None


def _schedule(body: NewSilence, now: datetime) -> tuple[datetime, datetime | None]:
    """`starts` (now by default) and `ends`, or WrongShape naming what is wrong with them."""
    starts = body.starts or now
    if body.ends is None and body.every is None:
        raise WrongShape("$.ends", "a one-off silence needs ends (or every, for a window)")
    if body.ends is not None and body.ends <= now:
        raise WrongShape("$.ends", "is in the past")
    if body.ends is not None and body.ends <= starts:
        raise WrongShape("$.ends", "must be after starts")
    if body.every is not None and not body.every.days:
        raise WrongShape("$.every.days", "names no day: the window would never open")
    if matches_everything(body.matchers):
        raise WrongShape(
            "$.matchers",
            "at least one matcher must not match the empty string (or a missing "
            "label): these would silence almost every alert",
        )
    return starts, body.ends


def render(silence: Silence, now: datetime) -> dict[str, object]:
    out = silence.model_dump(mode="json")
    change = next_change(silence, now)
    out["active"] = is_active(silence, now)
    out["state"] = state(silence, now)
    out["next_change"] = None if change is None else change.isoformat()
    return out


def _config_silences(deps: Deps) -> tuple[Silence, ...]:
    return from_file(deps.rules.current.silences)


async def list_silences(request: web.Request) -> web.Response:
    access.require(request, "read")
    deps = request.app[DEPS]
    now = deps.clock.now()
    stored = sorted(await deps.silences.list(), key=lambda s: (s.created_at or now, s.id))
    body = [render(s, now) for s in (*_config_silences(deps), *stored)]
    return json_response(200, {"silences": body})


async def _find(deps: Deps, silence_id: str) -> Silence:
    for silence in _config_silences(deps):
        if silence.id == silence_id:
            return silence
    found = await deps.silences.get(silence_id)
    if found is None:
        raise SilenceNotFound(f"no silence has id {silence_id[:100]!r}")
    return found


async def get_silence(request: web.Request) -> web.Response:
    access.require(request, "read")
    deps = request.app[DEPS]
    silence = await _find(deps, request.match_info["id"])
    return json_response(200, render(silence, deps.clock.now()))


async def create_silence(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    access.require(request, "write")
    _check_content_type(request)
    body = _decode(await _read_body(request))
    now = deps.clock.now()
    starts, ends = _schedule(body, now)
    await deps.silences.purge(now - RETENTION)
    if len(await deps.silences.list()) >= MAX_SILENCES:
        raise SilenceConflict(f"{MAX_SILENCES} silences are stored; expire some first")
    silence = Silence(
        id=str(uuid.uuid4()),
        origin="api",
        matchers=body.matchers,
        name=body.name,
        comment=body.comment,
        created_by=body.created_by,
        starts=starts,
        ends=ends,
        every=body.every,
        created_at=now,
    )
    await deps.silences.add(silence)
    log.info("silence.created", silence=silence.id, created_by=silence.created_by[:80])
    location = f"/api/v1/silences/{silence.id}"
    return json_response(201, {"id": silence.id}, headers={"Location": location})


async def expire_silence(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    access.require(request, "write")
    silence_id = request.match_info["id"]
    if any(s.id == silence_id for s in _config_silences(deps)):
        raise SilenceConflict("this silence is defined in silences.yaml: remove it there")
    now = deps.clock.now()
    if not await deps.silences.expire(silence_id, now):
        raise SilenceNotFound(f"no silence has id {silence_id[:100]!r}")
    silence = await _find(deps, silence_id)
    log.info("silence.expired", silence=silence_id)
    return json_response(200, render(silence, now))
