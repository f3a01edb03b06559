"""Stakeholder messages: every audience has a message for every event, from a real incident;
executives get two lines, the business the stakes; overrides replace the shipped templates
and are checked when the configuration loads."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from incidentd.act import sample
from incidentd.act.comms import AUDIENCES, Audience, check_message, render_message, stakes
from incidentd.act.config import SlackConfig, TargetsFile, TeamsConfig, WebhookConfig
from incidentd.act.target import ActionEvent, ActionRequest, Person
from incidentd.act.targets.webhook import body_of
from incidentd.declare.incident import IncidentStatus
from incidentd.errors import PermanentError
from tests.fakes.incident import incident_view, request

TITLE = "Checkout and browse degraded: orders-db failing"
STATUS = {
    ActionEvent.ACKNOWLEDGED: IncidentStatus.ACKNOWLEDGED,
    ActionEvent.MITIGATED: IncidentStatus.MITIGATED,
    ActionEvent.RESOLVED: IncidentStatus.RESOLVED,
}
COMMANDER = Person("carol", slack="U0COMMANDER", email="carol@example.com")


def realistic(event: ActionEvent) -> ActionRequest:
    """The example checkout outage, with a commander, moved to the event's status."""
    return request(
        event,
        status=STATUS.get(event),
        commander="carol",
        people=(COMMANDER, Person("dave", slack="U0ONCALL1")),
        sla="acknowledge" if event is ActionEvent.SLA_BREACHED else None,
        note="Failing over orders-db to the replica" if event is ActionEvent.UPDATED else "",
    )


@pytest.mark.parametrize("event", list(ActionEvent))
@pytest.mark.parametrize("audience", AUDIENCES)
def test_every_audience_has_a_message_for_every_event(
    audience: Audience, event: ActionEvent
) -> None:
    message = render_message(audience, realistic(event))

    assert message.title.startswith("INC-1042 ")
    assert message.title.endswith(f": {TITLE}")
    assert message.body
    assert "None" not in message.text
    assert "\n\n\n" not in message.text


@pytest.mark.parametrize("event", list(ActionEvent))
@pytest.mark.parametrize("audience", AUDIENCES)
def test_the_shipped_templates_render_the_full_and_the_bare_sample(
    audience: Audience, event: ActionEvent
) -> None:
    """What an override must pass at load time, the shipped templates pass too."""
    for shown in sample.requests(event):
        assert render_message(audience, shown).title.startswith("INC-1001 ")


@pytest.mark.parametrize("event", list(ActionEvent))
def test_the_executive_message_is_two_lines(event: ActionEvent) -> None:
    message = render_message("executives", realistic(event))

    assert len(message.text.splitlines()) == 2


def test_the_executive_declaration_says_what_is_at_stake_in_a_line() -> None:
    message = render_message("executives", realistic(ActionEvent.DECLARED))

    assert message.text == (
        f"INC-1042 declared: {TITLE}\n"
        "P1 major incident: checkout, browse impaired for customers; at stake a minute: "
        "5,200 revenue, 9,400 users. Commander: carol."
    )


def test_the_business_message_shows_capabilities_customers_and_revenue() -> None:
    body = render_message("business", realistic(ActionEvent.DECLARED)).body

    assert "**Impacted capabilities:** checkout, browse" in body
    assert "**Customers:** affected: customer-facing services are impaired" in body
    assert "about 9,400 users a minute" in body
    assert "**Revenue at stake:** about 5,200 a minute" in body
    assert "impact.criticality" not in body


def test_the_stakes_come_from_the_score_factors() -> None:
    facts = realistic(ActionEvent.DECLARED).facts
    assert stakes(facts) == {
        "users_per_minute": 9400.0,
        "revenue_per_minute": 5200.0,
        "customer_facing": True,
        "customers": "customers use api-gateway, checkout, frontend",
    }


def test_the_responders_get_the_technical_detail() -> None:
    body = render_message("responders", realistic(ActionEvent.DECLARED)).body

    assert "**Commander:** carol" in body
    assert "**Root cause:** orders-db" in body
    assert "**Services:** api-gateway, checkout, frontend, orders-db" in body
    assert "**Why:** P1: impact extensive (96.7/100) x urgency high (65/100)" in body
    assert "- urgency.severity +40: most severe driving alert: critical (PostgresDown)" in body
    assert "**Bridge:** [join the call](https://zoom.us/j/85746065432)" in body
    assert "[Incident in incidentd](https://incidentd.example.com/incidents/INC-1042)" in body


def test_a_status_update_carries_the_note_and_its_author() -> None:
    message = render_message("responders", realistic(ActionEvent.UPDATED))

    assert message.title == f"INC-1042 status update: {TITLE}"
    assert message.body.startswith("Failing over orders-db to the replica\n_alice at 09:30 UTC_\n")


def test_the_reminder_names_the_commander_and_the_last_update() -> None:
    mentioned = render_message(
        "responders", realistic(ActionEvent.REMINDER), mention=lambda p: f"@{p.slack}"
    )
    nobody = render_message("responders", request(ActionEvent.REMINDER))

    assert mentioned.title == f"INC-1042 status update due: {TITLE}"
    assert mentioned.body.startswith("@U0COMMANDER, a status update on this P1 incident is due")
    assert "No update since the declaration at 09:06 UTC." in mentioned.body
    assert "nobody is commander yet" in nobody.body


def test_an_sla_breach_names_the_clock_and_its_target() -> None:
    body = render_message("responders", realistic(ActionEvent.SLA_BREACHED)).body

    assert body.startswith(
        "The **acknowledge** target (15m) of a P1 incident ran out at 09:21 UTC."
    )


def test_resolution_says_how_long_the_impact_lasted() -> None:
    business = render_message("business", realistic(ActionEvent.RESOLVED)).body
    executives = render_message("executives", realistic(ActionEvent.RESOLVED)).text

    assert business.startswith("Resolved at 09:20 UTC; the impact lasted 20m.")
    assert executives.endswith(
        "Resolved at 09:20 UTC after 20m (checkout, browse were impaired); "
        "a post-incident review follows."
    )


def test_an_override_replaces_the_shipped_template_for_its_event_only() -> None:
    overrides = {
        ActionEvent.DECLARED: (
            "{{ incident.id }} is a {{ incident.priority }}\n"
            "Revenue: {{ stakes.revenue_per_minute | number }} EUR a minute\n"
            '{% include "_links.md.j2" %}'
        )
    }
    declared = render_message("business", realistic(ActionEvent.DECLARED), overrides)
    resolved = render_message("business", realistic(ActionEvent.RESOLVED), overrides)

    assert declared.title == "INC-1042 is a P1"
    assert declared.body.startswith("Revenue: 5,200 EUR a minute\n**Bridge:** [join the call]")
    assert resolved.title == f"INC-1042 resolved: {TITLE}"


def test_a_typo_is_an_error_not_an_empty_string() -> None:
    overrides = {ActionEvent.DECLARED: "{{ incident.titel }}"}

    with pytest.raises(PermanentError, match="has no attribute 'titel'"):
        render_message("business", realistic(ActionEvent.DECLARED), overrides)


def test_an_override_is_checked_when_the_configuration_loads() -> None:
    good = "{{ incident.id }}: {{ headline }}\n{{ note }}"
    assert check_message(good) == good
    with pytest.raises(ValueError, match=r"not a valid Jinja2 template: line 2: .*endif"):
        check_message("{{ incident.id }}\n{% if note %}{{ note }}")
    with pytest.raises(ValueError, match=r"line 2: UndefinedError: .*'titel'.*declared message"):
        check_message("{{ incident.id }}\n{{ incident.titel }}")


def test_an_override_that_misuses_a_missing_value_fails_on_the_bare_sample() -> None:
    with pytest.raises(ValueError, match="for the bare sample incident"):
        check_message("{{ incident.id }} led by {{ commander.name }}")


def test_an_override_that_renders_no_title_is_refused() -> None:
    with pytest.raises(ValueError, match="rendered no title"):
        check_message("{% if false %}x{% endif %}")


def test_targets_yaml_validates_audiences_and_templates() -> None:
    targets = TargetsFile.model_validate(
        {
            "targets": {
                "slack": {"type": "slack", "token": "x"},
                "board": {
                    "type": "teams",
                    "webhook_url": "https://example.com/hook",
                    "audience": "executives",
                    "templates": {"resolved": "{{ incident.id }} is over"},
                },
                "bot": {
                    "type": "webhook",
                    "url": "https://example.com/bot",
                    "audience": "business",
                    "template": "{{ message | json }}",
                },
            }
        },
        context={"secrets": lambda ref: "unused"},
    ).targets
    slack, board, bot = targets["slack"], targets["board"], targets["bot"]

    assert isinstance(slack, SlackConfig)
    assert (slack.audience, slack.templates) == ("responders", {})
    assert isinstance(board, TeamsConfig)
    assert board.templates == {ActionEvent.RESOLVED: "{{ incident.id }} is over"}
    assert isinstance(bot, WebhookConfig)
    assert bot.audience == "business"


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ({"type": "teams", "webhook_url": "x", "audience": "board"}, "'responders'"),
        ({"type": "slack", "token": "x", "templates": {"declard": "x"}}, "'declared'"),
        (
            {"type": "slack", "token": "x", "templates": {"declared": "{{ incident.nope }}"}},
            "'nope'",
        ),
        ({"type": "webhook", "url": "x", "template": "{{ message | json }}"}, "need an `audience`"),
        ({"type": "webhook", "url": "x", "templates": {"declared": "x"}}, "need an `audience`"),
    ],
)
def test_targets_yaml_refuses_a_bad_audience_or_template(
    target: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        TargetsFile.model_validate({"targets": {"t": target}}, context={"secrets": str})


def test_a_webhook_template_gets_the_message_of_its_audience() -> None:
    config = WebhookConfig.model_validate(
        {
            "type": "webhook",
            "url": "https://example.com/status",
            "audience": "executives",
            "template": '{"summary": {{ message.title | json }}, '
            '"text": {{ message.body | json }}}',
        },
        context={"secrets": str},
    )
    body = orjson.loads(body_of(realistic(ActionEvent.DECLARED), config.template, config))
    plain = orjson.loads(body_of(realistic(ActionEvent.DECLARED), None))

    assert body == {
        "summary": f"INC-1042 declared: {TITLE}",
        "text": "P1 major incident: checkout, browse impaired for customers; at stake a minute: "
        "5,200 revenue, 9,400 users. Commander: carol.",
    }
    assert "message" not in plain


def test_the_sample_has_the_keys_of_a_real_view() -> None:
    """The samples overrides are tried on must not fall behind incident.view()."""
    real, _ = incident_view(IncidentStatus.ACKNOWLEDGED, commander="carol", sla="acknowledge")
    full, bare = sample.requests(ActionEvent.DECLARED)

    assert set(full.incident) == set(real)
    assert set(bare.incident) == set(real) - {"timeline"}
    assert set(full.incident["score"]) == set(real["score"])
    assert {e["kind"] for e in full.incident["timeline"]} >= {
        "declared",
        "priority_changed",
        "status_changed",
        "note",
        "sla_breached",
    }
