"""`targets.yaml`: the configured action targets, by name.

Each target has a `type` (pagerduty, opsgenie, slack, zoom, bridge_url, teams, datadog,
servicenow, webhook), its credentials as secret references (`{env: NAME}` / `{file: PATH}`,
resolved by the loader, never logged), a `base_url` that EU regions and the tests' fake
vendors override, and a `timeout` per request. Strict like every config file: an unknown key
fails with its file and line. Nothing here does I/O.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator
from yarl import URL

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


class DatadogConfig(TargetBase):
    """Events API v1 through datadog-api-client (an API key; no application key needed)."""

    type: Literal["datadog"]
    api_key: Secret
    site: str = Field(default="datadoghq.com", pattern=r"^[a-z0-9.\-]+$")
    """datadoghq.com, us3.datadoghq.com, us5.datadoghq.com, datadoghq.eu, ap1.datadoghq.com,
    ddog-gov.com: the API is at `https://api.<site>`."""
    base_url: BaseUrl | None = None
    """Overrides the site's API URL (a proxy, the tests' fake)."""
    tags: tuple[str, ...] = ()
    source_type_name: str | None = None

    @property
    def host(self) -> str:
        return self.base_url or f"https://api.{self.site}"


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

    def secrets(self) -> tuple[SecretStr, ...]:
        given = (self.url, self.secret, *self.headers.values())
        return tuple(s for s in given if s is not None)


TargetConfig = Annotated[
    PagerDutyConfig
    | OpsgenieConfig
    | SlackConfig
    | ZoomConfig
    | BridgeUrlConfig
    | TeamsConfig
    | DatadogConfig
    | ServiceNowConfig
    | WebhookConfig,
    Field(discriminator="type"),
]


class TargetsFile(Strict):
    """`targets.yaml`."""

    targets: dict[Annotated[str, Field(pattern=_NAME)], TargetConfig] = Field(default_factory=dict)
