"""Asking Alertmanager which alerts are still active, to close at once what it resolved.

Alertmanager notifies a resolve only at its group's next `group_interval` (5 minutes by
default): a 90-second spike that Prometheus resolved stays firing in incidentd for minutes,
long enough to outlive a declaration policy's `sustain` and page someone. With
`sources.alertmanager.api` set, the engine's leader asks each configured Alertmanager, every
`interval`, for its active alerts (`GET /api/v2/alerts`: resolved alerts are not listed;
silenced, inhibited and unprocessed ones are, and they still fire), and closes every alert it
holds firing from that Alertmanager (same sender, same label set) that no peer lists. The
close is an Alertmanager notification of resolves like the one Alertmanager would send later
(`endsAt`: when the peers were asked), queued as a webhook and recorded like one: the engine
takes it through the queue as any other report, so replay reproduces it, and Alertmanager's
own late resolve then changes nothing ("already resolved").

It errs on the side of leaving an alert firing: nothing is closed in a round where a peer did
not answer (HA peers each receive every alert from Prometheus; one that did not answer might
be the only one that has it) or has been up for less than `restart_grace` (a restarted
Alertmanager has lost its alerts until Prometheus sends them again), nor an alert reported to
incidentd after the question was asked.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
import msgspec
import orjson
import structlog

from incidentd import metrics
from incidentd.clock import Clock, pause
from incidentd.correlate.dedup import AlertState
from incidentd.correlate.fingerprint import fingerprint
from incidentd.errors import Overloaded
from incidentd.ingest.alertmanager import AlertmanagerSource
from incidentd.ingest.source import ParseError, RawWebhook, SourceOptions, rfc3339_utc_all
from incidentd.model import Status
from incidentd.recorder import Recorder
from incidentd.rules.reload import RulesHandle
from incidentd.rules.schema import AlertmanagerApi, BasicAuth, BearerAuth
from incidentd.store.base import AlertQueue

log = structlog.get_logger(__name__)

SOURCE = AlertmanagerSource.name
RESOLVES_PER_BODY = 1000
"""Resolves per queued notification: a storm's worth is split into bodies of this many."""
MAX_ANSWER = 256 * 1024 * 1024
"""The largest answer read: Alertmanager lists an alert in about 450 bytes (45 MB for 100,000
active alerts; reading 50,000 takes about 90 ms here)."""
RECEIVER = "incidentd-api-sync"
"""The `receiver` of the notifications made here (never a receiver of Alertmanager's)."""


class _Listed(msgspec.Struct, frozen=True, gc=False):
    labels: dict[str, str]


class _Status(msgspec.Struct, frozen=True, gc=False):
    uptime: str


_ALERTS = msgspec.json.Decoder(list[_Listed])
_STATUS = msgspec.json.Decoder(_Status)


class PeerError(Exception):
    """A peer could not say which alerts it holds (unreachable, an error, a bad answer)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What one peer said: the fingerprints incidentd gives its active alerts (under the
    configured sender), and since when it has been up."""

    active: frozenset[str]
    up_since: datetime

    def young(self, at: datetime, grace: timedelta) -> bool:
        """The peer has been up for less than `grace` at `at` (it may not have every alert)."""
        return at - self.up_since < grace


def read_answer(alerts: bytes, status: bytes, *, sender: str) -> Answer:
    """The bodies of `GET /api/v2/alerts` and `GET /api/v2/status`; PeerError if malformed."""
    try:
        listed = _ALERTS.decode(alerts)
        up = _STATUS.decode(status)
        [up_since] = rfc3339_utc_all([up.uptime], lambda _: "$.uptime")
    except (msgspec.DecodeError, UnicodeDecodeError, ParseError, RecursionError) as exc:
        raise PeerError(f"not an Alertmanager API answer: {str(exc)[:200]}") from None
    active = frozenset(fingerprint(SOURCE, sender, alert.labels) for alert in listed)
    return Answer(active, up_since)


def stale(
    held: Iterable[AlertState],
    answers: Sequence[Answer],
    *,
    sender: str,
    asked_at: datetime,
    restart_grace: timedelta,
) -> list[AlertState]:
    """The alerts incidentd holds firing from this sender that no peer lists, reported before
    the peers were asked; none while a peer is younger than `restart_grace`."""
    if not answers or any(a.young(asked_at, restart_grace) for a in answers):
        return []
    active = frozenset().union(*(a.active for a in answers))
    return [
        alert
        for alert in held
        if alert.source == SOURCE
        and alert.status is Status.FIRING
        and alert.last_seen < asked_at
        and alert.fingerprint not in active
        and fingerprint(SOURCE, sender, alert.labels) == alert.fingerprint  # this sender's
    ]


def _rfc3339(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def resolve_bodies(alerts: Sequence[AlertState], *, sender: str, ended_at: datetime) -> list[bytes]:
    """Alertmanager notifications (version 4) resolving `alerts`, as Alertmanager would send
    them at its next group_interval, with `endsAt` = `ended_at`."""
    bodies = []
    for start in range(0, len(alerts), RESOLVES_PER_BODY):
        part = alerts[start : start + RESOLVES_PER_BODY]
        note = {
            "version": "4",
            "status": "resolved",
            "receiver": RECEIVER,
            "groupKey": "",
            "externalURL": sender,
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "truncatedAlerts": 0,
            "alerts": [
                {
                    "status": "resolved",
                    "labels": alert.labels,
                    "annotations": {"incidentd_resolved_by": "alertmanager api"},
                    "startsAt": _rfc3339(alert.starts_at),
                    "endsAt": _rfc3339(ended_at),
                    "generatorURL": alert.url or "",
                }
                for alert in part
            ],
        }
        bodies.append(orjson.dumps(note))
    return bodies


def _headers(api: AlertmanagerApi) -> dict[str, str]:
    auth = api.auth
    if isinstance(auth, BearerAuth):
        return {"Authorization": f"{auth.scheme} {auth.token[0].get_secret_value()}"}
    if isinstance(auth, BasicAuth):
        pair = f"{auth.username}:{auth.password[0].get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {}


async def _get(http: aiohttp.ClientSession, url: str, api: AlertmanagerApi) -> bytes:
    timeout = aiohttp.ClientTimeout(total=api.timeout.total_seconds())
    try:
        async with http.get(url, headers=_headers(api), timeout=timeout) as response:
            if response.status != 200:
                raise PeerError(f"answered {response.status}")
            if (response.content_length or 0) > MAX_ANSWER:
                raise PeerError(f"answer larger than {MAX_ANSWER} bytes")
            body = await response.content.read(MAX_ANSWER + 1)
            if len(body) > MAX_ANSWER:
                raise PeerError(f"answer larger than {MAX_ANSWER} bytes")
            return body
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PeerError(f"{type(exc).__name__}: {str(exc)[:200]}") from None


async def ask(http: aiohttp.ClientSession, base: str, api: AlertmanagerApi) -> Answer:
    """One peer's active alerts and uptime (PeerError when it cannot tell)."""
    alerts = await _get(http, f"{base}/api/v2/alerts?active=true&silenced=true&inhibited=true", api)
    status = await _get(http, f"{base}/api/v2/status", api)
    return read_answer(alerts, status, sender=api.sender)


Held = Callable[[], Iterable[AlertState] | None]
"""The alerts the engine holds, or None when this process does not run the engine now. A view
of the engine's own: read it through before the next await."""


class AlertmanagerSync:
    """The loop: each configured Alertmanager is asked every `interval` while this process
    leads the engine (`held` says what it holds), and resolves go to the queue."""

    def __init__(
        self,
        *,
        rules: RulesHandle,
        queue: AlertQueue,
        held: Held,
        clock: Clock,
        recorder: Recorder | None = None,
        tick: float = 1.0,
    ) -> None:
        self._rules = rules
        self._queue = queue
        self._held = held
        self._clock = clock
        self._recorder = recorder
        self._tick = tick
        self._next: dict[AlertmanagerApi, datetime] = {}
        self.stopping = asyncio.Event()

    def _apis(self) -> tuple[AlertmanagerApi, ...]:
        return self._rules.current.sources.source(SOURCE).api

    async def run(self) -> None:
        async with aiohttp.ClientSession() as http:
            while not self.stopping.is_set():
                await self.round(http)
                await pause(self.stopping, self._tick)

    async def round(self, http: aiohttp.ClientSession) -> int:
        """Ask every Alertmanager that is due; returns the alerts closed."""
        apis = self._apis()
        self._next = {api: when for api, when in self._next.items() if api in apis}
        closed = 0
        for api in apis:
            now = self._clock.now()
            if self._next.get(api, now) > now:
                continue
            self._next[api] = now + api.interval
            try:
                closed += await self.sync(http, api)
            except Exception:  # task boundary: log, count, go on with the next
                log.exception("alertmanager_api.failed", sender=api.sender)
                metrics.AM_SYNC.labels("error").inc()
        return closed

    async def sync(self, http: aiohttp.ClientSession, api: AlertmanagerApi) -> int:
        """Ask one Alertmanager's peers and queue the resolves; returns how many."""
        if self._held() is None:
            metrics.AM_SYNC.labels("not_leader").inc()
            return 0
        asked_at = self._clock.now()
        answers = await asyncio.gather(
            *(ask(http, url, api) for url in api.urls), return_exceptions=True
        )
        failed = [
            (url, a)
            for url, a in zip(api.urls, answers, strict=True)
            if isinstance(a, BaseException)
        ]
        if failed:
            for url, exc in failed:
                log.warning("alertmanager_api.peer_failed", peer=url, error=str(exc)[:300])
            metrics.AM_SYNC.labels("peer_failed").inc()
            return 0
        found = [a for a in answers if isinstance(a, Answer)]
        young = [
            url
            for url, a in zip(api.urls, found, strict=True)
            if a.young(asked_at, api.restart_grace)
        ]
        if young:
            metrics.AM_SYNC.labels("restart_grace").inc()
            log.info("alertmanager_api.restart_grace", peers=young)
            return 0
        held = self._held()
        if held is None:
            metrics.AM_SYNC.labels("not_leader").inc()
            return 0
        gone = stale(
            held, found, sender=api.sender, asked_at=asked_at, restart_grace=api.restart_grace
        )
        await self._queue_resolves(gone, api, asked_at)
        metrics.AM_SYNC.labels("ok").inc()
        if gone:
            metrics.AM_SYNC_RESOLVED.inc(len(gone))
            log.info(
                "alertmanager_api.resolved",
                sender=api.sender,
                alerts=len(gone),
                active=sum(len(a.active) for a in found),
            )
        return len(gone)

    async def _queue_resolves(
        self, gone: Sequence[AlertState], api: AlertmanagerApi, asked_at: datetime
    ) -> None:
        spec = self._rules.current.sources.source(SOURCE)
        options = SourceOptions(
            auto_resolve_after=spec.ttl(AlertmanagerSource.default_auto_resolve_after),
            sender=api.sender,
        )
        for body in resolve_bodies(gone, sender=api.sender, ended_at=asked_at):
            received_at = self._clock.now()
            try:
                await self._queue.append(RawWebhook(SOURCE, body, {}, received_at, options))
            except Overloaded:
                metrics.AM_SYNC.labels("queue_unavailable").inc()
                log.warning("alertmanager_api.queue_unavailable", sender=api.sender)
                return  # asked again at the next interval
            if self._recorder is not None:
                self._recorder.record(SOURCE, received_at, body)
