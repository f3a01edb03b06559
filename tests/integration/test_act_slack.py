"""Slack target against the fake Web API: channel, invitations and messages as resumable
steps, Slack's `ok: false` errors and its 429s."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from incidentd.act.config import SlackConfig
from incidentd.act.target import ActionEvent, OutcomeKind, Person
from incidentd.act.targets.slack import SlackTarget, mrkdwn
from incidentd.declare.incident import IncidentStatus
from tests.fakes.base import serve
from tests.fakes.incident import request
from tests.fakes.slack import BOT, FakeSlack

TOKEN = "xoxb-000000000000-0000000000000-abcdefabcdefabcdefabcdef"  # noqa: S105 (a fake)
NAME = "inc-1042-checkout-and-browse-degraded-orders-db-failing"
PEOPLE = ("U0COMMANDER", "U0ONCALL1")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    vendor = FakeSlack(TOKEN)
    async with serve(vendor):
        yield vendor


CAROL = Person("carol", slack="U0COMMANDER", email="carol@example.com")


def target(base_url: str, token: str = TOKEN, **more: object) -> SlackTarget:
    config = SlackConfig.model_validate(
        {"type": "slack", "token": token, "base_url": base_url, **more}
    )
    return SlackTarget("slack", config)


def texts(fake: FakeSlack) -> list[str]:
    """Each posted message's section texts, joined."""
    return ["\n".join(b["text"]["text"] for b in m["blocks"]) for m in fake.channels[0].messages]


def calls(fake: FakeSlack, method: str) -> int:
    return len(fake.requests(f"/api/{method}"))


async def test_a_declaration_opens_the_channel_invites_and_posts(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    outcome = await target(f"{fake.url}/api").send(request(responders=PEOPLE), session, {})

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    channel = fake.channel(NAME)
    assert channel is not None
    assert channel.members == {BOT, *PEOPLE}
    assert outcome.refs == {
        "channel": channel.id,
        "channel_name": NAME,
        "invited": ",".join(sorted(PEOPLE)),
        "declaration_ts": channel.messages[0]["ts"],
    }
    posted = channel.messages[0]
    assert posted["text"].startswith("INC-1042 declared: Checkout and browse degraded")
    assert "<https://zoom.us/j/85746065432|join the call>" in posted["blocks"][0]["text"]["text"]
    assert fake.received[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert fake.violations == []


async def test_a_rate_limited_invite_is_retried_without_creating_the_channel_again(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    slack = target(f"{fake.url}/api")
    fake.pass_next(1)
    fake.fail_next(1, 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
    first = await slack.send(request(responders=PEOPLE), session, {})
    second = await slack.send(request(responders=PEOPLE), session, first.refs)

    assert first.kind is OutcomeKind.RETRY
    assert first.retry_after == 7.0
    assert "channel" in first.refs
    assert "invited" not in first.refs
    assert second.kind is OutcomeKind.SENT, second.reason
    assert calls(fake, "conversations.create") == 1
    assert len(fake.channels) == 1
    assert len(fake.channels[0].messages) == 1


async def test_a_taken_name_is_our_channel_and_is_reused(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    """An earlier attempt created the channel and its answer was lost."""
    existing = fake.add_channel(NAME, member=False)
    outcome = await target(f"{fake.url}/api").send(request(responders=PEOPLE), session, {})

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    assert outcome.refs["channel"] == existing.id
    assert len(fake.channels) == 1
    assert BOT in existing.members
    assert len(existing.messages) == 1
    assert calls(fake, "conversations.join") == 1
    assert fake.violations == []


async def test_a_name_taken_by_an_archived_channel_fails_and_says_so(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    fake.add_channel(NAME, archived=True)
    outcome = await target(f"{fake.url}/api").send(request(), session, {})

    assert outcome.kind is OutcomeKind.FAILED
    assert "archived" in outcome.reason
    assert "channel" not in outcome.refs


async def test_a_name_taken_by_a_channel_the_bot_cannot_see_fails_and_says_so(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    hidden = fake.add_channel(NAME, member=False)
    hidden.is_private = True
    outcome = await target(f"{fake.url}/api").send(request(), session, {})

    assert outcome.kind is OutcomeKind.FAILED
    assert outcome.reason == f"Slack: #{NAME} is taken by a channel the app cannot see"


async def test_an_unknown_user_does_not_keep_the_others_out_or_hold_back_the_message(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    slack = target(f"{fake.url}/api")
    people = ("U0NOBODY", "U0COMMANDER")
    outcome = await slack.send(request(responders=people), session, {})
    again = await slack.send(
        request(ActionEvent.UPDATED, responders=people, note="DB failover started"),
        session,
        outcome.refs,
    )

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.reason.endswith("; not invited: U0NOBODY (user_not_found)")
    assert "U0COMMANDER" in fake.channels[0].members
    assert [r.json()["users"] for r in fake.requests("/api/conversations.invite")] == [
        "U0NOBODY,U0COMMANDER",
        "U0NOBODY",
        "U0COMMANDER",
    ]
    assert again.kind is OutcomeKind.SENT
    assert len(fake.channels[0].messages) == 2


async def test_updates_go_to_the_same_channel_and_invite_only_newcomers(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    slack = target(f"{fake.url}/api")
    refs = (await slack.send(request(responders=PEOPLE[:1]), session, {})).refs
    ack = request(ActionEvent.ACKNOWLEDGED, status=IncidentStatus.ACKNOWLEDGED, responders=PEOPLE)
    outcome = await slack.send(ack, session, refs)

    assert outcome.kind is OutcomeKind.SENT
    assert calls(fake, "conversations.create") == 1
    invites = [r.json()["users"] for r in fake.requests("/api/conversations.invite")]
    assert invites == ["U0COMMANDER", "U0ONCALL1"]
    assert [m["text"].split(":")[0] for m in fake.channels[0].messages] == [
        "INC-1042 declared",
        "INC-1042 acknowledged",
    ]


async def test_slack_errors_in_a_200_are_classified(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    slack = target(f"{fake.url}/api")
    fake.fail_next(1, 200, {"ok": False, "error": "internal_error"})
    transient = await slack.send(request(), session, {})
    gone = await slack.send(request(), session, {"channel": "C99999999"})

    assert transient.kind is OutcomeKind.RETRY
    assert "internal_error" in transient.reason
    assert gone.kind is OutcomeKind.FAILED
    assert gone.reason == "Slack chat.postMessage: channel_not_found"


async def test_a_server_error_is_a_retry_and_a_bad_token_a_failure(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    fake.fail_next(1, 503, "upstream connect error")
    unavailable = await target(f"{fake.url}/api").send(request(), session, {})
    wrong = target(f"{fake.url}/api", token="xoxb-wrong")  # noqa: S106 (a fake)
    refused = await wrong.send(request(), session, {})

    assert unavailable.kind is OutcomeKind.RETRY
    assert "HTTP 503" in unavailable.reason
    assert refused.kind is OutcomeKind.FAILED
    assert refused.reason == "Slack conversations.create: invalid_auth"


async def test_people_are_invited_by_their_slack_id_beside_the_configured_users(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    people = (CAROL, Person("erin", email="erin@example.com"), Person("dave", slack="U0ONCALL1"))
    slack = target(f"{fake.url}/api", invite=["U0ONCALL2"])
    outcome = await slack.send(request(people=people, responders=("U0ONCALL1",)), session, {})

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    assert fake.channels[0].members == {BOT, "U0ONCALL2", "U0ONCALL1", "U0COMMANDER"}
    invites = [r.json()["users"] for r in fake.requests("/api/conversations.invite")]
    assert invites == ["U0ONCALL2,U0ONCALL1,U0COMMANDER"]
    assert fake.violations == []


async def test_the_reminder_mentions_the_commander_by_their_slack_id(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    slack = target(f"{fake.url}/api")
    refs = (await slack.send(request(commander="carol", people=(CAROL,)), session, {})).refs
    reminder = request(ActionEvent.REMINDER, commander="carol", people=(CAROL,))
    outcome = await slack.send(reminder, session, refs)

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    posted = fake.channels[0].messages[-1]
    assert posted["mentions"] == ["U0COMMANDER"]
    assert posted["text"] == (
        "INC-1042 status update due: Checkout and browse degraded: orders-db failing <@U0COMMANDER>"
    )
    assert "<@U0COMMANDER>, a status update on this P1 incident is due" in texts(fake)[-1]
    assert fake.violations == []


async def test_a_commander_without_a_slack_id_is_named_not_mentioned(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    people = (Person("carol", email="carol@example.com"),)
    reminder = request(ActionEvent.REMINDER, commander="carol", people=people)
    outcome = await target(f"{fake.url}/api").send(reminder, session, {})

    assert outcome.kind is OutcomeKind.SENT, outcome.reason
    assert fake.channels[0].messages[0]["mentions"] == []
    assert "carol, a status update on this P1 incident is due" in texts(fake)[0]


async def test_reopened_and_sla_breached_are_posted_in_the_channel(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    slack = target(f"{fake.url}/api")
    refs = (await slack.send(request(), session, {})).refs
    for event in (ActionEvent.SLA_BREACHED, ActionEvent.REOPENED):
        outcome = await slack.send(request(event, sla="acknowledge"), session, refs)
        assert outcome.kind is OutcomeKind.SENT, outcome.reason

    assert [m["text"].split(":")[0] for m in fake.channels[0].messages] == [
        "INC-1042 declared",
        "INC-1042 SLA breached",
        "INC-1042 reopened",
    ]
    breach = "The *acknowledge* target (15m) of a P1 incident ran out at 09:21 UTC"
    assert breach in texts(fake)[1]
    assert "The failure is back" in texts(fake)[2]
    assert fake.violations == []


async def test_the_audience_and_an_override_choose_the_message(
    fake: FakeSlack, session: aiohttp.ClientSession
) -> None:
    slack = target(
        f"{fake.url}/api",
        audience="executives",
        templates={
            "resolved": (
                "{{ incident.id }} is over\n"
                "Thanks, {{ commander.name if commander else 'everyone' }}."
            )
        },
    )
    refs = (await slack.send(request(), session, {})).refs
    done = request(ActionEvent.RESOLVED, status=IncidentStatus.RESOLVED, commander="carol")
    await slack.send(done, session, refs)

    declared, resolved = texts(fake)
    assert declared.count("\n") == 1
    assert declared.startswith("*INC-1042 declared: Checkout and browse degraded")
    assert resolved == "*INC-1042 is over*\nThanks, carol."


def test_mrkdwn_escapes_control_characters_and_keeps_only_our_mentions() -> None:
    markdown = (
        "**Bold** & [the bridge](https://meet.example.com/a?b=1&c=2)\n"
        "- R&D <!channel> <@U0COMMANDER> <@U0STRANGER>"
    )
    assert mrkdwn(markdown, mentions=frozenset({"<@U0COMMANDER>"})) == (
        "*Bold* &amp; <https://meet.example.com/a?b=1&amp;c=2|the bridge>\n"
        "• R&amp;D &lt;!channel&gt; <@U0COMMANDER> &lt;@U0STRANGER&gt;"
    )
