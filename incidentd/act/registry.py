"""Targets built from `targets.yaml`: one explicit line per target type.

No discovery, no import by a name taken from YAML: a type that is not listed here cannot be
configured (the schema in config.py rejects it first).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from incidentd.act.config import (
    BridgeUrlConfig,
    DatadogConfig,
    JiraConfig,
    OpsgenieConfig,
    PagerDutyConfig,
    ServiceNowConfig,
    SlackConfig,
    StatuspageConfig,
    TargetsFile,
    TeamsConfig,
    WebhookConfig,
    ZoomConfig,
)
from incidentd.act.target import Target
from incidentd.act.targets.bridge import UrlBridge, ZoomBridge
from incidentd.act.targets.datadog import DatadogTarget
from incidentd.act.targets.itsm import ServiceNowTarget
from incidentd.act.targets.jira import JiraTarget
from incidentd.act.targets.opsgenie import OpsgenieTarget
from incidentd.act.targets.pagerduty import PagerDutyTarget
from incidentd.act.targets.slack import SlackTarget
from incidentd.act.targets.statuspage import StatuspageTarget
from incidentd.act.targets.teams import TeamsTarget
from incidentd.act.targets.webhook import WebhookTarget

BUILDERS: Mapping[type[Any], Callable[[str, Any], Target]] = {
    PagerDutyConfig: PagerDutyTarget,
    OpsgenieConfig: OpsgenieTarget,
    SlackConfig: SlackTarget,
    ZoomConfig: ZoomBridge,
    BridgeUrlConfig: UrlBridge,
    TeamsConfig: TeamsTarget,
    DatadogConfig: DatadogTarget,
    ServiceNowConfig: ServiceNowTarget,
    JiraConfig: JiraTarget,
    StatuspageConfig: StatuspageTarget,
    WebhookConfig: WebhookTarget,
}


def build(targets: TargetsFile) -> dict[str, Target]:
    """One target per configured name. Targets hold no connection: the caller's
    aiohttp session is passed to every `send`."""
    return {name: BUILDERS[type(config)](name, config) for name, config in targets.targets.items()}
