"""The whole pipeline with the real Alertmanager: webhook -> queue -> engine -> groups.

Alertmanager posts a database outage and the checkout errors it causes (separate
Alertmanager groups); incidentd's engine, on the example service map, makes them one group
with the database as root-cause candidate, and closes the members when they resolve.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import EXTERNAL_URL, StartAlertmanager, StartIncidentd
from tests.redis_server import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

TOKEN = "e2e-engine-token"  # noqa: S105 - a dummy credential for a private test instance


def rfc3339(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _alerts(now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "labels": {
                "alertname": "PostgresDown",
                "service": "orders-db",
                "severity": "critical",
                "instance": "pg-1",
            },
            "annotations": {"summary": "orders PostgreSQL primary is down"},
            "startsAt": rfc3339(now - timedelta(minutes=1)),
        },
        {
            "labels": {
                "alertname": "CheckoutErrorRate",
                "service": "checkout",
                "severity": "error",
            },
            "annotations": {"summary": "checkout 5xx above 5 %"},
            "startsAt": rfc3339(now - timedelta(minutes=1)),
        },
    ]


async def _groups(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/api/v1/groups") as r:
            listing = await r.json()
        out = []
        for group in listing["groups"]:
            async with http.get(url + f"/api/v1/groups/{group['id']}") as r:
                out.append(await r.json())
        return out


async def _until(url: str, done: Any, within: float = 20.0) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + within
    groups: list[dict[str, Any]] = []
    while asyncio.get_running_loop().time() < deadline:
        groups = await _groups(url)
        if done(groups):
            return groups
        await asyncio.sleep(0.3)
    raise AssertionError(f"not reached within {within}s: {groups}")


async def test_cascade_from_alertmanager_becomes_one_group_rooted_at_the_database(
    redis_url: str,
    redis_prefix: str,
    start_incidentd: StartIncidentd,
    start_alertmanager: StartAlertmanager,
) -> None:
    daemon = await start_incidentd(
        redis_url=redis_url, prefix=redis_prefix, token=TOKEN, engine=True
    )
    am = await start_alertmanager(webhook_url=daemon.webhook_url, credentials=TOKEN)
    now = datetime.now(UTC)
    alerts = _alerts(now)
    await am.post(alerts)

    def both_in_one(groups: list[dict[str, Any]]) -> bool:
        return any(g["firing"] == 2 for g in groups)

    groups = await _until(daemon.url, both_in_one)
    [group] = [g for g in groups if g["firing"] == 2]
    assert group["rule"] == "service-outage"
    assert group["root_causes"] == ["orders-db"]
    assert {"checkout", "orders-db"} <= set(group["services"])
    assert "checkout" in group["capabilities"]
    assert {m["name"] for m in group["members"]} == {"PostgresDown", "CheckoutErrorRate"}
    assert all(m["source"] == "alertmanager" for m in group["members"])

    ended = datetime.now(UTC) - timedelta(seconds=1)
    await am.post([{**a, "endsAt": rfc3339(ended)} for a in alerts])

    def all_resolved(groups: list[dict[str, Any]]) -> bool:
        return any(
            g["id"] == group["id"] and g["firing"] == 0 and len(g["members"]) == 2 for g in groups
        )

    final = await _until(daemon.url, all_resolved)
    [same] = [g for g in final if g["id"] == group["id"]]
    assert {m["status"] for m in same["members"]} == {"resolved"}


async def test_a_resolve_alertmanager_holds_back_is_taken_from_its_api_at_once(
    redis_url: str,
    redis_prefix: str,
    start_incidentd: StartIncidentd,
    start_alertmanager: StartAlertmanager,
) -> None:
    """Alertmanager notifies a resolve only at the group's next group_interval (5 minutes
    here): incidentd, asking its API every second, closes the alert within seconds, while an
    alert that still fires stays firing. Alertmanager sent one notification per group."""
    am_port = free_port()
    daemon = await start_incidentd(
        redis_url=redis_url,
        prefix=redis_prefix,
        token=TOKEN,
        engine=True,
        alertmanager_api={
            "urls": [f"http://127.0.0.1:{am_port}"],
            "sender": EXTERNAL_URL,
            "interval": "1s",
            "restart_grace": "0s",
        },
    )
    am = await start_alertmanager(
        webhook_url=daemon.webhook_url, credentials=TOKEN, group_interval=300, port=am_port
    )
    now = datetime.now(UTC)
    alerts = _alerts(now)
    await am.post(alerts)
    groups = await _until(daemon.url, lambda gs: any(g["firing"] == 2 for g in gs))
    [group] = [g for g in groups if g["firing"] == 2]

    blip = {**alerts[1], "endsAt": rfc3339(datetime.now(UTC) - timedelta(seconds=1))}
    await am.post([blip])

    def blip_closed(gs: list[dict[str, Any]]) -> bool:
        [g] = [g for g in gs if g["id"] == group["id"]]
        return g["firing"] == 1

    final = await _until(daemon.url, blip_closed, within=15.0)
    [same] = [g for g in final if g["id"] == group["id"]]
    status = {m["name"]: m["status"] for m in same["members"]}
    assert status == {"PostgresDown": "firing", "CheckoutErrorRate": "resolved"}
    assert await daemon.metric("incidentd_alertmanager_api_resolved_total") == 1
    # Alertmanager itself has not told anyone yet: one notification per group, the firing one
    sent = await am.metric("alertmanager_notifications_total", integration="webhook")
    assert sent == 2
    await asyncio.sleep(3)  # three more rounds: the alert that fires is never closed
    assert await daemon.metric("incidentd_alertmanager_api_resolved_total") == 1
    assert await daemon.metric("incidentd_alertmanager_api_syncs_total", outcome="ok") >= 3
