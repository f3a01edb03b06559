"""One HTTP exchange with a vendor, and how its failures are classified.

`exchange` makes one request under a timeout and reads a bounded body; a network error or a
timeout raises `TransientError` (worth retrying), a URL that cannot work `PermanentError`.
`check` classifies an answer by status (Alertmanager's `Retrier.Check`): 2xx passes, 408, 429
and 5xx raise `TransientError` with the vendor's Retry-After, any other 4xx `PermanentError`
with the vendor's message. `attempt` runs a target's steps and turns those errors into an
`Outcome` that keeps the refs the steps recorded before failing.

Reasons name the host, never the URL (a Teams or Slack webhook URL is a credential), and
never carry a request body.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson
from pydantic import SecretStr
from yarl import URL

from incidentd.act.target import Outcome
from incidentd.errors import PermanentError, TransientError

MAX_BODY = 1024 * 1024
"""Vendors answer small JSON documents; more than this is not an answer we can use."""

RETRY_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def host_of(url: str | URL) -> str:
    """What a reason may say about where a request went."""
    try:
        return URL(url).host or "?"
    except (TypeError, ValueError):
        return "?"


async def exchange(
    session: aiohttp.ClientSession,
    method: str,
    url: str | URL,
    *,
    seconds: float,
    json: Any = None,
    data: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """One request, no redirects followed (a vendor API does not redirect a POST; following
    one could resend a credential elsewhere). Raises TransientError on a network error or
    timeout, PermanentError on a URL that cannot work."""
    where = host_of(url)
    body = None if json is None else orjson.dumps(json)
    sent = dict(headers or {})
    if body is not None:
        sent.setdefault("Content-Type", "application/json; charset=utf-8")
    try:
        async with session.request(
            method,
            url,
            data=body if body is not None else data,
            params=params,
            headers=sent,
            timeout=aiohttp.ClientTimeout(total=seconds),
            allow_redirects=False,
        ) as response:
            content = await response.content.read(MAX_BODY)
            return Reply(response.status, response.headers, content)
    except aiohttp.InvalidURL as exc:
        raise PermanentError(f"{method} {where}: invalid URL") from exc
    except TimeoutError as exc:
        raise TransientError(f"{method} {where}: no answer within {seconds:g}s") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise TransientError(f"{method} {where}: {type(exc).__name__}") from exc


def basic_auth(login: str, password: str) -> str:
    """An `Authorization` value for HTTP Basic (aiohttp.BasicAuth is deprecated in 3.14 and
    its replacement missing before it)."""
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `Retry-After` (delta-seconds, or an HTTP date measured against the
    answer's own `Date`, so that no local clock is read); None when absent or unreadable."""
    value = headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        until = parsedate_to_datetime(value)
        sent = parsedate_to_datetime(headers.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    if until.tzinfo is None or sent.tzinfo is None:
        return None
    return max(0.0, (until - sent).total_seconds())


def check(reply: Reply, what: str, vendor_message: str = "") -> Reply:
    """Return `reply` when it is a 2xx; else raise the error its status means. `what` names
    the step (`PagerDuty enqueue`); `vendor_message` is what the vendor said, extracted by
    the target from its documented error body."""
    if reply.ok:
        return reply
    said = f": {vendor_message}" if vendor_message else ""
    message = f"{what}: HTTP {reply.status}{said}"
    if reply.status in RETRY_STATUSES or reply.status >= 500:
        raise TransientError(message, retry_after=retry_after(reply.headers))
    raise PermanentError(message)


Steps = Callable[[dict[str, str]], Awaitable[str]]
"""A target's work for one attempt: records what it makes in the refs dict it is given, and
returns a short reason for a success."""


async def attempt(
    refs: Mapping[str, str], steps: Steps, *, secrets: Iterable[SecretStr] = ()
) -> Outcome:
    """Run `steps` on a copy of `refs`; classify what it raised. Whatever the steps recorded
    before failing is kept in the Outcome's refs. A vendor that echoes a credential in its
    error message does not get it onto the timeline: `secrets` are masked in the reason."""
    progress = dict(refs)
    try:
        reason = await steps(progress)
    except TransientError as exc:
        masked = _mask(str(exc), secrets)
        return Outcome.retry(masked, refs=progress, retry_after=exc.retry_after)
    except PermanentError as exc:
        return Outcome.failed(_mask(str(exc), secrets), refs=progress)
    return Outcome.sent(_mask(reason, secrets), refs=progress)


def _mask(text: str, secrets: Iterable[SecretStr]) -> str:
    for secret in secrets:
        value = secret.get_secret_value()
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


def text_of(reply: Reply, limit: int = 200) -> str:
    """A plain-text answer (Slack webhooks, Teams), cut short for a reason."""
    return reply.body[:limit].decode("utf-8", "replace").strip()
