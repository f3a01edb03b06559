"""`targets.yaml`: the configured action targets, by name.

Each target has a `type` (pagerduty, opsgenie, slack, zoom, bridge_url, teams, datadog,
servicenow, jira, statuspage, webhook), its credentials as secret references (`{env: NAME}` /
`{file: PATH}`, resolved by the loader, never logged), a `base_url` that EU regions and the
tests' fake vendors override, and a `timeout` per request. Strict like every config file: an
unknown key fails with its file and line. Nothing here does I/O.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, JsonValue, SecretStr, field_validator, model_validator
from yarl import URL

from incidentd.act.comms import Audience, MessageTemplates, uses_message
from incidentd.act.render import check_template
from incidentd.model import Priority
from incidentd.rules.schema import Duration, Secret, Strict

_NAME = r"^[a-z0-9][a-z0-9_.\-]{0,99}$"
MAX_TIMEOUT = timedelta(minutes=2)


def _http_url(value: str) -> str:
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{value!r} is not an http(s) URL")
    if url.user or url.password:
        raise ValueError("put credentials in the target's secret keys, not in the URL")
    return value.rstrip("/")


def _timeout(value: timedelta) -> timedelta:
    if not timedelta(0) < value <= MAX_TIMEOUT:
        raise ValueError("a timeout is above 0 and at most 2m")
    return value


def _routing_key(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) != 32:
        raise ValueError("a PagerDuty routing key (integration key) is 32 characters")
    return value


def _template(value: str) -> str:
    check_template(value)
    return value


BaseUrl = Annotated[str, AfterValidator(_http_url)]
Timeout = Annotated[Duration, AfterValidator(_timeout)]
Template = Annotated[str, AfterValidator(_template)]
PdSeverity = Literal["critical", "error", "warning", "info"]

DEFAULT_PD_SEVERITY: dict[Priority, PdSeverity] = {
    Priority.P1: "critical",
    Priority.P2: "error",
    Priority.P3: "warning",
    Priority.P4: "info",
    Priority.P5: "info",
}


class TargetBase(Strict):
    timeout: Timeout = timedelta(seconds=10)
    """Per request; a multi-step flow (Slack) spends it once per step."""

    @property
    def seconds(self) -> float:
        return self.timeout.total_seconds()


class PagerDutyConfig(TargetBase):
    """Events API v2, one service integration (its 32-character integration key)."""

    type: Literal["pagerduty"]
    routing_key: Annotated[Secret, AfterValidator(_routing_key)]
    base_url: BaseUrl = "https://events.pagerduty.com"
    source: str = Field(default="incidentd", min_length=1, max_length=255)
    dedup_prefix: str = Field(default="", max_length=100)
    """Prepended to the incident id in `dedup_key`, when several incidentd installations
    share one PagerDuty service (their INC-1042 are different incidents)."""
    severity: dict[Priority, PdSeverity] = Field(default_factory=lambda: dict(DEFAULT_PD_SEVERITY))
    client_url: BaseUrl | None = None
    """Shown by PagerDuty as the link to incidentd (`client_url`)."""

    @field_validator("severity")
    @classmethod
    def _every_priority(cls, value: dict[Priority, PdSeverity]) -> dict[Priority, PdSeverity]:
        return {**DEFAULT_PD_SEVERITY, **value}


class Responder(Strict):
    """An Opsgenie responder: exactly one of id, name (team, escalation, schedule) or
    username (user)."""

    type: Literal["team", "user", "escalation", "schedule"]
    id: str | None = None
    name: str | None = None
    username: str | None = None

    @model_validator(mode="after")
    def _one_identity(self) -> Responder:
        given = [v for v in (self.id, self.name, self.username) if v]
        if len(given) != 1:
            raise ValueError("a responder has exactly one of id, name or username")
        if self.username and self.type != "user":
            raise ValueError("username identifies a user responder only")
        return self


class OpsgenieConfig(TargetBase):
    """Alert API v2 with an API integration's key (`Authorization: GenieKey ...`)."""

    type: Literal["opsgenie"]
    api_key: Secret
    base_url: BaseUrl = "https://api.opsgenie.com"
    """`https://api.eu.opsgenie.com` for EU accounts."""
    alias_prefix: str = Field(default="", max_length=100)
    responders: tuple[Responder, ...] = ()
    tags: tuple[str, ...] = ()
    confirm_after: Duration = timedelta(seconds=2)
    """How long to wait before asking whether an accepted (202) request was processed."""


class SlackConfig(TargetBase):
    """Web API with a bot token (scopes: channels:manage, channels:read, channels:join,
    chat:write; groups:write and groups:read for private channels)."""

    type: Literal["slack"]
    token: Secret
    base_url: BaseUrl = "https://slack.com/api"
    channel_prefix: str = Field(default="", max_length=20, pattern=r"^[a-z0-9_\-]*$")
    private: bool = False
    invite: tuple[str, ...] = ()
    """Slack user ids invited to every incident channel (beside the request's responders)."""
    lookup_pages: int = Field(default=10, ge=1, le=100)
    """Pages of conversations.list read to find a taken channel name, per attempt."""
    audience: Audience = "responders"
    """Whose message the channel gets: responders, business or executives (comms.py)."""
    templates: MessageTemplates = Field(default_factory=dict)
    """Event -> Jinja2 template replacing the audience's shipped one (checked at load)."""


class ZoomConfig(TargetBase):
    """A Zoom meeting per incident, through a Server-to-Server OAuth app
    (scope meeting:write:meeting or meeting:write:admin)."""

    type: Literal["zoom"]
    account_id: str = Field(min_length=1)
    client_id: Secret
    client_secret: Secret
    token_url: BaseUrl = "https://zoom.us/oauth/token"  # noqa: S105 (a URL, not a password)
    base_url: BaseUrl = "https://api.zoom.us/v2"
    user: str = Field(default="me", min_length=1)
    """Whose meeting: a user id or email (`me` is the app's owner for user-level apps)."""
    meeting_type: Literal[1, 2, 3] = 1
    """1 instant, 2 scheduled, 3 recurring with no fixed time (its link lives longest)."""


class BridgeUrlConfig(Strict):
    """A fixed or templated bridge (Teams, Meet, a standing Zoom room): no API call."""

    type: Literal["bridge_url"]
    url: Template
    """Jinja2, e.g. `https://meet.example.com/{{ incident.id | lower }}`."""


class TeamsConfig(TargetBase):
    """A Workflows (Power Automate) webhook posting an adaptive card to a channel."""

    type: Literal["teams"]
    webhook_url: Secret
    """The workflow's URL carries its signature: it is a credential."""
    audience: Audience = "business"
    """Whose message the card carries: responders, business or executives (comms.py)."""
    templates: MessageTemplates = Field(default_factory=dict)
    """Event -> Jinja2 template replacing the audience's shipped one (checked at load)."""


DdSeverity = Literal["SEV-0", "SEV-1", "SEV-2", "SEV-3", "SEV-4", "SEV-5", "UNKNOWN"]
DEFAULT_DD_SEVERITY: dict[Priority, DdSeverity] = {
    Priority.P1: "SEV-1",
    Priority.P2: "SEV-2",
    Priority.P3: "SEV-3",
    Priority.P4: "SEV-4",
    Priority.P5: "SEV-5",
}


class DatadogIncident(Strict):
    """A Datadog incident per incident (Incidents API v2), off unless `enabled`."""

    enabled: bool = False
    severity: dict[Priority, DdSeverity] = Field(default_factory=lambda: dict(DEFAULT_DD_SEVERITY))
    title_prefix: str = Field(default="", max_length=50)
    """Starts the incident's title (`[prod] INC-1042: ...`), when several incidentd
    installations share one Datadog organisation: a retried create finds its incident by it."""
    commander_user: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )
    """The id (a UUID, not the handle) of the Datadog user made commander of every incident."""
    notification_handles: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    """Notified when the incident is created: `@user@example.com`, `@slack-channel`, ..."""
    test: bool = False
    """Create test incidents (`is_test`), for a trial run."""

    @field_validator("severity")
    @classmethod
    def _every_priority(cls, value: dict[Priority, DdSeverity]) -> dict[Priority, DdSeverity]:
        return {**DEFAULT_DD_SEVERITY, **value}


class DatadogConfig(TargetBase):
    """Events API v1 through datadog-api-client (an API key), and optionally a Datadog incident
    through the Incidents API v2 (an application key too)."""

    type: Literal["datadog"]
    api_key: Secret
    app_key: Secret | None = None
    """An application key (scopes incident_read, incident_write): the incident needs it."""
    incident: DatadogIncident = Field(default_factory=DatadogIncident)
    site: str = Field(default="datadoghq.com", pattern=r"^[a-z0-9.\-]+$")
    """datadoghq.com, us3.datadoghq.com, us5.datadoghq.com, datadoghq.eu, ap1.datadoghq.com,
    ddog-gov.com: the API is at `https://api.<site>`."""
    base_url: BaseUrl | None = None
    """Overrides the site's API URL (a proxy, the tests' fake)."""
    tags: tuple[str, ...] = ()
    source_type_name: str | None = None

    @model_validator(mode="after")
    def _incident_needs_an_app_key(self) -> DatadogConfig:
        if self.incident.enabled and self.app_key is None:
            raise ValueError("incident.enabled needs an app_key (an application key)")
        return self

    @property
    def host(self) -> str:
        return self.base_url or f"https://api.{self.site}"

    def secrets(self) -> tuple[SecretStr, ...]:
        return (self.api_key, *((self.app_key,) if self.app_key is not None else ()))


class ServiceNowBasic(Strict):
    type: Literal["basic"]
    username: str = Field(min_length=1)
    password: Secret

    def secrets(self) -> tuple[SecretStr, ...]:
        return (self.password,)


class ServiceNowBearer(Strict):
    type: Literal["bearer"]
    token: Secret

    def secrets(self) -> tuple[SecretStr, ...]:
        return (self.token,)


class ServiceNowConfig(TargetBase):
    """Table API on one instance: the incident table (or another task table)."""

    type: Literal["servicenow"]
    base_url: BaseUrl
    """`https://<instance>.service-now.com`."""
    auth: Annotated[ServiceNowBasic | ServiceNowBearer, Field(discriminator="type")]
    table: str = Field(default="incident", pattern=r"^[a-z0-9_]+$")
    fields: dict[str, str] = Field(default_factory=dict)
    """Set on creation: assignment_group, category, caller_id, ..."""
    resolve_fields: dict[str, str] = Field(
        default_factory=lambda: {"state": "6", "close_code": "Solution provided"}
    )
    """Set on resolution; `close_code` values differ between instances: check yours."""
    acknowledge_fields: dict[str, str] = Field(default_factory=lambda: {"state": "2"})
    reopen_fields: dict[str, str] = Field(default_factory=lambda: {"state": "2"})
    """Set when a resolved incident reopens (In Progress). A record the instance has already
    closed (state 7) is read-only on most instances: check yours."""


class WebhookConfig(TargetBase):
    """Any HTTP endpoint: a JSON body from a Jinja2 template, signed with HMAC-SHA256."""

    type: Literal["webhook"]
    url: Secret
    """Often carries a token: treated as a credential."""
    secret: Secret | None = None
    """Signs `<timestamp>.<body>`; unset: the request is not signed."""
    template: Template | None = None
    """Renders the JSON body; unset: the whole request (event, incident, links, bridge)."""
    headers: dict[str, Secret] = Field(default_factory=dict)
    audience: Audience | None = None
    """Renders the stakeholder message of this audience as `message` for the template (and
    the default body); unset: no `message`."""
    templates: MessageTemplates = Field(default_factory=dict)
    """Event -> Jinja2 template replacing the audience's shipped message (needs `audience`)."""

    @model_validator(mode="after")
    def _message_needs_an_audience(self) -> WebhookConfig:
        if self.audience is None and (self.templates or uses_message(self.template or "")):
            raise ValueError("`message` and `templates` need an `audience` to render for")
        return self

    def secrets(self) -> tuple[SecretStr, ...]:
        given = (self.url, self.secret, *self.headers.values())
        return tuple(s for s in given if s is not None)


# --- Jira Service Management ------------------------------------------------------------------

DEFAULT_JIRA_PRIORITY: dict[Priority, str] = {
    Priority.P1: "Highest",
    Priority.P2: "High",
    Priority.P3: "Medium",
    Priority.P4: "Low",
    Priority.P5: "Lowest",
}
JiraEvent = Literal["acknowledged", "mitigated", "resolved", "reopened"]
DEFAULT_JIRA_TRANSITIONS: dict[JiraEvent, str] = {"resolved": "Resolve"}
JiraLabel = Annotated[str, Field(pattern=r"^[^\s\"\\]{1,255}$")]
"""Jira labels hold no whitespace (and, here, no quote: they go into JQL)."""
_JIRA_OWN_FIELDS = frozenset(
    {"project", "issuetype", "summary", "description", "priority", "labels"}
)


class JiraBasic(Strict):
    """Jira Cloud: the Atlassian account's email and an API token. Data Center: a username and
    its password."""

    type: Literal["basic"]
    email: str = Field(min_length=1)
    api_token: Secret

    def secrets(self) -> tuple[SecretStr, ...]:
        return (self.api_token,)


class JiraBearer(Strict):
    """Data Center: a personal access token. Cloud: an OAuth 2.0 access token, with `base_url`
    `https://api.atlassian.com/ex/jira/<cloud id>`."""

    type: Literal["bearer"]
    token: Secret

    def secrets(self) -> tuple[SecretStr, ...]:
        return (self.token,)


class JiraConfig(TargetBase):
    """Jira Service Management: an issue per incident in one project (REST API v3 on Cloud, v2
    on Data Center), commented and transitioned as the incident moves."""

    type: Literal["jira"]
    base_url: BaseUrl
    """`https://<site>.atlassian.net`, or the Data Center base URL."""
    deployment: Literal["cloud", "datacenter"] = "cloud"
    """Cloud speaks API v3 (Atlassian Document Format); Data Center API v2 (plain text)."""
    auth: Annotated[JiraBasic | JiraBearer, Field(discriminator="type")]
    project: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,254}$")
    """The project key (`OPS`)."""
    issue_type: str = Field(default="[System] Incident", min_length=1, max_length=255)
    priority: dict[Priority, str] = Field(default_factory=lambda: dict(DEFAULT_JIRA_PRIORITY))
    """Jira priority names per incident priority (the defaults are Jira's five)."""
    labels: tuple[JiraLabel, ...] = ()
    label_prefix: str = Field(default="incidentd-", pattern=r"^[^\s\"\\]{0,100}$")
    """The issue's own label is this plus the incident id (`incidentd-INC-1042`): a retried
    create searches for it before creating again."""
    fields: dict[str, JsonValue] = Field(default_factory=dict)
    """More fields on creation, as the create API takes them (`customfield_10010`, components,
    ...); not the ones set above."""
    transitions: dict[JiraEvent, str] = Field(
        default_factory=lambda: dict(DEFAULT_JIRA_TRANSITIONS)
    )
    """Workflow transition names to run on these events (names differ between workflows)."""
    internal_comments: bool = True
    """JSM: mark comments internal (`sd.public.comment`), so that customers do not get them."""

    @field_validator("priority")
    @classmethod
    def _every_priority(cls, value: dict[Priority, str]) -> dict[Priority, str]:
        return {**DEFAULT_JIRA_PRIORITY, **value}

    @field_validator("fields")
    @classmethod
    def _not_ours(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        taken = sorted(_JIRA_OWN_FIELDS & set(value))
        if taken:
            raise ValueError(f"{', '.join(taken)}: set by their own keys, not in fields")
        return value

    @property
    def api(self) -> str:
        return "/rest/api/3" if self.deployment == "cloud" else "/rest/api/2"


# --- Atlassian Statuspage ----------------------------------------------------------------------

ComponentStatus = Literal["degraded_performance", "partial_outage", "major_outage"]
Impact = Literal["none", "minor", "major", "critical"]
PublicStep = Literal["investigating", "identified", "monitoring", "resolved", "reopened"]

DEFAULT_COMPONENT_STATUS: dict[Priority, ComponentStatus] = {
    Priority.P1: "major_outage",
    Priority.P2: "partial_outage",
    Priority.P3: "degraded_performance",
    Priority.P4: "degraded_performance",
    Priority.P5: "degraded_performance",
}
DEFAULT_IMPACT: dict[Priority, Impact] = {
    Priority.P1: "critical",
    Priority.P2: "major",
    Priority.P3: "minor",
    Priority.P4: "minor",
    Priority.P5: "none",
}
DEFAULT_PUBLIC_MESSAGES: dict[PublicStep, str] = {
    "investigating": "We are investigating degraded service affecting {{ affected }}.",
    "identified": "The issue has been identified and a fix is being implemented.",
    "monitoring": "A fix has been implemented and we are monitoring the results.",
    "resolved": "This incident has been resolved.",
    "reopened": "The issue affecting {{ affected }} has returned. We are investigating.",
}


class StatuspageConfig(TargetBase):
    """Atlassian Statuspage: a public incident on one page for the big incidents, with the
    affected components' status."""

    type: Literal["statuspage"]
    api_key: Secret
    page_id: str = Field(pattern=r"^[A-Za-z0-9]{1,64}$")
    base_url: BaseUrl = "https://api.statuspage.io"
    priorities: tuple[Priority, ...] = (Priority.P1, Priority.P2)
    """Only incidents of these priorities go public (an escalation into them does too)."""
    components: dict[str, Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,64}$")]] = Field(
        default_factory=dict
    )
    """Our service or capability names -> the page's component ids."""
    component_status: dict[Priority, ComponentStatus] = Field(
        default_factory=lambda: dict(DEFAULT_COMPONENT_STATUS)
    )
    impact: dict[Priority, Impact] = Field(default_factory=lambda: dict(DEFAULT_IMPACT))
    """`impact_override` per priority."""
    deliver_notifications: bool = True
    """Statuspage notifies the page's subscribers of each update."""
    public_updates: bool = False
    """Publish a person's status update (the `updated` event's note) as an incident update."""
    name: Template = "Degraded service: {{ affected }}"
    """The public incident's name (Jinja2; `incident`, `affected`); at most 255 characters."""
    messages: dict[PublicStep, Template] = Field(
        default_factory=lambda: dict(DEFAULT_PUBLIC_MESSAGES)
    )
    """The public text of each step (Jinja2; `incident`, `affected`, `note`)."""

    @field_validator("component_status")
    @classmethod
    def _every_status(
        cls, value: dict[Priority, ComponentStatus]
    ) -> dict[Priority, ComponentStatus]:
        return {**DEFAULT_COMPONENT_STATUS, **value}

    @field_validator("impact")
    @classmethod
    def _every_impact(cls, value: dict[Priority, Impact]) -> dict[Priority, Impact]:
        return {**DEFAULT_IMPACT, **value}

    @field_validator("messages")
    @classmethod
    def _every_step(cls, value: dict[PublicStep, str]) -> dict[PublicStep, str]:
        return {**DEFAULT_PUBLIC_MESSAGES, **value}


TargetConfig = Annotated[
    PagerDutyConfig
    | OpsgenieConfig
    | SlackConfig
    | ZoomConfig
    | BridgeUrlConfig
    | TeamsConfig
    | DatadogConfig
    | ServiceNowConfig
    | WebhookConfig
    | JiraConfig
    | StatuspageConfig,
    Field(discriminator="type"),
]


class TargetsFile(Strict):
    """`targets.yaml`."""

    targets: dict[Annotated[str, Field(pattern=_NAME)], TargetConfig] = Field(default_factory=dict)
