"""The HTTP contract of POST /webhooks/{source}, over real HTTP against the real app.

Uses the in-memory queue (the Redis queue has its own contract and outage tests) and a
config directory written per test, so that auth and limits are exercised as configured.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from incidentd import metrics
from incidentd.clock import ManualClock
from incidentd.http.app import make_app
from incidentd.http.deps import DEPS, Deps
from incidentd.rules.loader import load
from incidentd.rules.reload import RulesHandle
from incidentd.store.memory import MemoryQueue

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ONE_ALERT = json.dumps({"name": "DiskFull", "severity": "critical", "service": "db"}).encode()
JSON = {"Content-Type": "application/json"}
AM_SINGLE_FIRING = (
    Path(__file__).resolve().parents[1] / "payloads" / "alertmanager" / "single_firing.json"
).read_bytes()

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"

ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]
Make = Callable[..., Awaitable[tuple[TestClient[web.Request, web.Application], MemoryQueue]]]


@pytest.fixture
def make(aiohttp_client: ClientFactory, tmp_path: Path) -> Make:
    async def _make(
        sources_yaml: str = "", *, max_depth: int = 100, env: dict[str, str] | None = None
    ) -> tuple[TestClient[web.Request, web.Application], MemoryQueue]:
        (tmp_path / "sources.yaml").write_text(sources_yaml)
        queue = MemoryQueue(max_depth=max_depth, retry_after=7)
        rules = RulesHandle(load(tmp_path, env=env or {}))
        app = make_app(Deps(rules=rules, queue=queue, clock=ManualClock(NOW)))
        return await aiohttp_client(app), queue

    return _make


async def test_accepted_webhook_is_queued_before_202(make: Make) -> None:
    client, queue = await make()
    response = await client.post("/webhooks/generic", data=ONE_ALERT, headers=JSON)
    assert response.status == 202
    body = await response.json()
    assert body["status"] == "accepted"
    assert body["alerts"] == 1
    [entry] = await queue.read("t", count=10, block_ms=0)
    assert entry.id == body["id"]
    assert [a.name for a in entry.alerts] == ["DiskFull"]
    assert entry.alerts[0].received_at == NOW


async def test_unknown_source_is_404_naming_the_known_ones(make: Make) -> None:
    client, queue = await make()
    response = await client.post("/webhooks/nagios", data=ONE_ALERT, headers=JSON)
    assert response.status == 404
    body = await response.json()
    assert body["reason"] == "unknown_source"
    assert "alertmanager" in body["message"]
    assert await queue.depth() == 0


async def test_disabled_source_is_404(make: Make) -> None:
    client, _ = await make("sources:\n  generic: {enabled: false}\n")
    response = await client.post("/webhooks/generic", data=ONE_ALERT, headers=JSON)
    assert response.status == 404


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "application/xml"]
)
async def test_wrong_content_type_is_415(make: Make, content_type: str) -> None:
    client, queue = await make()
    response = await client.post(
        "/webhooks/generic", data=ONE_ALERT, headers={"Content-Type": content_type}
    )
    assert response.status == 415
    assert "application/json" in (await response.json())["message"]
    assert await queue.depth() == 0


async def test_json_with_charset_and_vendor_json_types_are_accepted(make: Make) -> None:
    client, _ = await make()
    for ctype in ("application/json; charset=utf-8", "application/vnd.api+json"):
        response = await client.post(
            "/webhooks/generic", data=ONE_ALERT, headers={"Content-Type": ctype}
        )
        assert response.status == 202, ctype


async def test_non_utf8_charset_is_415(make: Make) -> None:
    client, _ = await make()
    response = await client.post(
        "/webhooks/generic",
        data=ONE_ALERT,
        headers={"Content-Type": "application/json; charset=iso-8859-1"},
    )
    assert response.status == 415


async def test_oversized_body_is_413_with_or_without_content_length(make: Make) -> None:
    client, queue = await make("max_body_bytes: 100\n")
    big = json.dumps({"name": "x" * 200}).encode()
    response = await client.post("/webhooks/generic", data=big, headers=JSON)
    assert response.status == 413

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b" " * 50

    response = await client.post("/webhooks/generic", data=chunks(), headers=JSON)
    assert response.status == 413
    assert await queue.depth() == 0


def _webhooks(source: str, outcome: str) -> float:
    return metrics.WEBHOOKS.labels(source, outcome)._value.get()  # type: ignore[no-any-return]


def _internal_errors() -> float:
    return metrics.HTTP_INTERNAL_ERRORS._value.get()  # type: ignore[no-any-return]


async def test_a_body_cut_short_of_its_content_length_is_400_and_queues_nothing(
    make: Make,
) -> None:
    """A sender that dies mid-body (half-closes after part of what Content-Length announced)."""
    client, queue = await make()
    accepted_before = _webhooks("generic", "accepted")
    errors_before = _internal_errors()
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    head = (
        "POST /webhooks/generic HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(ONE_ALERT) + 20}\r\n\r\n"
    )
    writer.write(head.encode() + ONE_ALERT)
    await writer.drain()
    writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    # aiohttp cancels the handler of a connection whose peer ended the body early: no answer
    # can reach it. What matters: nothing was queued, and it was not an internal error.
    assert answer == b""
    await asyncio.sleep(0.05)
    assert await queue.depth() == 0
    assert _webhooks("generic", "accepted") == accepted_before
    assert _internal_errors() == errors_before


async def test_per_source_body_limit_overrides_the_global_one(make: Make) -> None:
    client, _ = await make("max_body_bytes: 100000\nsources:\n  generic: {max_body_bytes: 10}\n")
    response = await client.post("/webhooks/generic", data=ONE_ALERT, headers=JSON)
    assert response.status == 413
    response = await client.post("/webhooks/alertmanager", data=b"{}", headers=JSON)
    assert response.status != 413


async def test_not_json_is_400(make: Make) -> None:
    client, queue = await make()
    for body in (b"{", b"", b"\xff\xfe", b'{"name": "a"} trailing'):
        response = await client.post("/webhooks/generic", data=body, headers=JSON)
        assert response.status == 400, body
        assert (await response.json())["reason"] == "not_json"
    assert await queue.depth() == 0


async def test_wrong_shape_is_422_with_the_json_path(make: Make) -> None:
    client, queue = await make()
    body = json.dumps({"alerts": [{"name": "ok"}, {"name": "x", "labels": {"a": 1}}]})
    response = await client.post("/webhooks/generic", data=body, headers=JSON)
    assert response.status == 422
    answer = await response.json()
    assert answer["path"].startswith("$.alerts[1].labels")
    assert await queue.depth() == 0, "a request is accepted whole or not at all"


async def test_bearer_token_required_when_configured(make: Make) -> None:
    client, queue = await make(
        "sources:\n  generic:\n    auth: {type: bearer, token: [old-secret, {env: TOK}]}\n",
        env={"TOK": "s3cret"},
    )
    url = "/webhooks/generic"
    missing = await client.post(url, data=ONE_ALERT, headers=JSON)
    assert missing.status == 401
    assert "WWW-Authenticate" in missing.headers
    wrong = await client.post(url, data=ONE_ALERT, headers={**JSON, "Authorization": "Bearer x"})
    assert wrong.status == 401
    scheme = await client.post(
        url, data=ONE_ALERT, headers={**JSON, "Authorization": "Token s3cret"}
    )
    assert scheme.status == 401
    assert await queue.depth() == 0
    for token in ("s3cret", "old-secret"):
        ok = await client.post(
            url, data=ONE_ALERT, headers={**JSON, "Authorization": f"Bearer {token}"}
        )
        assert ok.status == 202, token


async def test_basic_auth(make: Make) -> None:
    client, _ = await make(
        "sources:\n  datadog:\n    auth: {type: basic, username: dd, password: pw}\n"
    )

    def basic(user: str, password: str) -> dict[str, str]:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {**JSON, "Authorization": f"Basic {token}"}

    url = "/webhooks/datadog"
    assert (await client.post(url, data=b"{}", headers=basic("dd", "nope"))).status == 401
    assert (await client.post(url, data=b"{}", headers=basic("xx", "pw"))).status == 401
    garbage = {**JSON, "Authorization": "Basic !!!notbase64"}
    assert (await client.post(url, data=b"{}", headers=garbage)).status == 401
    # the right credentials get past auth to the parser, which judges the (empty) body
    assert (await client.post(url, data=b"{}", headers=basic("dd", "pw"))).status == 422


async def test_url_token_for_senders_without_headers(make: Make) -> None:
    client, _ = await make("sources:\n  generic:\n    auth: {type: url_token, token: abc}\n")
    assert (await client.post("/webhooks/generic", data=ONE_ALERT, headers=JSON)).status == 401
    bad = await client.post("/webhooks/generic?token=abd", data=ONE_ALERT, headers=JSON)
    assert bad.status == 401
    good = await client.post("/webhooks/generic?token=abc", data=ONE_ALERT, headers=JSON)
    assert good.status == 202


async def test_grafana_hmac_signature_with_timestamp(make: Make) -> None:
    client, _ = await make(
        "sources:\n  generic:\n    hmac: {secret: k3y, header: X-Sig, timestamp_header: X-Ts}\n"
    )
    stamp = str(int(NOW.timestamp()))
    signature = hmac.new(b"k3y", stamp.encode() + b":" + ONE_ALERT, hashlib.sha256).hexdigest()
    url = "/webhooks/generic"
    good = {**JSON, "X-Sig": signature, "X-Ts": stamp}
    assert (await client.post(url, data=ONE_ALERT, headers=good)).status == 202
    tampered = ONE_ALERT.replace(b"DiskFull", b"DiskFine")
    assert (await client.post(url, data=tampered, headers=good)).status == 401
    old = str(int(NOW.timestamp()) - 3600)
    stale_sig = hmac.new(b"k3y", old.encode() + b":" + ONE_ALERT, hashlib.sha256).hexdigest()
    stale = {**JSON, "X-Sig": stale_sig, "X-Ts": old}
    assert (await client.post(url, data=ONE_ALERT, headers=stale)).status == 401
    assert (await client.post(url, data=ONE_ALERT, headers=JSON)).status == 401


async def test_grafana_hmac_default_header_names_both_work(make: Make) -> None:
    client, _ = await make("sources:\n  generic:\n    hmac: {secret: k3y}\n")
    signature = hmac.new(b"k3y", ONE_ALERT, hashlib.sha256).hexdigest()
    for name in ("X-Grafana-Alert-Signature", "X-Grafana-Alerting-Signature"):
        response = await client.post(
            "/webhooks/generic", data=ONE_ALERT, headers={**JSON, name: signature}
        )
        assert response.status == 202, name
    wrong = {**JSON, "X-Grafana-Alert-Signature": "0" * 64}
    assert (await client.post("/webhooks/generic", data=ONE_ALERT, headers=wrong)).status == 401


async def test_full_queue_is_503_with_retry_after_and_writes_nothing(make: Make) -> None:
    client, queue = await make(max_depth=1)
    assert (await client.post("/webhooks/generic", data=ONE_ALERT, headers=JSON)).status == 202
    response = await client.post("/webhooks/generic", data=ONE_ALERT, headers=JSON)
    assert response.status == 503
    assert response.headers["Retry-After"] == "7"
    assert (await response.json())["reason"] == "unavailable"
    assert await queue.depth() == 1


async def test_wrong_method_is_a_json_405(make: Make) -> None:
    client, _ = await make()
    response = await client.get("/webhooks/generic")
    assert response.status == 405
    assert (await response.json())["status"] == "rejected"


async def test_health_ready_and_metrics(make: Make) -> None:
    client, _ = await make()
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["status"] == "ready"
    await client.post("/webhooks/generic", data=ONE_ALERT, headers=JSON)
    await client.post("/webhooks/generic", data=b"{", headers=JSON)
    text = await (await client.get("/metrics")).text()
    assert 'incidentd_webhooks_total{outcome="accepted",source="generic"}' in text
    assert 'incidentd_webhooks_total{outcome="not_json",source="generic"}' in text
    assert "incidentd_queue_depth 1.0" in text


async def test_readyz_is_503_while_shutting_down(make: Make) -> None:
    client, _ = await make()
    client.app[DEPS].accepting = False
    response = await client.get("/readyz")
    assert response.status == 503
    assert "shutting down" in (await response.json())["problems"]


async def test_sender_replaces_an_unstable_external_url_in_the_identity(make: Make) -> None:
    """Alertmanager without --web.external-url names itself after its pod: `sender` fixes it."""
    body = json.loads(AM_SINGLE_FIRING)
    pod_a = json.dumps({**body, "externalURL": "http://alertmanager-0:9093"}).encode()
    pod_b = json.dumps({**body, "externalURL": "http://alertmanager-7f9c:9093"}).encode()

    async def fingerprint(
        client: TestClient[web.Request, web.Application], url: str, data: bytes, queue: MemoryQueue
    ) -> str:
        assert (await client.post(url, data=data, headers=JSON)).status == 202
        [entry] = await queue.read("t", count=1, block_ms=0)
        return entry.alerts[0].fingerprint

    client, queue = await make()
    url = "/webhooks/alertmanager"
    assert await fingerprint(client, url, pod_a, queue) != await fingerprint(
        client, url, pod_b, queue
    )
    same_a = await fingerprint(client, url + "?sender=am-eu", pod_a, queue)
    assert same_a == await fingerprint(client, url + "?sender=am-eu", pod_b, queue)
    assert same_a != await fingerprint(client, url + "?sender=am-us", pod_a, queue)
    bad = await client.post(url + "?sender=", data=pod_a, headers=JSON)
    assert bad.status == 422


async def test_sender_from_sources_yaml(make: Make) -> None:
    body = json.loads(AM_SINGLE_FIRING)
    client, queue = await make("sources:\n  alertmanager: {sender: am-prod}\n")
    prints = set()
    for external in ("http://a:9093", "http://b:9093"):
        data = json.dumps({**body, "externalURL": external}).encode()
        assert (await client.post("/webhooks/alertmanager", data=data, headers=JSON)).status == 202
        [entry] = await queue.read("t", count=1, block_ms=0)
        prints.add(entry.alerts[0].fingerprint)
    assert len(prints) == 1


async def test_the_example_config_takes_a_storm_notification_of_5000_alerts(
    aiohttp_client: ClientFactory,
) -> None:
    """Alertmanager sends every alert of a group in one notification (`max_alerts: 0`, what
    the README configures) and drops a 4xx for good: a storm's notification of thousands of
    alerts (~0.5 kB each) must not meet the global 1 MiB default limit."""
    queue = MemoryQueue(max_depth=100)
    app = make_app(Deps(rules=RulesHandle(load(EXAMPLE)), queue=queue, clock=ManualClock(NOW)))
    client = await aiohttp_client(app)
    single = json.loads(AM_SINGLE_FIRING)
    [alert] = single["alerts"]
    storm = {
        **single,
        "alerts": [
            {**alert, "labels": {**alert["labels"], "instance": f"node-{i:04}:9100"}}
            for i in range(5000)
        ],
    }
    body = json.dumps(storm).encode()
    assert len(body) > 1024 * 1024, "over the global default limit"
    for source in ("alertmanager", "grafana"):
        if source == "grafana":
            body = json.dumps({**storm, "version": "1", "orgId": 1}).encode()
        response = await client.post(f"/webhooks/{source}", data=io.BytesIO(body), headers=JSON)
        assert response.status == 202, (source, await response.text())
        assert (await response.json())["alerts"] == 5000
    assert await queue.depth() == 2
