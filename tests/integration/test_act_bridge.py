"""The bridge: a Zoom meeting through the fake Zoom (Server-to-Server OAuth token, create
meeting), or a templated URL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from incidentd.act.config import BridgeUrlConfig, ZoomConfig
from incidentd.act.target import ActionEvent, OutcomeKind
from incidentd.act.targets.bridge import UrlBridge, ZoomBridge
from tests.fakes.base import serve
from tests.fakes.incident import request
from tests.fakes.zoom import FakeZoom

ACCOUNT, CLIENT, SECRET = "Ac1234", "cl1ent-id", "s3cret-of-the-app"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def fake() -> AsyncIterator[FakeZoom]:
    vendor = FakeZoom(ACCOUNT, CLIENT, SECRET)
    async with serve(vendor):
        yield vendor


def zoom(base: str, secret: str = SECRET) -> ZoomBridge:
    config = ZoomConfig.model_validate(
        {
            "type": "zoom",
            "account_id": ACCOUNT,
            "client_id": CLIENT,
            "client_secret": secret,
            "token_url": f"{base}/oauth/token",
            "base_url": f"{base}/v2",
        }
    )
    return ZoomBridge("zoom", config)


async def test_a_declaration_opens_a_meeting_and_keeps_only_its_join_url(
    fake: FakeZoom, session: aiohttp.ClientSession
) -> None:
    outcome = await zoom(fake.url).send(request(bridge_url=None), session, {})

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    meeting = fake.meetings[0]
    assert outcome.refs == {"bridge_url": meeting["join_url"], "zoom_meeting_id": "85746065432"}
    assert meeting["topic"].startswith("INC-1042 bridge: Checkout and browse degraded")
    assert meeting["type"] == 1
    assert fake.requests("/v2/users/me/meetings")[0].headers["authorization"].startswith("Bearer ")
    assert fake.violations == []


async def test_an_open_bridge_is_not_opened_again(
    fake: FakeZoom, session: aiohttp.ClientSession
) -> None:
    refs = {"bridge_url": "https://zoom.us/j/1", "zoom_meeting_id": "1"}
    again = await zoom(fake.url).send(request(), session, refs)
    resolved = await zoom(fake.url).send(request(ActionEvent.RESOLVED), session, {})

    assert (again.kind, again.refs) == (OutcomeKind.SENT, refs)
    assert resolved.kind is OutcomeKind.SENT
    assert fake.received == []


async def test_the_token_is_reused_until_zoom_refuses_it(
    fake: FakeZoom, session: aiohttp.ClientSession
) -> None:
    bridge = zoom(fake.url)
    await bridge.send(request(), session, {})
    await bridge.send(request(), session, {})
    fake.revoke_tokens()
    refused = await bridge.send(request(), session, {})
    renewed = await bridge.send(request(), session, {})

    assert refused.kind is OutcomeKind.RETRY
    assert "HTTP 401" in refused.reason
    assert renewed.kind is OutcomeKind.SENT
    assert len(fake.requests("/oauth/token")) == 2
    assert len(fake.meetings) == 3


async def test_wrong_app_credentials_fail_without_showing_the_secret(
    fake: FakeZoom, session: aiohttp.ClientSession
) -> None:
    bridge = zoom(fake.url, secret="wrong-secret-value")  # noqa: S106 (a fake)
    outcome = await bridge.send(request(), session, {})

    assert outcome.kind is OutcomeKind.FAILED
    assert "Invalid client_id or client_secret" in outcome.reason
    assert "wrong-secret-value" not in outcome.reason


async def test_zoom_limits_and_validation_errors_are_classified(
    fake: FakeZoom, session: aiohttp.ClientSession
) -> None:
    bridge = zoom(fake.url)
    fake.pass_next(1)  # the token
    fake.fail_next(1, 429, {"code": 429, "message": "daily limit"}, {"Retry-After": "120"})
    limited = await bridge.send(request(), session, {})
    invalid = {
        "code": 300,
        "message": "Validation Failed.",
        "errors": [{"field": "settings.audio", "message": "Invalid field."}],
    }
    fake.fail_next(1, 400, invalid)
    rejected = await bridge.send(request(), session, {})

    assert (limited.kind, limited.retry_after) == (OutcomeKind.RETRY, 120.0)
    assert rejected.kind is OutcomeKind.FAILED
    assert "Validation Failed. settings.audio: Invalid field." in rejected.reason


async def test_a_templated_bridge_url_needs_no_call(session: aiohttp.ClientSession) -> None:
    config = BridgeUrlConfig.model_validate(
        {"type": "bridge_url", "url": "https://meet.example.com/{{ incident.id | lower }}"}
    )
    outcome = await UrlBridge("meet", config).send(request(), session, {})

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.refs == {"bridge_url": "https://meet.example.com/inc-1042"}


async def test_a_template_that_renders_no_url_fails(session: aiohttp.ClientSession) -> None:
    config = BridgeUrlConfig.model_validate({"type": "bridge_url", "url": "{{ incident.title }}"})
    outcome = await UrlBridge("meet", config).send(request(), session, {})

    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.refs == {}
