"""The real Prometheus Alertmanager (0.25, Debian package) posting to a running `incidentd serve`.

Alerts go in through Alertmanager's `POST /api/v2/alerts`; what reaches incidentd's Redis queue
is read back as the engine would read it. Proves end to end: bearer credentials from
Alertmanager's `http_config.authorization`, exactly the posted alerts firing then resolved with
stable fingerprints and event ids, a 401 that queues nothing (and that Alertmanager counts as a
failed notification), and a 503 during a Redis outage that Alertmanager retries until the
alert is queued.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incidentd.correlate.fingerprint import fingerprint
from incidentd.model import Alert, Severity, Status
from tests.e2e.conftest import (
    EXTERNAL_URL,
    GROUP_INTERVAL,
    RECEIVER,
    Alertmanager,
    OpenQueue,
    StartAlertmanager,
    StartIncidentd,
)
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

WAIT = 20.0
"""Longest wait for a notification; Alertmanager usually delivers within a group_interval."""
TOKEN = "e2e-token-Zq8v"  # noqa: S105 - a dummy credential for a private test instance
NOTES = "Taux d'erreur > 5 % sur <checkout> & “panier” 日本語 🚨"
WEBHOOK = {"integration": "webhook"}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def posted_alerts(now: datetime) -> list[dict[str, Any]]:
    """Three label sets: the first and the third in one Alertmanager group (alertname)."""
    started = rfc3339(now - timedelta(minutes=5))
    return [
        {
            "labels": {
                "alertname": "CheckoutLatencyHigh",
                "instance": "web-1:9100",
                "service": "checkout",
                "severity": "critical",
            },
            "annotations": {"summary": "p99 latency above 2 s on web-1"},
            "startsAt": started,
            "generatorURL": "http://prometheus.e2e.test:9090/graph?g0.expr=latency&g0.tab=1",
        },
        {
            "labels": {
                "alertname": "PaymentErrors",
                "app_kubernetes_io_name": "paiement-€",
                "region": "zürich",
                "severity": "warning",
            },
            "annotations": {"summary": NOTES, "description": "a < b && c > d\nsecond line"},
            "startsAt": started,
        },
        {
            "labels": {
                "alertname": "CheckoutLatencyHigh",
                "instance": "web-2:9100",
                "app": "checkout-api",
                "priority": "P2",
            },
            "annotations": {"summary": "p99 latency above 2 s on web-2"},
            "startsAt": started,
        },
    ]


EXPECTED = {  # alert index -> (severity, service), per the mapping in ingest/alertmanager.py
    0: (Severity.CRITICAL, "checkout"),
    1: (Severity.WARNING, "paiement-€"),
    2: (Severity.ERROR, "checkout-api"),
}


def fingerprint_of(posted: dict[str, Any]) -> str:
    return fingerprint("alertmanager", EXTERNAL_URL, posted["labels"])


def reported(alerts: list[Alert], status: Status) -> set[str]:
    return {a.fingerprint for a in alerts if a.status is status}


def check_duplicates(alerts: list[Alert]) -> None:
    """Alertmanager may send an alert again (in its group's next notification): every report
    of one state of one alert must carry the same event_id, so the engine can drop it."""
    ids: dict[tuple[str, Status], set[str]] = defaultdict(set)
    for alert in alerts:
        ids[alert.fingerprint, alert.status].add(alert.event_id)
    assert all(len(found) == 1 for found in ids.values()), ids
    for fp in {fp for fp, _ in ids}:
        assert ids.get((fp, Status.FIRING)) != ids.get((fp, Status.RESOLVED))


def check_group_keys(alerts: list[Alert]) -> None:
    for alert in alerts:
        assert alert.group_key is not None
        url, receiver, key = json.loads(alert.group_key)
        assert (url, receiver) == (EXTERNAL_URL, RECEIVER)
        assert f'alertname="{alert.name}"' in key
    keys = {a.labels["instance"]: a.group_key for a in alerts if "instance" in a.labels}
    others = {a.group_key for a in alerts if "instance" not in a.labels}
    assert keys["web-1:9100"] == keys["web-2:9100"], "one Alertmanager group, one group_key"
    assert others.isdisjoint(keys.values())


def check_firing(alert: Alert, posted: dict[str, Any], index: int, sent: datetime) -> None:
    assert alert.source == "alertmanager"
    assert alert.status is Status.FIRING
    assert alert.labels == posted["labels"]
    assert alert.annotations == posted["annotations"], "non-ASCII and <>& arrive unchanged"
    assert (alert.severity, alert.service) == EXPECTED[index]
    assert alert.name == posted["labels"]["alertname"]
    assert alert.title == posted["annotations"]["summary"]
    assert alert.starts_at == datetime.fromisoformat(posted["startsAt"])
    assert alert.ends_at is None
    assert alert.url == posted.get("generatorURL")
    assert sent - timedelta(seconds=1) <= alert.received_at <= datetime.now(UTC)
    assert alert.auto_resolve_after is None


async def wait_for_metric(
    am: Alertmanager, name: str, above: float, *, within: float = WAIT
) -> None:
    """Until Alertmanager's counter `name`{integration="webhook"} exceeds `above`."""
    deadline = time.monotonic() + within
    while (value := await am.metric(name, **WEBHOOK)) <= above:
        if time.monotonic() > deadline:
            pytest.fail(f"{name} stayed at {value} for {within} s:\n{am.tail()}")
        await asyncio.sleep(0.1)  # a counter has no change feed: poll it, briefly


async def test_posted_alerts_reach_the_queue_firing_then_resolved_exactly_once_each(
    redis_url: str,
    redis_prefix: str,
    start_incidentd: StartIncidentd,
    start_alertmanager: StartAlertmanager,
    open_queue: OpenQueue,
) -> None:
    daemon = await start_incidentd(redis_url=redis_url, prefix=redis_prefix, token=TOKEN)
    am = await start_alertmanager(webhook_url=daemon.webhook_url, credentials=TOKEN)
    reader = await open_queue(redis_url, redis_prefix)
    now = datetime.now(UTC)
    alerts = posted_alerts(now)
    fingerprints = [fingerprint_of(a) for a in alerts]
    assert len(set(fingerprints)) == 3

    await am.post(alerts[:2])
    await reader.until(
        lambda got: reported(got, Status.FIRING) == set(fingerprints[:2]), within=WAIT
    )
    # The third alert joins the first one's group: Alertmanager's next notification for that
    # group carries both, so the first is reported again (a duplicate by design).
    await am.post(alerts[2:])
    seen = await reader.until(
        lambda got: (
            reported(got, Status.FIRING) == set(fingerprints)
            and sum(a.fingerprint == fingerprints[0] for a in got) >= 2
        ),
        within=WAIT,
    )
    for alert in seen:
        index = fingerprints.index(alert.fingerprint)  # ValueError: an alert nobody posted
        check_firing(alert, alerts[index], index, now)
    check_duplicates(seen)
    check_group_keys(seen)

    ended = datetime.now(UTC) - timedelta(seconds=1)
    resolved_at = datetime.now(UTC)
    await am.post([{**a, "endsAt": rfc3339(ended)} for a in alerts])
    await reader.until(lambda got: reported(got, Status.RESOLVED) == set(fingerprints), within=WAIT)
    seen = await reader.for_(2 * GROUP_INTERVAL + 0.5)  # anything late or extra shows up now

    assert {a.fingerprint for a in seen} == set(fingerprints), "nothing but the posted alerts"
    check_duplicates(seen)
    for fp, posted in zip(fingerprints, alerts, strict=True):
        states = [a.status for a in seen if a.fingerprint == fp]
        assert states == sorted(states, key=[Status.FIRING, Status.RESOLVED].index), states
        for alert in (a for a in seen if a.fingerprint == fp and a.status is Status.RESOLVED):
            assert alert.labels == posted["labels"]
            assert alert.starts_at == datetime.fromisoformat(posted["startsAt"])
            assert alert.ends_at == datetime.fromisoformat(rfc3339(ended))
            assert resolved_at - timedelta(seconds=1) <= alert.received_at <= datetime.now(UTC)
    check_group_keys(seen)
    assert await daemon.metric("incidentd_webhooks_total", outcome="unauthorized") == 0


async def test_wrong_token_is_refused_with_401_and_nothing_is_queued(
    redis_url: str,
    redis_prefix: str,
    start_incidentd: StartIncidentd,
    start_alertmanager: StartAlertmanager,
    open_queue: OpenQueue,
) -> None:
    daemon = await start_incidentd(redis_url=redis_url, prefix=redis_prefix, token=TOKEN)
    am = await start_alertmanager(webhook_url=daemon.webhook_url, credentials="not-the-token")
    reader = await open_queue(redis_url, redis_prefix)
    before = await am.metric("alertmanager_notifications_failed_total", **WEBHOOK)

    await am.post(posted_alerts(datetime.now(UTC))[:1])
    await wait_for_metric(am, "alertmanager_notifications_failed_total", before)

    assert await reader.for_(3.0) == []
    assert await reader.queue.depth() == 0
    refused = await daemon.metric(
        "incidentd_webhooks_total", source="alertmanager", outcome="unauthorized"
    )
    # Alertmanager gives up on the notification at once, not on the alert: only successes
    # enter its notification log, so every flush of the group (each group_interval) tries
    # again, and gets 401 again.
    assert refused >= 2
    assert await daemon.metric("incidentd_webhooks_total", outcome="accepted") == 0
    assert await daemon.metric("incidentd_alerts_received_total") == 0, "refused before parsing"
    # A 4xx is not retried within a notification: one request per failed notification (the
    # +1 covers a scrape between the request's counter and the notification's).
    requests = await am.metric("alertmanager_notification_requests_failed_total", **WEBHOOK)
    notifications = await am.metric("alertmanager_notifications_failed_total", **WEBHOOK)
    assert requests <= notifications + 1


async def test_503_while_redis_is_down_is_retried_by_alertmanager_until_queued(
    private_redis: RedisServer,
    start_incidentd: StartIncidentd,
    start_alertmanager: StartAlertmanager,
    open_queue: OpenQueue,
) -> None:
    prefix = "incidentd-e2e-outage"
    daemon = await start_incidentd(redis_url=private_redis.url, prefix=prefix, token=TOKEN)
    am = await start_alertmanager(webhook_url=daemon.webhook_url, credentials=TOKEN)
    posted = posted_alerts(datetime.now(UTC))[1]

    private_redis.stop()
    await am.post([posted])
    await wait_for_metric(am, "alertmanager_notification_requests_failed_total", 0)
    await asyncio.sleep(2.0)  # Alertmanager keeps retrying against the 503s meanwhile
    private_redis.start()
    reader = await open_queue(private_redis.url, prefix)
    seen = await reader.until(lambda got: bool(got), within=WAIT)
    seen = await reader.for_(2 * GROUP_INTERVAL)

    assert {a.fingerprint for a in seen} == {fingerprint_of(posted)}
    assert {a.status for a in seen} == {Status.FIRING}
    assert seen[0].annotations == posted["annotations"]
    check_duplicates(seen)
    unavailable = await daemon.metric(
        "incidentd_webhooks_total", source="alertmanager", outcome="unavailable"
    )
    assert unavailable >= 2, "503 for the first attempt and at least one retry"
    assert await am.metric("alertmanager_notification_requests_failed_total", **WEBHOOK) >= 2
    # Delivered by the retries of the same notification, not by a later flush of the group.
    assert await am.metric("alertmanager_notifications_failed_total", **WEBHOOK) == 0
