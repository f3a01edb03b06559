"""Jira and Statuspage without I/O: their targets.yaml schema, the ADF and wiki text, labels
and limits, the public incident's body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest
from pydantic import ValidationError

from incidentd.act import registry
from incidentd.act.config import JiraConfig, StatuspageConfig, TargetsFile
from incidentd.act.target import ActionEvent, Link
from incidentd.act.targets import jira, statuspage
from incidentd.errors import PermanentError
from incidentd.model import Priority
from tests.fakes.incident import request
from tests.fakes.jira import check_adf

JIRA = {
    "type": "jira",
    "base_url": "https://example.atlassian.net",
    "auth": {"type": "basic", "email": "ops@example.com", "api_token": {"env": "JIRA_TOKEN"}},
    "project": "OPS",
}
PAGE = {"type": "statuspage", "api_key": {"env": "STATUSPAGE_KEY"}, "page_id": "kctbh9vrtdwd"}


def secrets(ref: Mapping[str, object]) -> str:
    return f"value-of-{ref['env']}"


def validate(target: dict[str, object]) -> TargetsFile:
    return TargetsFile.model_validate({"targets": {"t": target}}, context={"secrets": secrets})


def test_both_targets_build_from_targets_yaml_with_their_defaults() -> None:
    built = validate(JIRA).targets["t"], validate(PAGE).targets["t"]
    config, page = built
    assert isinstance(config, JiraConfig)
    assert isinstance(page, StatuspageConfig)
    assert config.api == "/rest/api/3"
    assert config.issue_type == "[System] Incident"
    assert config.priority[Priority.P1] == "Highest"
    assert config.transitions == {"resolved": "Resolve"}
    assert page.priorities == (Priority.P1, Priority.P2)
    assert page.base_url == "https://api.statuspage.io"
    assert "value-of-JIRA_TOKEN" not in repr(config)
    for one in (JIRA, PAGE):
        (target,) = registry.build(validate(one)).values()
        assert target.name == "t"


def test_overrides_keep_the_other_defaults() -> None:
    config = validate({**JIRA, "deployment": "datacenter", "priority": {"P1": "Blocker"}})
    page = validate({**PAGE, "impact": {"P2": "critical"}, "messages": {"resolved": "Done."}})
    jira_config, page_config = config.targets["t"], page.targets["t"]
    assert isinstance(jira_config, JiraConfig)
    assert isinstance(page_config, StatuspageConfig)
    assert jira_config.api == "/rest/api/2"
    assert jira_config.priority[Priority.P1] == "Blocker"
    assert jira_config.priority[Priority.P2] == "High"
    assert page_config.impact[Priority.P2] == "critical"
    assert page_config.impact[Priority.P1] == "critical"
    assert page_config.messages["resolved"] == "Done."
    assert page_config.messages["identified"].startswith("The issue has been identified")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({**JIRA, "project": "ops"}, "should match pattern"),
        ({**JIRA, "labels": ["major incident"]}, "should match pattern"),
        ({**JIRA, "fields": {"summary": "x"}}, "summary: set by their own keys"),
        ({**JIRA, "transitions": {"closed": "Close"}}, "acknowledged', 'mitigated'"),
        ({**JIRA, "auth": {"type": "oauth", "token": "x"}}, "does not match any of the expected"),
        ({**JIRA, "deployment": "server"}, "'cloud' or 'datacenter'"),
        ({**PAGE, "page_id": "../x"}, "should match pattern"),
        ({**PAGE, "component_status": {"P1": "down"}}, "degraded_performance"),
        ({**PAGE, "name": "{{ oops"}, "not a valid Jinja2"),
        ({**PAGE, "components": {"checkout": "a b"}}, "should match pattern"),
    ],
)
def test_mistakes_are_rejected_with_a_reason(target: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate(target)


# --- Jira text -------------------------------------------------------------------------------


def test_adf_never_has_an_empty_text_node_and_links_carry_their_href() -> None:
    doc = jira.to_adf([["one", "", "  ", Link("https://x.example", "X")], [], [""]])

    assert check_adf(doc, "description") == []
    (paragraph,) = doc["content"]
    assert [n["type"] for n in paragraph["content"]] == ["text", "hardBreak", "text"]
    assert paragraph["content"][2]["marks"] == [
        {"type": "link", "attrs": {"href": "https://x.example"}}
    ]


def test_wiki_text_for_data_center() -> None:
    text = jira.to_wiki([["a", "b"], [], [Link("https://x.example", "X")]])
    assert text == "a\nb\n\n[X|https://x.example]"


def test_the_label_and_summary_respect_jiras_rules() -> None:
    assert jira.issue_label("INC-1042", "incidentd-") == "incidentd-INC-1042"
    assert jira.issue_label('INC 7"', "p ") == "p-INC-7-"
    assert len(jira.issue_label("I" * 300, "")) == 255
    action = request()
    long = replace(action, incident={**action.incident, "title": "line\n" + "y" * 400})
    text = jira.summary(long.facts)
    assert len(text) == 255
    assert "\n" not in text


def test_the_description_is_valid_adf_holding_the_timeline() -> None:
    config = validate(JIRA).targets["t"]
    assert isinstance(config, JiraConfig)
    fields, last = jira.issue_fields(request(), config)

    assert check_adf(fields["description"], "description") == []
    assert last == 5


# --- Statuspage body -------------------------------------------------------------------------


def test_an_incident_without_mapped_components_is_public_without_components() -> None:
    config = validate(PAGE).targets["t"]
    assert isinstance(config, StatuspageConfig)
    body = statuspage.create_body(request(), config)["incident"]

    assert "components" not in body
    assert "component_ids" not in body
    assert body["impact_override"] == "critical"


def test_an_empty_public_name_is_a_permanent_failure() -> None:
    config = validate({**PAGE, "name": "{{ '' }}"}).targets["t"]
    assert isinstance(config, StatuspageConfig)
    with pytest.raises(PermanentError, match="empty name"):
        statuspage.create_body(request(), config)


def test_a_template_naming_an_unknown_value_fails_instead_of_sending_half_a_text() -> None:
    config = validate({**PAGE, "messages": {"identified": "{{ nope }}"}}).targets["t"]
    assert isinstance(config, StatuspageConfig)
    with pytest.raises(PermanentError, match="nope"):
        statuspage.update_body(request(ActionEvent.ACKNOWLEDGED), config)
