"""targets.yaml's schema: the example validates, secrets come from references, mistakes name
their key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from incidentd.act import registry
from incidentd.act.config import DatadogConfig, PagerDutyConfig, TargetsFile
from incidentd.model import Priority

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example" / "targets.yaml"


def secrets(ref: Mapping[str, object]) -> str:
    """The loader's resolver, with every variable set to a value of the right shape."""
    name = str(ref["env"])
    return "R" * 32 if name == "PAGERDUTY_ROUTING_KEY" else f"value-of-{name}"


def validate(data: object) -> TargetsFile:
    return TargetsFile.model_validate(data, context={"secrets": secrets})


def test_the_example_uncommented_is_valid_and_builds_every_target() -> None:
    lines = EXAMPLE.read_text().splitlines()
    config = [line[2:] for line in lines if line.startswith("# ")]
    targets = validate(yaml.safe_load("\n".join(config)))

    assert set(targets.targets) == {
        "pagerduty-orders",
        "opsgenie-ops",
        "slack-incidents",
        "zoom-bridge",
        "meet-bridge",
        "teams-stakeholders",
        "datadog-events",
        "servicenow",
        "status-bot",
    }
    built = registry.build(targets)
    assert {name: t.name for name, t in built.items()} == {n: n for n in targets.targets}
    pd = targets.targets["pagerduty-orders"]
    assert isinstance(pd, PagerDutyConfig)
    assert pd.routing_key.get_secret_value() == "R" * 32
    assert "R" * 32 not in repr(pd)


def test_the_example_as_shipped_loads_as_no_targets() -> None:
    assert yaml.safe_load(EXAMPLE.read_text()) is None


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"type": "pagerduty", "routing_key": "short"}, "32 characters"),
        ({"type": "pagerduty", "routing_key": "R" * 32, "timeout": "5m"}, "at most 2m"),
        ({"type": "slack", "token": "x", "base_url": "ftp://x"}, r"not an http\(s\) URL"),
        ({"type": "teams", "webhook_url": "x", "colour": "red"}, "Extra inputs"),
        ({"type": "webhook", "url": "x", "template": "{{ oops"}, "not a valid Jinja2"),
        ({"type": "opsgenie", "api_key": "k", "responders": [{"type": "team"}]}, "exactly one"),
        ({"type": "nagios"}, "does not match any of the expected tags"),
        (
            {"type": "datadog", "api_key": "k", "base_url": "https://u:p@proxy"},
            "not in the URL",
        ),
    ],
)
def test_mistakes_are_rejected_with_a_reason(target: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate({"targets": {"t": target}})


def test_a_bad_target_name_is_rejected() -> None:
    with pytest.raises(ValidationError, match="should match pattern"):
        validate({"targets": {"Pager Duty": {"type": "teams", "webhook_url": "x"}}})


def test_pagerduty_severity_overrides_keep_the_other_priorities() -> None:
    config = validate(
        {
            "targets": {
                "pd": {"type": "pagerduty", "routing_key": "R" * 32, "severity": {"P2": "critical"}}
            }
        }
    ).targets["pd"]
    assert isinstance(config, PagerDutyConfig)
    assert config.severity[Priority.P2] == "critical"
    assert config.severity[Priority.P1] == "critical"
    assert config.severity[Priority.P5] == "info"


def test_datadog_site_gives_the_api_host_unless_a_base_url_is_set() -> None:
    eu = validate({"targets": {"dd": {"type": "datadog", "api_key": "k", "site": "datadoghq.eu"}}})
    proxied = validate(
        {"targets": {"dd": {"type": "datadog", "api_key": "k", "base_url": "http://127.0.0.1:9"}}}
    )
    hosts = [t.targets["dd"] for t in (eu, proxied)]
    assert [c.host for c in hosts if isinstance(c, DatadogConfig)] == [
        "https://api.datadoghq.eu",
        "http://127.0.0.1:9",
    ]
