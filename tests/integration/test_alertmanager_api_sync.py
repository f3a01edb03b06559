"""AlertmanagerSync against fake Alertmanager APIs on 127.0.0.1: what it asks, what it queues,
and what it does when a peer fails, lies, restarted or is slow. (The real Alertmanager:
tests/e2e/test_alertmanager_engine_e2e.py.)"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from prometheus_client import REGISTRY

from incidentd.clock import ManualClock
from incidentd.correlate.dedup import AlertState, decide
from incidentd.ingest.alertmanager import AlertmanagerSource
from incidentd.ingest.alertmanager_api import AlertmanagerSync
from incidentd.ingest.source import RawWebhook
from incidentd.model import Status
from incidentd.rules.loader import load
from incidentd.rules.reload import RulesHandle
from incidentd.store.memory import MemoryQueue
from tests.fakes.alertmanager_api import FakeAlertmanagerApi
from tests.fakes.base import serve

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"
SENDER = "http://alertmanager.example:9093"
TOKEN = "am-proxy-token"  # noqa: S105 - a dummy credential for a fake


def states(*names: str, received: datetime) -> list[AlertState]:
    body = orjson.dumps(
        {
            "version": "4",
            "status": "firing",
            "receiver": "incidentd",
            "groupKey": "{}:{}",
            "externalURL": SENDER,
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": name, "severity": "error"},
                    "annotations": {},
                    "startsAt": (received - timedelta(minutes=1)).isoformat(),
                    "endsAt": "0001-01-01T00:00:00Z",
                }
                for name in names
            ],
        }
    )
    parsed = AlertmanagerSource().parse(RawWebhook("alertmanager", body, {}, received))
    return [decide(alert, None, service=None).state for alert in parsed]


def handle(tmp_path: Path, urls: list[str], **api: Any) -> RulesHandle:
    config = tmp_path / "config"
    shutil.copytree(EXAMPLE, config)
    entry = {"urls": urls, "sender": SENDER, "interval": "30s", "restart_grace": "5m", **api}
    entry.setdefault("auth", {"type": "bearer", "token": {"env": "AM_TOKEN"}})
    sources = {"sources": {"alertmanager": {"api": [entry]}}}
    (config / "sources.yaml").write_text(yaml.safe_dump(sources))
    return RulesHandle(load(config, env={"AM_TOKEN": TOKEN}))


class World:
    """A sync over a memory queue, with the alerts the engine holds set by the test."""

    def __init__(self, rules: RulesHandle, clock: ManualClock) -> None:
        self.queue = MemoryQueue(max_depth=1000, retry_after=1)
        self.held: list[AlertState] | None = []
        self.clock = clock
        self.sync = AlertmanagerSync(
            rules=rules, queue=self.queue, held=lambda: self.held, clock=clock
        )

    async def queued(self) -> list[Any]:
        entries = await self.queue.read("test", count=100, block_ms=1)
        await self.queue.ack([e.id for e in entries])
        return [alert for entry in entries for alert in entry.alerts]


def outcome(name: str) -> float:
    found = REGISTRY.get_sample_value("incidentd_alertmanager_api_syncs_total", {"outcome": name})
    return found or 0.0


NOW = datetime.now(UTC)


async def test_alerts_no_peer_lists_are_queued_as_resolves(tmp_path: Path) -> None:
    first, second = FakeAlertmanagerApi(token=TOKEN), FakeAlertmanagerApi(token=TOKEN)
    async with serve(first) as url1, serve(second) as url2, aiohttp.ClientSession() as http:
        world = World(handle(tmp_path, [url1, url2]), ManualClock(NOW))
        world.held = states("A", "B", "C", received=NOW - timedelta(minutes=1))
        first.active = [{"alertname": "A", "severity": "error"}]
        second.active = [{"alertname": "B", "severity": "error"}]
        assert await world.sync.round(http) == 1
        [resolve] = await world.queued()
        assert resolve.status is Status.RESOLVED
        assert resolve.labels["alertname"] == "C"
        assert resolve.fingerprint == world.held[2].fingerprint
        assert resolve.ends_at == NOW
        for fake in (first, second):
            paths = [r.path for r in fake.received]
            assert paths == ["/api/v2/alerts", "/api/v2/status"]
            assert {r.headers["authorization"] for r in fake.received} == {f"Bearer {TOKEN}"}
            assert fake.received[0].query == {
                "active": "true",
                "silenced": "true",
                "inhibited": "true",
            }
        # the next round comes only after `interval`
        assert await world.sync.round(http) == 0
        assert len(first.received) == 2
        world.clock.advance(30)
        await world.sync.round(http)
        assert len(first.received) == 4


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"code": 500, "message": "internal"}),
        (503, "upstream connect error"),
        (200, "<html><body>Sign in</body></html>"),  # an auth proxy's login page
        (200, [{"labels": {"alertname": 1}}]),  # not gettableAlerts
    ],
)
async def test_nothing_is_closed_in_a_round_where_a_peer_fails(
    tmp_path: Path, status: int, body: Any
) -> None:
    good, bad = FakeAlertmanagerApi(token=TOKEN), FakeAlertmanagerApi(token=TOKEN)
    async with serve(good) as url1, serve(bad) as url2, aiohttp.ClientSession() as http:
        world = World(handle(tmp_path, [url1, url2]), ManualClock(NOW))
        world.held = states("A", received=NOW - timedelta(minutes=1))
        bad.fail_next(1, status, body)
        before = outcome("peer_failed")
        assert await world.sync.round(http) == 0
        assert await world.queued() == []
        assert outcome("peer_failed") == before + 1
        world.clock.advance(30)  # the peer is back: closed at the next round
        assert await world.sync.round(http) == 1
        assert len(await world.queued()) == 1


async def test_a_wrong_credential_or_an_unreachable_peer_closes_nothing(tmp_path: Path) -> None:
    fake = FakeAlertmanagerApi(token="another")  # noqa: S106 - a dummy credential
    async with serve(fake) as url, aiohttp.ClientSession() as http:
        world = World(handle(tmp_path, [url, "http://127.0.0.1:9"]), ManualClock(NOW))
        world.held = states("A", received=NOW - timedelta(minutes=1))
        assert await world.sync.round(http) == 0
        assert await world.queued() == []


async def test_a_slow_peer_is_a_failed_peer_after_the_timeout(tmp_path: Path) -> None:
    fake = FakeAlertmanagerApi(token=TOKEN)
    async with serve(fake) as url, aiohttp.ClientSession() as http:
        world = World(handle(tmp_path, [url], timeout="1s"), ManualClock(NOW))
        world.held = states("A", received=NOW - timedelta(minutes=1))
        fake.delay_next(3)
        before = outcome("peer_failed")
        assert await world.sync.round(http) == 0
        assert outcome("peer_failed") == before + 1


async def test_a_peer_that_restarted_recently_closes_nothing(tmp_path: Path) -> None:
    fake = FakeAlertmanagerApi(token=TOKEN)
    fake.up_since = NOW - timedelta(minutes=2)  # it has lost its alerts until Prometheus resends
    async with serve(fake) as url, aiohttp.ClientSession() as http:
        world = World(handle(tmp_path, [url]), ManualClock(NOW))
        world.held = states("A", received=NOW - timedelta(minutes=1))
        assert await world.sync.round(http) == 0
        assert await world.queued() == []
        world.clock.advance(3 * 60 + 1)  # up for more than restart_grace
        assert await world.sync.round(http) == 1


async def test_a_process_that_does_not_lead_the_engine_asks_nothing(tmp_path: Path) -> None:
    fake = FakeAlertmanagerApi(token=TOKEN)
    async with serve(fake) as url, aiohttp.ClientSession() as http:
        world = World(handle(tmp_path, [url]), ManualClock(NOW))
        world.held = None
        assert await world.sync.round(http) == 0
        assert fake.received == []


async def test_a_reload_that_removes_the_api_stops_the_questions(tmp_path: Path) -> None:
    fake = FakeAlertmanagerApi(token=TOKEN)
    async with serve(fake) as url, aiohttp.ClientSession() as http:
        rules = handle(tmp_path, [url])
        world = World(rules, ManualClock(NOW))
        await world.sync.round(http)
        assert len(fake.received) == 2
        (tmp_path / "config" / "sources.yaml").write_text("sources: {}\n")
        assert await rules.reload()
        world.clock.advance(60)
        await world.sync.round(http)
        assert len(fake.received) == 2
