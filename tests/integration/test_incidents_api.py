"""Incidents over HTTP, from a real `incidentd serve` (example config, memory store): a
database outage posted as webhooks is declared, readable with its explained score and its
timeline, and people acknowledge it, note on it and resolve it through the API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.test_daemon_process import Daemon, free_port, wall_clock_example

TOKEN = "change-me-local-dev-token"  # noqa: S105 (config/example/api.yaml's)
OUTAGE = [
    {
        "name": "PostgresDown",
        "severity": "critical",
        "labels": {"job": "postgres", "cluster": "orders", "instance": "orders-db-1:9187"},
    },
    {
        "name": "CheckoutErrors",
        "severity": "critical",
        "labels": {"namespace": "shop", "app": "checkout", "pod": "checkout-7d9f-a"},
    },
]


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    proc = Daemon(wall_clock_example(tmp_path), free_port(), tmp_path / "daemon.log")
    try:
        await proc.wait_ready()
        yield proc
    finally:
        proc.stop()


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    async with http.request(method, url, data=data, headers=headers) as r:
        return r.status, await r.json()


async def _first_incident(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """The incident once the checkout errors escalated it: the database alert alone is
    declared at once as P2, the escalation follows within a second."""
    body: dict[str, Any] = {}
    for _ in range(100):
        status, body = await _call(http, "GET", url + "/api/v1/incidents")
        assert status == 200
        if body["incidents"] and body["incidents"][0]["priority"] == "P1":
            [incident] = body["incidents"]
            return incident  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no P1 incident: {body}")


async def test_an_outage_is_declared_and_people_handle_it_through_the_api(
    daemon: Daemon,
) -> None:
    url = daemon.url
    async with aiohttp.ClientSession() as http:
        for body in OUTAGE:
            status, _ = await _call(http, "POST", url + "/webhooks/generic", body)
            assert status == 202
        listed = await _first_incident(http, url)
        assert listed["id"] == "INC-1000"
        assert listed["priority"] == "P1"
        assert "orders-db" in listed["root_causes"]
        assert listed["score"]["factors"], "the score is explained"

        status, found = await _call(http, "GET", url + "/api/v1/incidents/INC-1000")
        assert status == 200
        assert found["sla"]["declare"]["state"] == "met"
        assert found["sla"]["acknowledge"]["state"] == "running"
        assert found["sla"]["acknowledge"]["target_seconds"] == 300.0
        assert [e["kind"] for e in found["timeline"]][:1] == ["declared"]
        assert {e["details"].get("name") for e in found["timeline"]} >= {
            "PostgresDown",
            "CheckoutErrors",
        }

        incident = url + "/api/v1/incidents/INC-1000"
        status, acked = await _call(
            http, "POST", incident + "/status", {"status": "acknowledged", "by": "alice"}
        )
        assert (status, acked["status"]) == (200, "acknowledged")
        status, _ = await _call(
            http, "POST", incident + "/commander", {"commander": "alice", "by": "bob"}
        )
        assert status == 200
        status, _ = await _call(
            http,
            "POST",
            incident + "/notes",
            {"text": "failing over to the replica", "by": "alice"},
        )
        assert status == 200
        status, done = await _call(
            http, "POST", incident + "/status", {"status": "resolved", "by": "alice", "note": "ok"}
        )
        assert (status, done["status"], done["commander"]) == (200, "resolved", "alice")

        # No token, a wrong one: 401, nothing applied.
        async with http.post(incident + "/notes", json={"text": "anonymous"}) as r:
            assert r.status == 401
            assert "WWW-Authenticate" in r.headers
        wrong = {"Authorization": "Bearer nope"}
        async with http.post(incident + "/notes", json={"text": "x"}, headers=wrong) as r:
            assert (r.status, (await r.json())["reason"]) == (401, "unauthorized")
        # A move the rules forbid, an unknown incident, a wrong body: 409, 404, 422.
        status, body = await _call(
            http, "POST", incident + "/status", {"status": "acknowledged", "by": "alice"}
        )
        assert (status, body["reason"]) == (409, "invalid_transition")
        status, body = await _call(
            http, "POST", url + "/api/v1/incidents/INC-9/notes", {"text": "x", "by": "a"}
        )
        assert (status, body["reason"]) == (404, "unknown_incident")
        status, body = await _call(http, "POST", incident + "/status", {"status": "done"})
        assert status == 422
        assert body["path"].startswith("$.")
        status, body = await _call(http, "GET", url + "/api/v1/incidents/INC-4242")
        assert status == 404

        status, found = await _call(http, "GET", incident)
        assert found["sla"]["acknowledge"]["state"] == "met"
        assert found["sla"]["resolve"]["state"] == "met"
        kinds = [e["kind"] for e in found["timeline"]]
        assert kinds.count("status_changed") == 2
        assert "note" in kinds
        assert "commander_set" in kinds
        assert kinds.count("note") == 1, "the refused notes left no trace"
        [note] = [e for e in found["timeline"] if e["kind"] == "note"]
        assert note["actor"] == {"kind": "person", "name": "alice"}
        assert [e["seq"] for e in found["timeline"]] == list(range(len(kinds)))


async def test_a_person_declares_and_merges_incidents_through_the_api(daemon: Daemon) -> None:
    url = daemon.url
    async with aiohttp.ClientSession() as http:
        declared = {"title": "Customers cannot log in", "priority": "P1", "services": ["auth"]}
        status, made = await _call(http, "POST", url + "/api/v1/incidents", declared)
        assert status == 201, made
        assert (made["id"], made["priority"], made["root_causes"]) == ("INC-1000", "P1", ["auth"])
        other = {"title": "Login page slow", "services": ["auth"], "by": "carol"}
        status, second = await _call(http, "POST", url + "/api/v1/incidents", other)
        assert (status, second["id"], second["priority"]) == (201, "INC-1001", "P2")
        lists = {
            "?priority=P1": ["INC-1000"],
            "?priority=P2,P3": ["INC-1001"],
            "?service=auth&status=declared": ["INC-1001", "INC-1000"],
            "?service=orders-db": [],
            "?capability=login&priority=P1": ["INC-1000"],
        }
        for query, ids in lists.items():
            status, listing = await _call(http, "GET", url + "/api/v1/incidents" + query)
            assert (status, [i["id"] for i in listing["incidents"]]) == (200, ids), query
        status, body = await _call(http, "GET", url + "/api/v1/incidents?status=sleeping")
        assert (status, body["path"]) == (422, "?status")
        status, merged = await _call(
            http, "POST", url + "/api/v1/incidents/INC-1001/merge", {"into": "INC-1000"}
        )
        assert (status, merged["id"]) == (200, "INC-1000")
        status, gone = await _call(http, "GET", url + "/api/v1/incidents/INC-1001")
        assert gone["status"] == "resolved"
        assert [e["kind"] for e in gone["timeline"]][-2:] == ["merged", "status_changed"]
        assert gone["timeline"][-1]["actor"]["name"] == "local-admin", "the token's name"
        for bad in (
            {"title": ""},
            {"title": "x", "services": ["nope"]},
            {"title": "x", "priority": "P9"},
        ):
            status, body = await _call(http, "POST", url + "/api/v1/incidents", bad)
            assert status == 422, (bad, body)


async def test_the_incident_list_pages_with_before(daemon: Daemon) -> None:
    url = daemon.url + "/api/v1/incidents"
    async with aiohttp.ClientSession() as http:
        made = []
        for n in range(3):
            body = {"title": f"by hand {n}", "priority": "P2"}
            status, incident = await _call(http, "POST", url, body)
            assert status == 201
            made.append(incident["number"])
        status, first = await _call(http, "GET", url + "?limit=2")
        assert status == 200
        assert [i["number"] for i in first["incidents"]] == made[::-1][:2]
        assert first["next_before"] == made[1]
        status, rest = await _call(http, "GET", f"{url}?limit=2&before={first['next_before']}")
        assert [i["number"] for i in rest["incidents"]] == [made[0]]
        assert rest["next_before"] is None
        for bad in ("0", "-1", "x", "1e3"):
            status, body = await _call(http, "GET", f"{url}?before={bad}")
            assert (status, body["reason"]) == (422, "wrong_shape")
