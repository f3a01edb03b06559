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

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)

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
        return self.sources.get(name, SourceConfig())

    def body_limit(self, name: str) -> int:
        return self.source(name).max_body_bytes or self.max_body_bytes
