"""The post-incident draft, its chart and the follow-ups over HTTP, from a real `incidentd
serve` (example config, memory store): an outage posted as webhooks is declared, people add
follow-ups, the engine records an overdue one, and every wrong request gets a 4xx that says
what is wrong (never a 500)."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from tests.integration.test_daemon_process import Daemon, free_port, wall_clock_example
from tests.integration.test_incidents_api import OUTAGE, TOKEN, _first_incident
from tests.integration.test_incidents_api import daemon as daemon  # the example, running

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    auth: bool = True,
) -> tuple[int, Any]:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(AUTH if auth else {})}
    async with http.request(method, url, data=data, headers=headers) as r:
        assert r.status < 500, await r.text()
        return r.status, await r.json()


async def _outage(http: aiohttp.ClientSession, url: str) -> str:
    for body in OUTAGE:
        async with http.post(url + "/webhooks/generic", json=body) as r:
            assert r.status == 202
    incident = await _first_incident(http, url)
    return f"{url}/api/v1/incidents/{incident['id']}"


async def _timeline_has(http: aiohttp.ClientSession, incident: str, kind: str) -> dict[str, Any]:
    for _ in range(50):
        _, found = await call(http, "GET", incident)
        entries = [e for e in found["timeline"] if e["kind"] == kind]
        if entries:
            return entries[-1]  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {kind} entry")


async def test_the_draft_and_its_chart_from_a_running_daemon(daemon: Daemon) -> None:
    async with aiohttp.ClientSession() as http:
        incident = await _outage(http, daemon.url)
        async with http.get(incident + "/postmortem") as r:
            assert r.status == 200
            assert r.content_type == "text/markdown"
            assert r.charset == "utf-8"
            text = await r.text()
        assert text.startswith("# Post-incident review: INC-1000\n")
        assert "## Detection and response" in text
        assert "| acknowledge | 5m |" in text
        assert "### orders-db (1 alert)" in text
        assert "(/api/v1/incidents/INC-1000/postmortem/chart.png)" in text
        async with http.get(incident + "/postmortem", params={"chart": ""}) as r:
            assert "## Alert volume" not in await r.text()
        async with http.get(incident + "/postmortem", params={"chart": "img/INC-1000.png"}) as r:
            assert "](img/INC-1000.png)" in await r.text()
        async with http.get(incident + "/postmortem/chart.png") as r:
            assert (r.status, r.content_type) == (200, "image/png")
            image = Image.open(io.BytesIO(await r.read()))
        assert (image.format, image.size) == ("PNG", (900, 360))
        # unknown incident, a link that is not one: 404, 422
        for path in ("/postmortem", "/postmortem/chart.png", "/followups"):
            status, body = await call(http, "GET", f"{daemon.url}/api/v1/incidents/INC-9{path}")
            assert (status, body["reason"]) == (404, "not_found")
        status, body = await call(http, "GET", incident + "/postmortem?chart=a%20b")
        assert (status, body["path"]) == (422, "?chart")


async def test_follow_ups_are_added_changed_listed_and_reported_overdue(daemon: Daemon) -> None:
    async with aiohttp.ClientSession() as http:
        incident = await _outage(http, daemon.url)
        status, made = await call(
            http,
            "POST",
            incident + "/followups",
            {"title": "Alert on replica lag", "owner": "bob", "due": "2099-03-10", "by": "alice"},
        )
        assert status == 201
        assert (made["id"], made["status"], made["owner"]) == ("F1", "open", "bob")
        assert made["due"] == "2099-03-11T00:00:00+00:00", "a date: by the end of that day, UTC"
        assert (made["created_by"], made["incident_id"], made["overdue"]) == (
            "alice",
            "INC-1000",
            False,
        )
        past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        status, late = await call(
            http, "POST", incident + "/followups", {"title": "Runbook for failover", "due": past}
        )
        assert (status, late["id"], late["owner"], late["overdue"]) == (201, "F2", None, True)
        # the engine records it overdue (once), which the outbox would route
        entry = await _timeline_has(http, incident, "followup_overdue")
        assert entry["details"]["followup"] == "F2"
        assert entry["actor"]["name"] == "incidentd"

        status, listed = await call(http, "GET", daemon.url + "/api/v1/followups?overdue=true")
        assert [(f["incident_id"], f["id"]) for f in listed["followups"]] == [("INC-1000", "F2")]
        assert listed["followups"][0]["overdue_at"] is not None
        status, listed = await call(http, "GET", daemon.url + "/api/v1/followups?status=open")
        assert [f["id"] for f in listed["followups"]] == ["F2", "F1"], "overdue first"

        status, done = await call(
            http, "PATCH", incident + "/followups/F2", {"status": "done", "note": "written"}
        )
        assert (status, done["status"], done["overdue"]) == (200, "done", False)
        assert done["closed_at"] is not None
        status, unowned = await call(http, "PATCH", incident + "/followups/F1", {"owner": None})
        assert (status, unowned["owner"], unowned["title"]) == (200, None, "Alert on replica lag")
        status, listed = await call(
            http, "GET", daemon.url + "/api/v1/followups?status=open&overdue=false"
        )
        assert [f["id"] for f in listed["followups"]] == ["F1"]
        status, mine = await call(http, "GET", incident + "/followups")
        assert [(f["id"], f["status"]) for f in mine["followups"]] == [
            ("F1", "open"),
            ("F2", "done"),
        ]

        _, found = await call(http, "GET", incident)
        kinds = [e["kind"] for e in found["timeline"]]
        assert kinds.count("followup_added") == 2
        assert kinds.count("followup_changed") == 2
        assert kinds.count("followup_overdue") == 1
        async with http.get(incident + "/postmortem") as r:
            text = await r.text()
        assert "| F1 | Alert on replica lag | nobody yet | 2099-03-11 00:00:00 | open |" in text
        assert "| F2 | Runbook for failover |" in text


NEW_FOLLOWUP_MISTAKES = [
    (b"{not json", "$"),
    (b'{"title": ""}', "$.title"),
    (b'{"title": 5}', "$.title"),
    (json.dumps({"title": "x" * 201}).encode(), "$.title"),
    (b'{"title": "x", "severity": "high"}', "$.severity"),
    (b'{"title": "x", "due": "tomorrow"}', "$.due"),
    (b'{"title": "x", "due": "2026-03-10T10:00:00"}', "$.due"),
    (b'{"title": "x", "due": "9999-12-31"}', "$.due"),
    (b'{"title": "x", "due": 1741600000}', "$.due"),
    (b'{"title": "x", "owner": ""}', "$.owner"),
    (b"[]", "$"),
]
"""Bodies of POST .../followups that can never succeed, and the JSON path the 422 names."""


async def test_a_wrong_new_follow_up_is_a_422_naming_the_field(daemon: Daemon) -> None:
    async with aiohttp.ClientSession() as http:
        incident = await _outage(http, daemon.url)
        for body, path in NEW_FOLLOWUP_MISTAKES:
            status, answer = await call(http, "POST", incident + "/followups", raw=body)
            assert (status, answer["reason"], answer["path"]) == (422, "wrong_shape", path), body


async def test_wrong_changes_and_queries_say_what_is_wrong(daemon: Daemon) -> None:
    async with aiohttp.ClientSession() as http:
        incident = await _outage(http, daemon.url)
        status, _ = await call(http, "POST", incident + "/followups", {"title": "t"})
        assert status == 201
        cases: list[tuple[str, str, Any, int, str]] = [
            ("PATCH", "/followups/F1", {}, 422, "wrong_shape"),
            ("PATCH", "/followups/F1", {"status": "finished"}, 422, "wrong_shape"),
            ("PATCH", "/followups/F1", {"status": None}, 422, "wrong_shape"),
            ("PATCH", "/followups/F1", {"title": None}, 422, "wrong_shape"),
            ("PATCH", "/followups/F9", {"status": "done"}, 404, "unknown_followup"),
            ("PATCH", "/followups/bogus", {"status": "done"}, 404, "not_found"),
        ]
        for method, path, body, code, reason in cases:
            status, answer = await call(http, method, incident + path, body)
            assert (status, answer["reason"]) == (code, reason), (path, body, answer)
        unknown = f"{daemon.url}/api/v1/incidents/INC-4242/followups"
        status, answer = await call(http, "POST", unknown, {"title": "t"})
        assert (status, answer["reason"]) == (404, "unknown_incident")
        huge = json.dumps({"title": "t", "note": "x" * 70_000}).encode()
        status, answer = await call(http, "POST", incident + "/followups", raw=huge)
        assert status == 413
        status, answer = await call(
            http, "POST", incident + "/followups", {"title": "t"}, auth=False
        )
        assert status == 401
        for query, where in (
            ("overdue=maybe", "?overdue"),
            ("status=late", "?status"),
            ("limit=0", "?limit"),
        ):
            status, answer = await call(http, "GET", f"{daemon.url}/api/v1/followups?{query}")
            assert (status, answer["path"]) == (422, where)


async def test_a_follow_up_on_an_incident_the_engine_forgot(tmp_path: Path) -> None:
    """Reviews come days after the resolution: the engine has forgotten the incident (its
    retention and cool-down passed), and the follow-up still lands on it."""
    config = wall_clock_example(tmp_path)
    policy = config / "declaration.yaml"
    policy.write_text(policy.read_text().replace("cool_down: 30m", "cool_down: 1s"))
    proc = Daemon(config, free_port(), tmp_path / "d.log", env={"INCIDENTD_RETENTION": "1"})
    try:
        await proc.wait_ready()
        async with aiohttp.ClientSession() as http:
            url = proc.url + "/api/v1/incidents"
            status, made = await call(
                http, "POST", url, {"title": "Orders database down", "services": ["orders-db"]}
            )
            assert status == 201
            incident = f"{url}/{made['id']}"
            status, _ = await call(http, "POST", incident + "/status", {"status": "resolved"})
            assert status == 200
            await asyncio.sleep(2.5)  # retention (1 s) passed, the engine forgot it
            status, answer = await call(http, "POST", incident + "/notes", {"text": "late"})
            assert (status, answer["reason"]) == (404, "unknown_incident"), "forgotten indeed"
            status, late = await call(http, "POST", incident + "/followups", {"title": "Runbook"})
            assert (status, late["id"], late["incident_status"]) == (201, "F1", "resolved")
            _, found = await call(http, "GET", incident)
            assert found["timeline"][-1]["kind"] == "followup_added"
            assert [e["seq"] for e in found["timeline"]] == list(range(len(found["timeline"])))
    finally:
        proc.stop()
