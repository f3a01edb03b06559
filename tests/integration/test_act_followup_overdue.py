"""An overdue follow-up reaches every target kind, against each vendor's fake: chat and webhook
targets post it (the stakeholder message names the follow-up), paging, ticketing, status page,
Datadog and bridges send nothing and say so; none fails on the new event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from incidentd.act.config import WebhookConfig
from incidentd.act.target import ActionEvent, OutcomeKind, Target
from incidentd.act.targets.webhook import WebhookTarget
from tests.fakes.base import FakeVendor, serve
from tests.fakes.datadog import FakeDatadog
from tests.fakes.followup import overdue_requests
from tests.fakes.jira import FakeJira
from tests.fakes.opsgenie import FakeOpsgenie
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.receiver import PATH, FakeReceiver
from tests.fakes.servicenow import FakeServiceNow
from tests.fakes.slack import FakeSlack
from tests.fakes.statuspage import FakeStatuspage
from tests.fakes.teams import FakeTeams
from tests.fakes.zoom import FakeZoom
from tests.integration import (
    test_act_bridge,
    test_act_datadog,
    test_act_itsm,
    test_act_jira,
    test_act_opsgenie,
    test_act_pagerduty,
    test_act_slack,
    test_act_statuspage,
    test_act_teams,
    test_act_webhook,
)

EVENT = ActionEvent.FOLLOWUP_OVERDUE
QUIET: dict[str, Any] = {
    "pagerduty": (lambda: FakePagerDuty(), lambda u: test_act_pagerduty.target(u)),
    "opsgenie": (lambda: FakeOpsgenie(test_act_opsgenie.KEY), test_act_opsgenie.target),
    "datadog": (
        lambda: FakeDatadog(test_act_datadog.API_KEY, test_act_datadog.APP_KEY),
        lambda u: test_act_datadog.target(u),
    ),
    "statuspage": (
        lambda: FakeStatuspage(
            test_act_statuspage.API_KEY, test_act_statuspage.PAGE, test_act_statuspage.COMPONENTS
        ),
        test_act_statuspage.target,
    ),
    "jira": (
        lambda: FakeJira(email=test_act_jira.EMAIL, token=test_act_jira.TOKEN),
        test_act_jira.target,
    ),
    "servicenow": (
        lambda: FakeServiceNow(test_act_itsm.USER, test_act_itsm.PASSWORD),
        lambda u: test_act_itsm.target(u),
    ),
    "zoom": (
        lambda: FakeZoom(test_act_bridge.ACCOUNT, test_act_bridge.CLIENT, test_act_bridge.SECRET),
        lambda u: test_act_bridge.zoom(u),
    ),
}
"""Targets that send nothing for an overdue follow-up: the vendor's fake, the target."""


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.mark.parametrize("kind", sorted(QUIET))
async def test_paging_ticketing_and_public_targets_send_nothing(
    kind: str, session: aiohttp.ClientSession
) -> None:
    make_fake, make_target = QUIET[kind]
    vendor: FakeVendor = make_fake()
    refs = {"kept": "x"}
    async with serve(vendor):
        target: Target = make_target(vendor.url)
        outcome = await target.send(overdue_requests(kind)[0], session, refs)
    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    assert outcome.refs == refs
    assert vendor.received == []
    if kind != "zoom":  # a bridge only ever acts on a declaration
        assert outcome.reason == f"nothing to send for {EVENT}"


async def test_slack_posts_which_follow_up_is_overdue(session: aiohttp.ClientSession) -> None:
    fake = FakeSlack(test_act_slack.TOKEN)
    async with serve(fake):
        slack = test_act_slack.target(f"{fake.url}/api")
        first, second = overdue_requests("slack")
        one = await slack.send(first, session, {})
        two = await slack.send(second, session, one.refs)
    assert (one.kind, two.kind) == (OutcomeKind.SENT, OutcomeKind.SENT), (one, two)
    posted = [m["text"] for m in fake.channels[0].messages]
    assert all(t.startswith("INC-1042 follow-up overdue: ") for t in posted)
    bodies = test_act_slack.texts(fake)
    assert "Follow-up *F1*" in bodies[0]
    assert "Follow-up *F2*" in bodies[1]
    assert "*Owner:* nobody yet" in bodies[1]
    assert fake.violations == []


async def test_teams_posts_a_card(session: aiohttp.ClientSession) -> None:
    fake = FakeTeams(test_act_teams.SIG)
    async with serve(fake):
        outcome = await test_act_teams.target(fake.webhook_url()).send(
            overdue_requests("teams")[0], session, {}
        )
    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    [card] = fake.cards
    assert card["body"][0]["text"].startswith("INC-1042 follow-up overdue: ")
    assert card["body"][0]["color"] == "Warning"
    assert "Alert on replica lag" in str(card)
    assert fake.violations == []


async def test_a_webhook_receives_the_event_and_the_message(
    session: aiohttp.ClientSession,
) -> None:
    fake = FakeReceiver(test_act_webhook.SECRET, test_act_webhook.NOW)
    async with serve(fake):
        config = WebhookConfig.model_validate(
            {
                "type": "webhook",
                "url": fake.url + PATH,
                "secret": test_act_webhook.SECRET,
                "audience": "business",
            }
        )
        hook = WebhookTarget("hook", config, now=lambda: test_act_webhook.NOW)
        outcome = await hook.send(overdue_requests("hook")[1], session, {})
    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    [body] = fake.processed.values()
    assert body["event"] == "followup_overdue"
    assert body["note"].startswith("follow-up F2 overdue")
    assert "**Runbook for orders-db failover**" in body["message"]["body"]
    assert [f["id"] for f in body["incident"]["followups"]] == ["F1", "F2"]
    assert fake.violations == []
