"""Where `incidentd postmortem` reads an incident from: a running daemon's API, or the Redis
store itself (RedisState + RedisOutbox, read only).

From the API, the daemon writes the draft with its own rules (`GET .../postmortem`, and the
chart from `GET .../postmortem/chart.png`); from Redis, the draft is written here with the
rules of a config directory. Either way the result is a `Draft`, or one of two errors the
command turns into a one-line message: `NoIncident` (the source answered: no such incident)
and `Unreachable` (the source cannot be reached, or refused us). No secret reaches a message:
a Redis URL may carry a password, so only the error's type is said for Redis.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from yarl import URL

from incidentd.errors import IncidentdError, Overloaded
from incidentd.insight.postmortem import draft
from incidentd.rules.loader import RuleSet

TIMEOUT = 10.0
ACTIONS_READ = 500


class NoIncident(IncidentdError):
    """The source answered: it has no such incident."""


class Unreachable(IncidentdError):
    """The source cannot be reached, timed out, or refused the request."""


@dataclass(frozen=True, slots=True)
class Draft:
    markdown: str
    chart: bytes | None = None


def _said(body: bytes) -> str:
    """The `message` of an error body of the API, else nothing."""
    try:
        found: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    return str(found.get("message", "")) if isinstance(found, dict) else ""


async def _get(
    http: aiohttp.ClientSession,
    url: str,
    *,
    incident_id: str,
    params: dict[str, str] | None = None,
) -> bytes:
    shown = str(URL(url).with_user(None))  # never a password given in the URL
    try:
        async with http.get(url, params=params) as reply:
            body = await reply.read()
    except (aiohttp.ClientError, OSError) as exc:
        why = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise Unreachable(f"cannot reach {shown}: {why}") from None
    except TimeoutError:
        raise Unreachable(f"no answer from {shown} within {TIMEOUT:g} s") from None
    if reply.status == 404:
        raise NoIncident(f"no incident {incident_id!r}")
    if reply.status != 200:
        said = _said(body)
        raise Unreachable(f"{shown} answered {reply.status}" + (f": {said}" if said else ""))
    return body


async def from_api(
    base_url: str,
    incident_id: str,
    *,
    token: str | None,
    chart_link: str | None,
    with_chart: bool,
) -> Draft:
    """The daemon's draft (linking the chart at `chart_link`, none when None) and, when asked,
    its chart."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    where = f"{base_url.rstrip('/')}/api/v1/incidents/{quote(incident_id, safe='')}/postmortem"
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
        params = {"chart": chart_link or ""}
        text = await _get(http, where, incident_id=incident_id, params=params)
        chart = None
        if with_chart:
            chart = await _get(http, f"{where}/chart.png", incident_id=incident_id)
    return Draft(text.decode(), chart)


async def from_redis(
    redis_url: str,
    incident_id: str,
    *,
    prefix: str,
    rules: RuleSet,
    now: datetime,
    chart_link: str | None,
    with_chart: bool,
) -> Draft:
    """The draft written here from the store's record, timeline and outbox."""
    from incidentd.store.redis_outbox import RedisOutbox
    from incidentd.store.redis_state import RedisState

    state = RedisState.from_url(redis_url, prefix=prefix, timeout=TIMEOUT)
    outbox = RedisOutbox.from_url(redis_url, prefix=prefix, timeout=TIMEOUT)
    try:
        async with asyncio.timeout(TIMEOUT * 2):
            found = await state.incident(incident_id)
            if found is None:
                raise NoIncident(f"no incident {incident_id!r} in the store (prefix {prefix!r})")
            actions = await outbox.list(incident_id=incident_id, limit=ACTIONS_READ)
    except Overloaded as exc:
        raise Unreachable(f"the Redis store: {exc.message}") from None
    except TimeoutError:
        raise Unreachable(f"the Redis store gave no answer within {TIMEOUT * 2:g} s") from None
    finally:
        await state.close()
        await outbox.close()
    incident, timeline = found
    text = draft(
        incident, timeline, actions=actions, spec=rules.declaration, now=now, chart=chart_link
    )
    chart = None
    if with_chart:
        from incidentd.insight.chart import chart_png

        chart = chart_png(incident, timeline, now=now)
    return Draft(text, chart)
