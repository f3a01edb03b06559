"""Pydantic models of the configuration files. Strict: unknown keys fail, models are frozen.

`sources.yaml` says which webhook sources are accepted, how each sender authenticates, body
limits and auto-resolve times. Secrets are written as `{env: NAME}` or `{file: PATH}` (or,
discouraged, inline) and resolved by the loader into `SecretStr`, never logged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from incidentd.correlate import matchers

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> object:
    """`"90s"`, `"15m"`, `"4h"`, `"1d"`, or a number of seconds -> timedelta."""
    if isinstance(value, bool):
        raise ValueError(  # noqa: TRY004 (pydantic reports ValueError as a validation error)
            "a duration is a number of seconds or a string like 90s, 15m, 4h"
        )
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration like 90s, 15m, 4h or 1d")
        return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class SecretResolver(Protocol):
    """Turns `{env: NAME}` / `{file: PATH}` into the secret's text (the loader does the I/O)."""

    def __call__(self, ref: Mapping[str, object]) -> str: ...


def _resolve_secret(value: object, info: ValidationInfo) -> object:
    if isinstance(value, Mapping):
        resolver = (info.context or {}).get("secrets")
        if resolver is None:
            raise ValueError("secret references ({env: ...} / {file: ...}) need the loader")
        return resolver(value)
    return value


def _one_or_many(value: object) -> object:
    return value if isinstance(value, list | tuple) else [value]


def _not_empty(value: SecretStr) -> SecretStr:
    if not value.get_secret_value():
        raise ValueError("a secret cannot be empty")
    return value


Secret = Annotated[SecretStr, BeforeValidator(_resolve_secret), AfterValidator(_not_empty)]
Secrets = Annotated[tuple[Secret, ...], BeforeValidator(_one_or_many), Field(min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoAuth(Strict):
    type: Literal["none"]


class BearerAuth(Strict):
    """`Authorization: <scheme> <token>`; Alertmanager's `authorization.type` sets the scheme."""

    type: Literal["bearer"]
    scheme: str = "Bearer"
    token: Secrets


class BasicAuth(Strict):
    type: Literal["basic"]
    username: str = Field(min_length=1)
    password: Secrets


class UrlTokenAuth(Strict):
    """A token in the query string, for senders that cannot set headers (Splunk)."""

    type: Literal["url_token"]
    param: str = "token"
    token: Secrets


Auth = Annotated[NoAuth | BearerAuth | BasicAuth | UrlTokenAuth, Field(discriminator="type")]


class HmacCheck(Strict):
    """Grafana's optional signature: hex HMAC-SHA256 of the body, or of `"<ts>:<body>"`."""

    secret: Secret
    header: str | None = None
    """Where the signature is; unset: `X-Grafana-Alert-Signature` (Grafana's code default)
    or `X-Grafana-Alerting-Signature` (the name its docs and most guides use)."""
    timestamp_header: str | None = None
    max_skew: Duration = timedelta(minutes=5)

    def headers(self) -> tuple[str, ...]:
        if self.header is not None:
            return (self.header,)
        return ("x-grafana-alert-signature", "x-grafana-alerting-signature")

    @field_validator("header", "timestamp_header")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return None if value is None else value.lower()


class SourceConfig(Strict):
    enabled: bool = True
    auth: Auth = NoAuth(type="none")
    hmac: HmacCheck | None = None
    max_body_bytes: int | None = Field(default=None, gt=0, le=64 * 1024 * 1024)
    auto_resolve_after: Duration | None = None
    """Overrides the source's default time to live for alerts its sender never resolves."""
    sender: str | None = Field(default=None, min_length=1, max_length=200)

    def ttl(self, default: timedelta | None) -> timedelta | None:
        """The auto-resolve time: the configured one (`null` or `0` switch it off), else
        the source's default."""
        if "auto_resolve_after" not in self.model_fields_set:
            return default
        return self.auto_resolve_after or None

    """A stable name for the sending system, used in fingerprints instead of what the body
    says (Alertmanager's externalURL); `?sender=` in the webhook URL overrides it."""


_DEFAULT_SOURCE = SourceConfig()

SOURCE_NAMES = ("alertmanager", "grafana", "datadog", "splunk", "generic")


class SourcesFile(Strict):
    """`sources.yaml`."""

    max_body_bytes: int = Field(default=1024 * 1024, gt=0, le=64 * 1024 * 1024)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)

    @field_validator("sources", mode="before")
    @classmethod
    def _known_sources(cls, value: object) -> object:
        for name in value if isinstance(value, dict) else ():
            if name not in SOURCE_NAMES:
                raise ValueError(f"unknown source {name!r}; known: {', '.join(SOURCE_NAMES)}")
        return value

    def source(self, name: str) -> SourceConfig:
        return self.sources.get(name, _DEFAULT_SOURCE)

    def body_limit(self, name: str) -> int:
        return self.source(name).max_body_bytes or self.max_body_bytes


# --- matchers, shared by services.yaml, rules.yaml and silences.yaml -------------------------


def _parse_matcher(value: object) -> object:
    if isinstance(value, str):
        return matchers.parse(value)
    return value


MatcherField = Annotated[matchers.Matcher, BeforeValidator(_parse_matcher)]


def _matcher_set(value: object) -> object:
    """A selector is one matcher string or a list of them (all must match)."""
    return [value] if isinstance(value, str) else value


MatcherSet = Annotated[tuple[MatcherField, ...], BeforeValidator(_matcher_set)]


# --- services.yaml: the service-impact map ---------------------------------------------------

Criticality = Literal["critical", "high", "medium", "low"]
_NAME = r"^[a-z0-9][a-z0-9_.\-]{0,99}$"


class Capability(Strict):
    """A business capability (checkout, search, login) and what is at stake when it fails."""

    description: str = ""
    users_per_minute: float = Field(default=0, ge=0)
    revenue_per_minute: float = Field(default=0, ge=0)


class Service(Strict):
    owner: str = Field(min_length=1)
    """The team that owns the service (routing and paging use it)."""
    description: str = ""
    criticality: Criticality = "medium"
    customer_facing: bool = False
    capabilities: tuple[str, ...] = ()
    users_per_minute: float = Field(default=0, ge=0)
    revenue_per_minute: float = Field(default=0, ge=0)
    depends_on: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    """Other names senders use for it in their `service` field (matched case-insensitively)."""
    match: tuple[MatcherSet, ...] = ()
    """Selectors: an alert belongs to the service when every matcher of one selector matches.
    An alert whose own `service` is the service's name or an alias always belongs to it."""


class ServicesFile(Strict):
    """`services.yaml`."""

    capabilities: dict[str, Capability] = Field(default_factory=dict)
    services: dict[Annotated[str, Field(pattern=_NAME)], Service] = Field(default_factory=dict)


# --- rules.yaml: correlation -----------------------------------------------------------------


class Flapping(Strict):
    """An alert that changes state more than `changes` times within `window` is flapping,
    until it has been stable for `stable_for`."""

    changes: int = Field(default=4, ge=1, le=50)
    window: Duration = timedelta(minutes=30)
    stable_for: Duration = timedelta(minutes=30)


class RuleDefaults(Strict):
    window: Duration = timedelta(minutes=10)
    """A group takes new alerts while its last alert is at most this old (sliding)."""
    max_age: Duration = timedelta(hours=6)
    """A group older than this takes no new alerts: they open a new group."""
    quiet_period: Duration = timedelta(minutes=5)
    """A group resolves when every member has resolved and this long has passed quietly."""
    alert_ttl: Duration | None = None
    """Alerts of these rules expire this long after their last report, when their sender
    gave them no time to live (sender that never resolves); None: never."""
    flapping: Flapping = Flapping()
    topology_hops: int = Field(default=3, ge=1, le=10)


GROUP_BY_FIELDS = frozenset({"service", "name", "source", "severity"})


class CorrelationRule(Strict):
    name: str = Field(pattern=_NAME)
    description: str = ""
    match: tuple[MatcherField, ...] = ()
    """Which alerts the rule takes: every matcher must match. Empty: every alert."""
    group_by: tuple[str, ...] = ("service",)
    """Fields (service, name, source, severity) or labels whose values key the group."""
    topology: bool = False
    """Alerts on services connected in the dependency graph (within `topology_hops`) join
    one group, whatever their group_by values."""
    topology_hops: int | None = Field(default=None, ge=1, le=10)
    window: Duration | None = None
    max_age: Duration | None = None
    quiet_period: Duration | None = None
    alert_ttl: Duration | None = None
    flapping: Flapping | None = None


class RulesFile(Strict):
    """`rules.yaml`. Rules are tried in order; the first whose matchers all match takes the
    alert. An alert no rule takes is grouped by service (unmapped alerts by name)."""

    defaults: RuleDefaults = RuleDefaults()
    rules: tuple[CorrelationRule, ...] = ()


# --- silences.yaml: silences and maintenance windows ----------------------------------------

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_CLOCK = r"^([01]\d|2[0-3]):[0-5]\d$"


class Recurring(Strict):
    """Every `days` from `start` to `end` (HH:MM) in `timezone`; `end` before `start` runs
    past midnight into the next day."""

    days: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    start: str = Field(pattern=_CLOCK)
    end: str = Field(pattern=_CLOCK)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Europe/Paris)"
            ) from None
        return value


class SilenceSpec(Strict):
    name: str = Field(min_length=1, max_length=200)
    match: tuple[MatcherField, ...] = Field(min_length=1)
    comment: str = ""
    created_by: str = ""
    starts: AwareDatetime | None = None
    ends: AwareDatetime | None = None
    every: Recurring | None = None

    @model_validator(mode="after")
    def _one_schedule(self) -> SilenceSpec:
        if self.every is None and self.starts is None and self.ends is None:
            raise ValueError("a silence needs starts/ends or every")
        if self.starts is not None and self.ends is not None and self.ends <= self.starts:
            raise ValueError("ends must be after starts")
        return self


class SilencesFile(Strict):
    """`silences.yaml`: silences and maintenance windows kept in the config directory."""

    silences: tuple[SilenceSpec, ...] = ()
