"""Generic webhook target against a receiver that verifies the HMAC signature and drops
repeated idempotency keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from incidentd.act.config import WebhookConfig
from incidentd.act.target import OutcomeKind
from incidentd.act.targets.webhook import WebhookTarget
from tests.fakes.base import serve
from tests.fakes.incident import request
from tests.fakes.receiver import PATH, FakeReceiver

SECRET = "whsec-0123456789abcdef"  # noqa: S105 (a fake)
NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
TEMPLATE = """{
  "id": {{ incident.id | json }},
  "summary": {{ (incident.id ~ ": " ~ incident.title) | json }},
  "priority": {{ incident.priority | json }},
  "event": {{ event | json }},
  "bridge": {{ bridge_url | json }}
}"""


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def fake() -> AsyncIterator[FakeReceiver]:
    vendor = FakeReceiver(SECRET, NOW)
    async with serve(vendor):
        yield vendor


def target(url: str, *, template: str | None = TEMPLATE, at: datetime = NOW) -> WebhookTarget:
    config = WebhookConfig.model_validate(
        {"type": "webhook", "url": url, "secret": SECRET, "template": template}
    )
    return WebhookTarget("hook", config, now=lambda: at)


async def test_a_signed_templated_body_is_delivered(
    fake: FakeReceiver, session: aiohttp.ClientSession
) -> None:
    action = request()
    outcome = await target(fake.url + PATH).send(action, session, {})

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    assert fake.processed[action.key] == {
        "id": "INC-1042",
        "summary": "INC-1042: Checkout and browse degraded: orders-db failing",
        "priority": "P1",
        "event": "declared",
        "bridge": "https://zoom.us/j/85746065432",
    }
    assert fake.received[0].headers["x-incidentd-timestamp"] == str(int(NOW.timestamp()))
    assert fake.violations == []


async def test_a_retry_carries_the_same_idempotency_key(
    fake: FakeReceiver, session: aiohttp.ClientSession
) -> None:
    hook = target(fake.url + PATH, template=None)
    fake.fail_next(1, 503, "busy", {"Retry-After": "5"})
    first = await hook.send(request(target="hook"), session, {})
    second = await hook.send(request(target="hook"), session, {})

    assert (first.kind, first.retry_after) == (OutcomeKind.RETRY, 5.0)
    assert second.kind is OutcomeKind.SENT
    keys = {r.headers["idempotency-key"] for r in fake.received}
    assert keys == {"INC-1042:declared:5:hook"}
    assert fake.processed["INC-1042:declared:5:hook"]["incident"]["id"] == "INC-1042"


async def test_a_stale_signature_is_refused_by_the_receiver(
    fake: FakeReceiver, session: aiohttp.ClientSession
) -> None:
    late = target(fake.url + PATH, at=NOW - timedelta(minutes=10))
    outcome = await late.send(request(), session, {})

    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.reason == "webhook: HTTP 401: invalid signature"


async def test_a_template_that_renders_no_json_fails_before_sending(
    fake: FakeReceiver, session: aiohttp.ClientSession
) -> None:
    broken = target(fake.url + PATH, template='{"id": {{ incident.id }}}')
    undefined = target(fake.url + PATH, template='{"x": {{ incident.nope | json }}}')

    first = await broken.send(request(), session, {})
    second = await undefined.send(request(), session, {})

    assert first.kind is OutcomeKind.FAILED
    assert "invalid JSON" in first.reason
    assert second.kind is OutcomeKind.FAILED
    assert "UndefinedError" in second.reason
    assert fake.received == []
