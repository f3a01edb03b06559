"""Several daemons on one real Redis: one runs the engine, all ingest; a killed leader loses
nothing and counts nothing twice; the groups are those one process (replay) makes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis

from incidentd.declare.declarer import ASSESS_EVERY
from incidentd.replay import replay
from incidentd.rules.loader import load
from tests.integration.test_daemon_process import free_port

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

CONFIG = Path(__file__).resolve().parents[1] / "scenarios" / "config"
JSON = {"Content-Type": "application/json"}
SETTLE = 2 * ASSESS_EVERY + timedelta(seconds=1)
"""How long after the last alert its group's last assessment may run (see `_replayed`)."""


class Replica:
    def __init__(self, n: int, work: Path, redis_url: str, prefix: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.record = work / f"record-{n}.jsonl"
        self.log = work / f"replica-{n}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTD_")}
        env |= {
            "INCIDENTD_REDIS_URL": redis_url,
            "INCIDENTD_REDIS_PREFIX": prefix,
            "INCIDENTD_LEASE_TTL": "2",
            "INCIDENTD_RECLAIM_IDLE": "2",
            "INCIDENTD_RECORD_PATH": str(self.record),
            "INCIDENTD_LOG_FORMAT": "json",
        }
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "incidentd",
                    "serve",
                    "--config",
                    str(CONFIG),
                    "--port",
                    str(self.port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def leading(self) -> bool:
        lines = self.log.read_bytes().splitlines()
        events = [json.loads(line)["event"] for line in lines if line.startswith(b"{")]
        return "engine.leading" in events and "engine.state_dropped" not in events

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def replicas(tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[list[Replica]]:
    started = [Replica(n, tmp_path, redis_url, redis_prefix) for n in range(3)]
    try:
        yield started
    finally:
        for replica in started:
            replica.stop(signal.SIGKILL)


async def _ready(replicas: list[Replica]) -> None:
    async with aiohttp.ClientSession() as http:
        for replica in replicas:
            for _ in range(100):
                try:
                    async with http.get(replica.url + "/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(replica.log.read_text())


def _storm(n: int) -> list[dict[str, Any]]:
    """Alerts across the map: a cascade, noise, repeats and resolves (generic source)."""
    bodies: list[dict[str, Any]] = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            labels = {"job": "postgres", "i": str(i % 7)}
            bodies.append({"name": "PostgresDown", "severity": "critical", "labels": labels})
        elif kind == 1:
            labels = {"app": "orders-api", "pod": str(i % 9)}
            bodies.append({"name": "PoolExhausted", "labels": labels})
        elif kind == 2:
            labels = {"shard": str(i % 4)}
            bodies.append({"name": "SearchSlow", "service": "search", "labels": labels})
        elif kind == 3:
            bodies.append({"name": "Unmapped", "labels": {"n": str(i % 11)}})
        else:
            bodies.append(
                {
                    "name": "SearchSlow",
                    "service": "search",
                    "status": "resolved",
                    "labels": {"shard": str(i % 4)},
                }
            )
    return bodies


async def _post_all(replicas: list[Replica], bodies: list[dict[str, Any]]) -> None:
    async with aiohttp.ClientSession() as http:
        for i, body in enumerate(bodies):
            target = replicas[i % len(replicas)]
            if target.proc.poll() is not None:
                target = next(r for r in replicas if r.proc.poll() is None)
            async with http.post(target.url + "/webhooks/generic", json=body) as r:
                assert r.status == 202, await r.text()


def _drained(redis_url: str, prefix: str) -> bool:
    client = redis.Redis.from_url(redis_url)
    try:
        return client.xlen("{" + prefix + "}:alerts") == 0
    finally:
        client.close()


async def _wait_drained(redis_url: str, prefix: str) -> None:
    for _ in range(300):
        if _drained(redis_url, prefix):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the queue was not drained")


async def _live_groups(url: str) -> set[frozenset[str]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/api/v1/groups?limit=1000") as r:
            listing = await r.json()
        out = set()
        for group in listing["groups"]:
            async with http.get(url + f"/api/v1/groups/{group['id']}") as r:
                detail = await r.json()
            out.add(frozenset(m["fingerprint"] for m in detail["members"]))
        return out


Incidents = set[tuple[str, str, frozenset[str]]]


def _replayed(replicas: list[Replica]) -> tuple[set[frozenset[str]], dict[str, int], Incidents]:
    lines = []
    for replica in replicas:
        if replica.record.exists():
            lines.extend(replica.record.read_bytes().splitlines())
    lines.sort(key=lambda line: orjson.loads(line)["received_at"])
    # The live engine runs its timers up to now; replay runs them past the last alert by
    # what the last assessment may wait: a group held by an incident is assessed at the next
    # whole 5 s of event time, once an instant (a second change at that instant waits 5 s
    # more), so at most 10 s after the last alert.
    engine, _ = replay(lines, load(CONFIG, env={}), settle=SETTLE)
    groups = {frozenset(g.members) for g in engine.state.groups.values()}
    counts = {f: a.count for f, a in engine.state.alerts.items()}
    incidents = {
        (i.id, i.priority.value, frozenset(i.alerts))
        for i in engine.state.declare.incidents.values()
    }
    return groups, counts, incidents


async def _live_incidents(url: str) -> Incidents:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url + "/api/v1/incidents?limit=1000") as r,
    ):
        listing = await r.json()
    return {(i["id"], i["priority"], frozenset(i["alerts"])) for i in listing["incidents"]}


async def _live_counts(redis_url: str, prefix: str) -> dict[str, int]:
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.hgetall("{" + prefix + "}:state:alerts")
    finally:
        client.close()
    return {k.decode(): orjson.loads(v)["count"] for k, v in raw.items()}


async def _settled_incidents(url: str, expected: Incidents) -> Incidents:
    """The live incidents once the last assessments ran (up to SETTLE after the last alert,
    see `_replayed`): polled for SETTLE and two seconds more."""
    live: Incidents = set()
    for _ in range(int(SETTLE.total_seconds() + 2) * 10):
        live = await _live_incidents(url)
        if live == expected:
            break
        await asyncio.sleep(0.1)
    return live


async def test_three_replicas_make_the_groups_one_process_makes(
    replicas: list[Replica], redis_url: str, redis_prefix: str
) -> None:
    await _ready(replicas)
    assert sum(r.leading() for r in replicas) == 1, "exactly one replica runs the engine"
    await _post_all(replicas, _storm(300))
    await _wait_drained(redis_url, redis_prefix)
    await asyncio.sleep(0.5)
    live = await _live_groups(replicas[0].url)
    expected, counts, incidents = _replayed(replicas)
    assert live == expected
    assert await _live_counts(redis_url, redis_prefix) == counts
    assert incidents, "the storm declares the database outage"
    assert await _settled_incidents(replicas[1].url, incidents) == incidents

    # A person acknowledges through a replica that does not run the engine.
    [follower, *_] = [r for r in replicas if not r.leading()]
    [incident_id, *_] = sorted(i for i, _, _ in incidents)
    async with aiohttp.ClientSession() as http:
        target = f"{follower.url}/api/v1/incidents/{incident_id}/status"
        body = {"status": "acknowledged", "by": "alice"}
        auth = {"Authorization": "Bearer scenario-write-token"}  # tests/scenarios/config
        async with http.post(target, json=body, headers=auth) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["status"] == "acknowledged"
        async with http.get(f"{replicas[0].url}/api/v1/incidents/{incident_id}") as r:
            timeline = (await r.json())["timeline"]
    acks = [e for e in timeline if e["kind"] == "status_changed"]
    assert [(e["details"]["to"], e["actor"]["name"]) for e in acks] == [("acknowledged", "alice")]


async def test_killed_leader_loses_nothing_and_counts_nothing_twice(
    replicas: list[Replica], redis_url: str, redis_prefix: str
) -> None:
    await _ready(replicas)
    [leader] = [r for r in replicas if r.leading()]
    survivors = [r for r in replicas if r is not leader]
    storm = _storm(600)
    posting = asyncio.create_task(_post_all(survivors, storm))
    await asyncio.sleep(0.4)  # the leader is in the middle of the storm
    leader.stop(signal.SIGKILL)
    await posting
    await _wait_drained(redis_url, redis_prefix)
    # The queue may drain before the takeover (the leader had committed the whole storm when
    # it died): a survivor takes the lease once it expires (INCIDENTD_LEASE_TTL, 2 s here).
    for _ in range(100):
        if sum(r.leading() for r in survivors) == 1:
            break
        await asyncio.sleep(0.1)
    assert sum(r.leading() for r in survivors) == 1, "another replica took over"
    live = await _live_groups(survivors[0].url)
    expected, counts, incidents = _replayed(replicas)
    assert live == expected
    assert await _live_counts(redis_url, redis_prefix) == counts
    live_incidents = await _settled_incidents(survivors[0].url, incidents)
    assert live_incidents == incidents, "each declared exactly once"
