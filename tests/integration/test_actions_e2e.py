"""Actions end to end, from a real `incidentd serve` to fake vendors on 127.0.0.1.

An outage posted as webhooks is declared; the outbox opens the bridge (templated URL), pages
PagerDuty and opens the Slack channel, with the bridge link in both; a person acknowledges
and resolves through the API and PagerDuty follows in order. Failures: a vendor that fails
the first attempts is retried (its Retry-After honoured) and pages once; a permanent failure
is dead-lettered, listed, and retried by a person. Every outcome is on the timeline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from incidentd.rules.loader import load
from tests.fakes.base import serve
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.servicenow import FakeServiceNow
from tests.fakes.slack import FakeSlack
from tests.fakes.teams import FakeTeams
from tests.integration.test_daemon_process import EXAMPLE, Daemon, free_port, wall_clock_example
from tests.integration.test_incidents_api import OUTAGE, _call

PD_KEY = "R0UTINGKEY0123456789ABCDEFGHIJKL"
TEAMS_SIG = "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
SN_USER, SN_PASSWORD = "incidentd.integration", "pa55-w0rd-for-the-fake"
SLACK_TOKEN = "xoxb-1-incidentd-test"  # noqa: S105 (the fake's)
ENV = {"PD_KEY": PD_KEY, "SLACK_TOKEN": SLACK_TOKEN, "SN_PASSWORD": SN_PASSWORD}


def write_config(
    tmp: Path,
    pd_url: str,
    slack_url: str,
    *,
    routing_extra: str = "",
    targets_extra: str = "",
    also: str = "",
) -> Path:
    config = wall_clock_example(tmp)
    (config / "targets.yaml").write_text(
        f"""
targets:
  pagerduty-main:
    type: pagerduty
    routing_key: {{env: PD_KEY}}
    base_url: {pd_url}
    timeout: 2s
  slack:
    type: slack
    token: {{env: SLACK_TOKEN}}
    base_url: {slack_url}/api
    timeout: 2s
  bridge:
    type: bridge_url
    url: "https://meet.example.com/{{{{ incident.id | lower }}}}"
{targets_extra}
"""
    )
    (config / "routing.yaml").write_text(
        f"""
routes:
  - name: everything
    targets: [bridge, pagerduty-main, slack{also}]
outbox:
  backoff: {{initial: 0.2, max: 1}}
  claim_for: 3s
{routing_extra}
"""
    )
    return config


async def eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 15) -> None:
    for _ in range(int(seconds * 10)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


@pytest.fixture
async def stakeholders() -> AsyncIterator[tuple[FakeTeams, FakeServiceNow]]:
    teams, itsm = FakeTeams(TEAMS_SIG), FakeServiceNow(SN_USER, SN_PASSWORD)
    async with serve(teams), serve(itsm):
        yield teams, itsm


@pytest.fixture
async def vendors() -> AsyncIterator[tuple[FakePagerDuty, FakeSlack]]:
    people = load(EXAMPLE, env={}).oncall.people.values()
    members = {"U0COMMANDER", "U0ONCALL1", "U0ONCALL2"} | {p.slack for p in people if p.slack}
    pd, slack = FakePagerDuty(), FakeSlack(SLACK_TOKEN, users=members)
    async with serve(pd), serve(slack):
        yield pd, slack


async def _timeline(http: aiohttp.ClientSession, url: str, incident: str) -> list[dict[str, Any]]:
    status, body = await _call(http, "GET", f"{url}/api/v1/incidents/{incident}")
    assert status == 200
    return body["timeline"]  # type: ignore[no-any-return]


def outcomes(timeline: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (e["details"]["target"], e["details"]["action"], e["details"]["outcome"])
        for e in timeline
        if e["kind"] == "action_outcome"
    ]


async def wait_for_outcome(
    http: aiohttp.ClientSession, url: str, wanted: tuple[str, str, str], what: str
) -> list[tuple[str, str, str]]:
    """Wait until INC-1000's timeline holds the outcome `wanted`; its outcomes then."""
    found: list[tuple[str, str, str]] = []

    async def check() -> bool:
        nonlocal found
        found = outcomes(await _timeline(http, url, "INC-1000"))
        return wanted in found

    await eventually(check, what)
    return found


async def test_a_declared_incident_pages_opens_its_channel_and_bridge_and_follows_people(
    tmp_path: Path,
    vendors: tuple[FakePagerDuty, FakeSlack],
    stakeholders: tuple[FakeTeams, FakeServiceNow],
) -> None:
    pd, slack = vendors
    teams, itsm = stakeholders
    config = write_config(
        tmp_path,
        pd.url,
        slack.url,
        targets_extra=f"""
  teams-business:
    type: teams
    webhook_url: "{teams.webhook_url()}"
  servicenow:
    type: servicenow
    base_url: {itsm.url}
    auth: {{type: basic, username: {SN_USER}, password: {{env: SN_PASSWORD}}}}
""",
        also=", teams-business, servicenow",
    )
    daemon = Daemon(config, free_port(), tmp_path / "daemon.log", env=ENV)
    try:
        await daemon.wait_ready()
        url = daemon.url
        async with aiohttp.ClientSession() as http:
            for body in OUTAGE:
                assert (await _call(http, "POST", url + "/webhooks/generic", body))[0] == 202

            async def paged() -> bool:
                posted = slack.requests("/api/chat.postMessage")
                return pd.open_alert("INC-1000") is not None and bool(posted)

            await eventually(paged, "a page and a message in the channel")

            async def escalated() -> bool:
                return len(pd.requests("/v2/enqueue")) >= 2

            await eventually(escalated, "the escalation to P1 re-triggers the same alert")
            triggers = [r.json() for r in pd.requests("/v2/enqueue")]
            assert {t["dedup_key"] for t in triggers} == {"INC-1000"}
            assert triggers[0]["event_action"] == "trigger"
            bridge = "https://meet.example.com/inc-1000"
            assert bridge in {link["href"] for link in triggers[0].get("links", [])}
            assert len(pd.alerts) == 1, "one alert however many triggers (declared, escalated)"
            posts = slack.requests("/api/chat.postMessage")
            assert posts, "the declaration is posted in the channel"
            assert any(bridge in r.body.decode() for r in posts), "with the bridge link"
            # The people on call for the database's owner team (config/example/oncall.yaml)
            # are invited to the channel, by their Slack ids.
            rules = load(config, env=ENV)
            owner = rules.services.services["orders-db"].owner
            on_call = rules.oncall.identities(rules.oncall.names_on_call(owner, datetime.now(UTC)))
            assert on_call, f"config/example/oncall.yaml puts someone on call for {owner}"
            invited = {
                u
                for r in slack.requests("/api/conversations.invite")
                for u in str(r.json().get("users", "")).split(",")
            }
            assert {p.slack for p in on_call if p.slack} <= invited

            incident = url + "/api/v1/incidents/INC-1000"
            status, _ = await _call(
                http, "POST", incident + "/status", {"status": "acknowledged", "by": "alice"}
            )
            assert status == 200
            status, _ = await _call(
                http, "POST", incident + "/status", {"status": "resolved", "by": "alice"}
            )
            assert status == 200

            async def resolved() -> bool:
                return pd.alerts[0].status == "resolved"

            await eventually(resolved, "the PagerDuty alert resolved")

            async def recorded_in_itsm() -> bool:
                return any(r.get("state") == "6" for r in itsm.records.values())

            await eventually(recorded_in_itsm, "the ServiceNow record resolved")
            assert len(itsm.records) == 1, "one ITSM record for the incident"
            assert teams.cards, "the business channel heard of it"
            assert teams.violations == []
            assert itsm.violations == []
            actions = [r.json()["event_action"] for r in pd.requests("/v2/enqueue")]
            assert actions[-2:] == ["acknowledge", "resolve"], actions
            assert pd.violations == []
            assert slack.violations == []

            found = await wait_for_outcome(
                http, url, ("pagerduty-main", "resolved", "sent"), "the outcomes on the timeline"
            )
            assert ("pagerduty-main", "declared", "sent") in found
            assert ("slack", "declared", "sent") in found
            assert ("bridge", "declared", "sent") in found
            timeline = await _timeline(http, url, "INC-1000")
            details = [e["details"] for e in timeline if e["kind"] == "action_outcome"]
            assert any(bridge in str(d.get("detail")) for d in details), "the link on the timeline"
            status, listed = await _call(http, "GET", incident + "/actions")
            assert status == 200
            states = {(a["target"], a["event"]): a["state"] for a in listed["actions"]}
            assert states[("pagerduty-main", "declared")] == "sent"
            assert states[("pagerduty-main", "resolved")] == "sent"
    finally:
        daemon.stop()


async def test_a_vendor_failing_first_is_retried_and_pages_once(
    tmp_path: Path, vendors: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = vendors
    pd.fail_next(1, 500, {"status": "error"})
    pd.fail_next(1, 429, {"status": "throttle"}, headers={"Retry-After": "1"})
    config = write_config(tmp_path, pd.url, slack.url)
    daemon = Daemon(config, free_port(), tmp_path / "daemon.log", env=ENV)
    try:
        await daemon.wait_ready()
        async with aiohttp.ClientSession() as http:
            await _call(http, "POST", daemon.url + "/webhooks/generic", OUTAGE[0])

            async def paged() -> bool:
                return pd.open_alert("INC-1000") is not None

            await eventually(paged, "a page after the failures")
            first = [r.json() for r in pd.requests("/v2/enqueue")][:3]
            assert [r["dedup_key"] for r in first] == ["INC-1000"] * 3, "one key on every retry"
            assert len(pd.alerts) == 1
            assert pd.alerts[0].triggers >= 1

            found = await wait_for_outcome(
                http, daemon.url, ("pagerduty-main", "declared", "sent"), "the send on the timeline"
            )
            assert ("pagerduty-main", "declared", "retry") in found, "the first retry is noted"
    finally:
        daemon.stop()


async def test_a_permanent_failure_is_dead_lettered_and_a_person_retries_it(
    tmp_path: Path, vendors: tuple[FakePagerDuty, FakeSlack]
) -> None:
    pd, slack = vendors
    pd.fail_next(1, 400, {"status": "invalid event", "message": "Event object is invalid"})
    config = write_config(tmp_path, pd.url, slack.url)
    daemon = Daemon(config, free_port(), tmp_path / "daemon.log", env=ENV)
    try:
        await daemon.wait_ready()
        url = daemon.url
        async with aiohttp.ClientSession() as http:
            await _call(http, "POST", url + "/webhooks/generic", OUTAGE[0])
            dead: list[dict[str, Any]] = []

            async def dead_lettered() -> bool:
                nonlocal dead
                status, body = await _call(http, "GET", url + "/api/v1/actions?state=dead")
                assert status == 200
                dead = body["actions"]
                return bool(dead)

            await eventually(dead_lettered, "the dead letter")
            [action] = dead
            assert (action["target"], action["event"]) == ("pagerduty-main", "declared")
            assert "invalid" in action["last_reason"].lower()
            assert pd.open_alert("INC-1000") is None
            logs = [e for e in daemon.logs() if e.get("event") == "action.dead_lettered"]
            assert logs
            assert logs[0]["key"] == action["key"]

            key = action["key"]
            async with http.post(f"{url}/api/v1/actions/{key}/retry") as r:
                assert r.status == 401, "a retry needs a token"
            status, again = await _call(http, "POST", f"{url}/api/v1/actions/{key}/retry", {})
            assert (status, again["state"]) == (200, "pending")
            status, _ = await _call(http, "POST", f"{url}/api/v1/actions/{key}/retry", {})
            assert status in (200, 409)

            async def paged() -> bool:
                return pd.open_alert("INC-1000") is not None

            await eventually(paged, "the page after the retry")
            status, body = await _call(http, "POST", f"{url}/api/v1/actions/nope/retry", {})
            assert (status, body["reason"]) == (404, "not_found")
            status, body = await _call(http, "GET", url + "/api/v1/actions?state=lost")
            assert (status, body["reason"]) == (422, "wrong_shape")

            found = await wait_for_outcome(
                http,
                url,
                ("pagerduty-main", "declared", "sent"),
                "dead, retried and sent on the timeline",
            )
            assert ("pagerduty-main", "declared", "dead") in found
            assert ("pagerduty-main", "declared", "retry_requested") in found
    finally:
        daemon.stop()


# --- with Redis: a crash between the send and its record; two replicas ----------------------


def _redis_env(redis_url: str, prefix: str) -> dict[str, str]:
    return {
        **ENV,
        "INCIDENTD_REDIS_URL": redis_url,
        "INCIDENTD_REDIS_PREFIX": prefix,
        "INCIDENTD_LEASE_TTL": "2",
        "INCIDENTD_RECLAIM_IDLE": "2",
    }


@pytest.mark.redis
@pytest.mark.timeout(120)
async def test_a_daemon_killed_between_the_send_and_its_record_pages_once(
    tmp_path: Path, vendors: tuple[FakePagerDuty, FakeSlack], redis_url: str, redis_prefix: str
) -> None:
    """PagerDuty takes the trigger but the daemon is SIGKILLed before the answer comes back
    (so before the outcome is recorded). The restarted daemon sends it again when the claim
    expires, with the same dedup_key: one alert at PagerDuty, nothing lost."""
    pd, slack = vendors
    pd.delay_next(3.0)  # processed, but answered after the kill
    config = write_config(tmp_path, pd.url, slack.url)
    env = _redis_env(redis_url, redis_prefix)
    first = Daemon(config, free_port(), tmp_path / "first.log", env=env)
    try:
        await first.wait_ready()
        async with aiohttp.ClientSession() as http:
            await _call(http, "POST", first.url + "/webhooks/generic", OUTAGE[0])

            async def asked() -> bool:
                return bool(pd.requests("/v2/enqueue"))

            await eventually(asked, "the first trigger reaching PagerDuty")
            first.proc.send_signal(9)
            first.proc.wait()
    finally:
        first.stop()
    second = Daemon(config, free_port(), tmp_path / "second.log", env=env)
    try:
        await second.wait_ready()
        async with aiohttp.ClientSession() as http:

            async def recorded() -> bool:
                status, body = await _call(
                    http, "GET", second.url + "/api/v1/incidents/INC-1000/actions"
                )
                states = {
                    a["key"]: a["state"]
                    for a in body.get("actions", [])
                    if a["target"] == "pagerduty-main"
                }
                return status == 200 and states.get("INC-1000:declared:0:pagerduty-main") == "sent"

            await eventually(recorded, "the trigger sent again and recorded", seconds=30)
            triggers = [
                r.json()
                for r in pd.requests("/v2/enqueue")
                if r.json()["event_action"] == "trigger"
            ]
            assert len(triggers) >= 2, "sent again after the crash"
            assert {t["dedup_key"] for t in triggers} == {"INC-1000"}
            assert len(pd.alerts) == 1, "PagerDuty deduplicated the second trigger: one page"
    finally:
        second.stop()


@pytest.mark.redis
@pytest.mark.timeout(120)
async def test_two_replicas_on_one_redis_send_each_action_once(
    tmp_path: Path, vendors: tuple[FakePagerDuty, FakeSlack], redis_url: str, redis_prefix: str
) -> None:
    pd, slack = vendors
    config = write_config(tmp_path, pd.url, slack.url)
    env = _redis_env(redis_url, redis_prefix)
    a = Daemon(config, free_port(), tmp_path / "a.log", env=env)
    b = Daemon(config, free_port(), tmp_path / "b.log", env=env)
    try:
        await a.wait_ready()
        await b.wait_ready()
        async with aiohttp.ClientSession() as http:
            for body in OUTAGE:
                assert (await _call(http, "POST", b.url + "/webhooks/generic", body))[0] == 202

            async def settled() -> bool:
                status, body = await _call(
                    http, "GET", a.url + "/api/v1/incidents/INC-1000/actions"
                )
                found = body.get("actions", []) if status == 200 else []
                pages = [x for x in found if x["target"] == "pagerduty-main"]
                return len(pages) >= 2 and all(x["state"] == "sent" for x in found)

            await eventually(settled, "the declaration and escalation sent", seconds=30)
            _status, body = await _call(http, "GET", a.url + "/api/v1/incidents/INC-1000/actions")
            pages = [x for x in body["actions"] if x["target"] == "pagerduty-main"]
            assert len(pd.requests("/v2/enqueue")) == len(pages), "each page sent once"
            assert all(x["attempts"] == 1 for x in body["actions"])
            posted = slack.requests("/api/conversations.create")
            assert len(posted) == 1, "one channel"
            assert len(pd.alerts) == 1
    finally:
        a.stop()
        b.stop()
