"""Pydantic models of the configuration files. Strict: unknown keys fail, models are frozen.

`sources.yaml` says which webhook sources are accepted, how each sender authenticates, body
limits and auto-resolve times. `services.yaml` is the service-impact map, `rules.yaml` the
correlation rules, `silences.yaml` the silences, `declaration.yaml` the scoring and the
declaration policy. Secrets are written as `{env: NAME}` or `{file: PATH}` (or,
discouraged, inline) and resolved by the loader into `SecretStr`, never logged.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
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
from incidentd.model import Priority

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


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class AlertmanagerApi(Strict):
    """An Alertmanager (every peer of its HA cluster) whose API incidentd asks, every
    `interval`, which alerts are still active: an alert incidentd holds firing that none of
    the peers has any more is closed at once, where Alertmanager's resolve notification would
    wait for the group's next `group_interval` (5 minutes by default)."""

    urls: tuple[HttpUrl, ...] = Field(min_length=1, max_length=16)
    """The peers' API base URLs (`http://alertmanager-0:9093`): an alert is closed only when
    every one of them answered and none has it."""
    sender: str = Field(min_length=1, max_length=200)
    """The sender identity incidentd gives this Alertmanager's webhooks: the `?sender=` of its
    webhook URL, else the source's `sender`, else its `--web.external-url`."""
    interval: Duration = timedelta(seconds=30)
    restart_grace: Duration = timedelta(minutes=5)
    """No alert is closed while a peer has been up for less than this: a restarted
    Alertmanager has lost its alerts until Prometheus sends them again (every minute)."""
    timeout: Duration = timedelta(seconds=10)
    auth: NoAuth | BearerAuth | BasicAuth = Field(default=NoAuth(type="none"), discriminator="type")

    @field_validator("interval", "timeout")
    @classmethod
    def _at_least_a_second(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value


class SourceConfig(Strict):
    enabled: bool = True
    auth: Auth = NoAuth(type="none")
    hmac: HmacCheck | None = None
    max_body_bytes: int | None = Field(default=None, gt=0, le=64 * 1024 * 1024)
    auto_resolve_after: Duration | None = None
    """Overrides the source's default time to live for alerts its sender never resolves."""
    sender: str | None = Field(default=None, min_length=1, max_length=200)
    api: tuple[AlertmanagerApi, ...] = ()
    """alertmanager only: the Alertmanagers whose API is asked which alerts are still active."""

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

    @field_validator("sources")
    @classmethod
    def _api_of_alertmanager(cls, value: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        for name, config in value.items():
            if config.api and name != "alertmanager":
                raise ValueError(f"{name}: `api` is only for the alertmanager source")
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


# --- declaration.yaml: business-severity scoring and the declaration policy -----------------
#
# Every key has a default, so a config directory without declaration.yaml gets the policy
# documented in docs/declaration.md. Weights are points: the default ones add up to 100.


class ImpactLevel(StrEnum):
    """ITIL impact, most severe first."""

    EXTENSIVE = "extensive"
    SIGNIFICANT = "significant"
    MODERATE = "moderate"
    MINOR = "minor"


class UrgencyLevel(StrEnum):
    """ITIL urgency, most severe first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


def _not_decreasing(steps: tuple[tuple[str, float], ...]) -> None:
    """Steps are written most severe first: each must be at least the one below it."""
    for (upper, high), (lower, low) in itertools.pairwise(steps):
        if high < low:
            raise ValueError(f"{upper} ({high:g}) must be at least {lower} ({low:g})")


class ImpactSteps(Strict):
    """Where a measure reaches each impact level (at or above it); below `moderate`: minor."""

    extensive: float = Field(ge=0)
    significant: float = Field(ge=0)
    moderate: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> ImpactSteps:
        _not_decreasing(
            (
                ("extensive", self.extensive),
                ("significant", self.significant),
                ("moderate", self.moderate),
            )
        )
        return self

    def values(self) -> tuple[float, float, float]:
        return self.extensive, self.significant, self.moderate


class UrgencySteps(Strict):
    """Where a measure reaches each urgency level (at or above it); below `medium`: low."""

    critical: float = Field(ge=0)
    high: float = Field(ge=0)
    medium: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> UrgencySteps:
        _not_decreasing((("critical", self.critical), ("high", self.high), ("medium", self.medium)))
        return self

    def values(self) -> tuple[float, float, float]:
        return self.critical, self.high, self.medium


class DurationSteps(Strict):
    """How long driving alerts must have fired to reach each urgency level."""

    critical: Duration
    high: Duration
    medium: Duration

    @model_validator(mode="after")
    def _ordered(self) -> DurationSteps:
        critical, high, medium = self.values()
        _not_decreasing((("critical", critical), ("high", high), ("medium", medium)))
        return self

    def values(self) -> tuple[float, float, float]:
        """In seconds."""
        return (
            self.critical.total_seconds(),
            self.high.total_seconds(),
            self.medium.total_seconds(),
        )


def _positive_total(weights: Mapping[str, float]) -> None:
    if not sum(weights.values()) > 0:
        raise ValueError("at least one weight must be above 0")


class ImpactWeights(Strict):
    """Points each impact factor adds at its highest value (scaled so the total is 100)."""

    criticality: float = Field(default=30, ge=0)
    blast_radius: float = Field(default=15, ge=0)
    customer_facing: float = Field(default=15, ge=0)
    users: float = Field(default=15, ge=0)
    revenue: float = Field(default=15, ge=0)
    capabilities: float = Field(default=10, ge=0)

    @model_validator(mode="after")
    def _some(self) -> ImpactWeights:
        _positive_total(self.model_dump())
        return self


class UrgencyWeights(Strict):
    """Points each urgency factor adds at its highest value (scaled so the total is 100);
    `flapping` is taken off, in proportion to the share of firing alerts that flap."""

    severity: float = Field(default=40, ge=0)
    signals: float = Field(default=15, ge=0)
    hosts: float = Field(default=10, ge=0)
    regions: float = Field(default=10, ge=0)
    duration: float = Field(default=10, ge=0)
    growth: float = Field(default=15, ge=0)
    flapping: float = Field(default=15, ge=0)

    @model_validator(mode="after")
    def _some(self) -> UrgencyWeights:
        _positive_total(self.model_dump(exclude={"flapping"}))
        return self


class CriticalityWeights(Strict):
    """How much of a criticality factor's points a service of each criticality earns."""

    critical: float = Field(default=1.0, ge=0, le=1)
    high: float = Field(default=0.6, ge=0, le=1)
    medium: float = Field(default=0.3, ge=0, le=1)
    low: float = Field(default=0.1, ge=0, le=1)


class SeverityWeights(Strict):
    """How much of the severity factor's points the most severe driving alert earns."""

    critical: float = Field(default=1.0, ge=0, le=1)
    error: float = Field(default=0.7, ge=0, le=1)
    warning: float = Field(default=0.35, ge=0, le=1)
    info: float = Field(default=0.1, ge=0, le=1)


class ImpactSpec(Strict):
    weights: ImpactWeights = ImpactWeights()
    criticality: CriticalityWeights = CriticalityWeights()
    users_per_minute: ImpactSteps = ImpactSteps(extensive=5000, significant=1000, moderate=100)
    revenue_per_minute: ImpactSteps = ImpactSteps(extensive=2000, significant=500, moderate=50)
    capabilities: ImpactSteps = ImpactSteps(extensive=3, significant=2, moderate=1)
    levels: ImpactSteps = ImpactSteps(extensive=70, significant=45, moderate=20)
    """Impact points (0-100) from which each impact level starts."""


class UrgencySpec(Strict):
    weights: UrgencyWeights = UrgencyWeights()
    severity: SeverityWeights = SeverityWeights()
    signals: UrgencySteps = UrgencySteps(critical=10, high=5, medium=2)
    hosts: UrgencySteps = UrgencySteps(critical=10, high=3, medium=2)
    regions: UrgencySteps = UrgencySteps(critical=3, high=2, medium=2)
    duration: DurationSteps = DurationSteps(
        critical=timedelta(hours=1), high=timedelta(minutes=15), medium=timedelta(minutes=5)
    )
    growth: UrgencySteps = UrgencySteps(critical=4, high=2, medium=1)
    """Alerts first seen within `growth_window`, divided by those seen before it."""
    growth_window: Duration = timedelta(minutes=5)
    levels: UrgencySteps = UrgencySteps(critical=75, high=45, medium=20)
    """Urgency points (0-100) from which each urgency level starts."""


class MatrixRow(Strict):
    """The priorities of one impact level, per urgency level. Every cell is required."""

    critical: Priority
    high: Priority
    medium: Priority
    low: Priority


class Matrix(Strict):
    """Impact x urgency -> priority, in the ITIL manner. Every row is required: a matrix
    that is written at all is written whole."""

    extensive: MatrixRow
    significant: MatrixRow
    moderate: MatrixRow
    minor: MatrixRow

    def priority(self, impact: ImpactLevel, urgency: UrgencyLevel) -> Priority:
        row: MatrixRow = getattr(self, impact.value)
        found: Priority = getattr(row, urgency.value)
        return found


P = Priority
DEFAULT_MATRIX = Matrix(
    extensive=MatrixRow(critical=P.P1, high=P.P1, medium=P.P2, low=P.P3),
    significant=MatrixRow(critical=P.P1, high=P.P2, medium=P.P3, low=P.P4),
    moderate=MatrixRow(critical=P.P2, high=P.P3, medium=P.P4, low=P.P5),
    minor=MatrixRow(critical=P.P3, high=P.P4, medium=P.P5, low=P.P5),
)


class ScoringSpec(Strict):
    """`scoring:`: how a group's impact, urgency, score and priority are computed."""

    impact_share: float = Field(default=0.6, ge=0, le=1)
    """Share of impact in the 0-100 score (urgency has the rest)."""
    impact: ImpactSpec = ImpactSpec()
    urgency: UrgencySpec = UrgencySpec()
    matrix: Matrix = DEFAULT_MATRIX
    host_labels: tuple[str, ...] = ("host", "hostname", "instance", "node")
    """Labels naming an alert's host, first present wins (`instance` loses its `:port`)."""
    region_labels: tuple[str, ...] = ("region", "zone")
    """Labels naming an alert's region, first present wins."""
    transient: dict[Annotated[str, Field(pattern=r"^[^/\s]+/\S.*$")], float] = Field(
        default_factory=dict
    )
    """Learned odds that an alert resolves by itself within minutes, by `service/AlertName`
    (`unmapped/AlertName` for alerts of no service), as `incidentd suggest` prints them: a
    driving alert at 0.5 or more is named in the score's `urgency.transient` note (no points:
    sustain times, not a model's guess, decide a declaration)."""

    @field_validator("transient")
    @classmethod
    def _odds(cls, value: dict[str, float]) -> dict[str, float]:
        for key, odds in value.items():
            if not 0 <= odds <= 1:
                raise ValueError(f"transient odds of {key!r} must be between 0 and 1")
        return value

    @property
    def transient_odds(self) -> dict[tuple[str | None, str], float] | None:
        """`transient` keyed as the scorer reads it ((service or None, alert name)), or None
        when it is empty. Not cached: a few entries, and `model_copy(update=...)` would carry
        a cached value over."""
        if not self.transient:
            return None
        out: dict[tuple[str | None, str], float] = {}
        for key, odds in self.transient.items():
            service, _, name = key.partition("/")
            out[(None if service == "unmapped" else service, name)] = odds
        return out


class PolicyOverride(Strict):
    """A stricter or looser policy for one service or capability (unset keys: the default)."""

    declare_at: Priority | None = None
    min_signals: int | None = Field(default=None, ge=1)
    sustain: Duration | None = None


class StormSpec(Strict):
    """Above `alerts_per_minute` (new or re-firing alerts, averaged over `window`), groups
    that would be declared and fit no open incident join one alert-storm incident."""

    enabled: bool = True
    alerts_per_minute: float = Field(default=100, gt=0)
    window: Duration = timedelta(minutes=5)
    priority: Priority = Priority.P2
    """The storm incident's priority at least (an absorbed group can raise it)."""


class JoinSpec(Strict):
    """When a group that is not yet part of an incident joins an open one."""

    same_root_cause: bool = True
    within_blast_radius: bool = True
    """A root cause of one lies in the blast radius of the other (one failure causes the
    other). Not a mere overlap: nearly every blast radius reaches the storefront."""
    quiet_for: Duration = timedelta(minutes=15)
    """A blast-radius join needs the incident to be active: one of its alerts firing, or its
    last one resolved less than this ago. A quiet incident does not take in every later
    failure that happens to touch its blast radius (an edge service's incident would take in
    every backend failure for as long as it stays open)."""
    cause_within: Duration = timedelta(minutes=10)
    """A group whose root cause lies under the incident's root cause (it may be the cause)
    joins only when it started no later than this after the incident's first alert: a cause
    does not begin long after its symptom. A group whose root cause lies in the incident's
    blast radius (a consequence) joins only when it started no earlier than this before the
    incident's first alert: a consequence does not begin long before its cause."""


class AutoResolveSpec(Strict):
    enabled: bool = True
    quiet_period: Duration = timedelta(minutes=15)
    status: Literal["mitigated", "resolved"] = "mitigated"


class PolicySpec(Strict):
    """`policy:`: when a scored group becomes a major incident, and what happens next."""

    declare_at: Priority = Priority.P2
    min_signals: int = Field(default=1, ge=1)
    """Distinct driving alerts a group needs to be declared."""
    sustain: Duration = timedelta(0)
    cool_down: Duration = timedelta(minutes=30)
    storm: StormSpec = StormSpec()
    join: JoinSpec = JoinSpec()
    auto_resolve: AutoResolveSpec = AutoResolveSpec()
    hold_when_cause_silenced: bool = True
    """A group whose every root-cause service fires only silenced alerts (a maintenance
    window on the database) declares nothing for the consequences it drives (the API's
    connection errors during the switchover): Alertmanager's inhibition, from the map. It
    may still join an incident already open."""
    services: dict[str, PolicyOverride] = Field(default_factory=dict)
    capabilities: dict[str, PolicyOverride] = Field(default_factory=dict)


class SlaTargets(Strict):
    """How long each step may take for one priority; null: no clock for that step.

    - `declare`: from the first alert of the failure to the declaration;
    - `acknowledge`: from the declaration to a person's acknowledgement (or any later status);
    - `resolve`: from the declaration to resolved."""

    declare: Duration | None = None
    acknowledge: Duration | None = None
    resolve: Duration | None = None


def _default_sla() -> dict[Priority, SlaTargets]:
    m = timedelta(minutes=1)
    h = timedelta(hours=1)
    return {
        Priority.P1: SlaTargets(declare=5 * m, acknowledge=5 * m, resolve=4 * h),
        Priority.P2: SlaTargets(declare=10 * m, acknowledge=15 * m, resolve=8 * h),
        Priority.P3: SlaTargets(declare=30 * m, acknowledge=h, resolve=24 * h),
        Priority.P4: SlaTargets(acknowledge=4 * h, resolve=72 * h),
        Priority.P5: SlaTargets(acknowledge=24 * h, resolve=168 * h),
    }


class DeclarationFile(Strict):
    """`declaration.yaml`."""

    scoring: ScoringSpec = ScoringSpec()
    policy: PolicySpec = PolicySpec()
    sla: dict[Priority, SlaTargets] = Field(default_factory=_default_sla)
    """SLA clocks per priority; a priority left out has none."""


# --- api.yaml ------------------------------------------------------------------------------------

Scope = Literal["read", "write"]


class ApiToken(Strict):
    """One client of the HTTP API: a name (recorded as the actor of what it writes, unless
    the request names a person), its token (a list rotates), and what it may do."""

    name: str = Field(min_length=1, max_length=100)
    token: Secrets
    scopes: tuple[Scope, ...] = ("read",)


class ApiFile(Strict):
    """`api.yaml`: who may read and write through `/api/v1/`. Writes always need a token
    with the `write` scope; reads need one with `read` unless `anonymous_read` is on."""

    anonymous_read: bool = True
    tokens: tuple[ApiToken, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> ApiFile:
        names = [t.name for t in self.tokens]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"token names must be unique: {', '.join(twice)}")
        return self
