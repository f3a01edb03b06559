"""The contract of a source parser and the helpers every parser shares.

A parser turns one webhook body into a list of normalized `Alert`s, or raises `ParseError`
naming the JSON path and the reason. It never awaits, never reads the clock (the HTTP layer
stamps `received_at`), never logs the body, and never mutates its input.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Protocol, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, ValidationError

from incidentd.errors import NotJSON, WrongShape
from incidentd.model import Alert

M = TypeVar("M", bound=BaseModel)


class ParseError(WrongShape):
    """The body is JSON but not the shape this source sends: 422 with `path` and `reason`."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.reason_text = reason


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """Per-source settings from the config directory that change how a body is read."""

    auto_resolve_after: timedelta | None = None
    """Time to live of alerts whose sender never resolves them (Splunk, Datadog No Data)."""
    sender: str | None = None
    """Names the sending system when the body's own identity is not stable (Alertmanager's
    `externalURL` defaults to the pod's host name); replaces it in fingerprints."""


@dataclass(frozen=True, slots=True)
class RawWebhook:
    """One received webhook: what the parser sees. Header names are lower-case."""

    source: str
    body: bytes
    headers: Mapping[str, str]
    received_at: datetime
    options: SourceOptions = SourceOptions()


class Source(Protocol):
    name: str
    default_auto_resolve_after: timedelta | None
    """Used when the config directory sets no `auto_resolve_after` for this source."""

    def parse(self, raw: RawWebhook) -> list[Alert]: ...

    def check(self, raw: RawWebhook) -> int:
        """Reject `raw` exactly as `parse` would (same errors) and return how many alerts
        `parse` makes of it, doing as little of the normalization as the source can: the
        request path checks, the queue's consumer parses. Contract (tests/property): when
        `check` returns n, `parse` returns n alerts and raises nothing."""
        ...


def _to_utc(value: datetime) -> datetime:
    # A valid offset can push year 1 or 9999 out of datetime's range once moved to UTC.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is out of range once converted to UTC") from None


UtcTimestamp = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A wire timestamp: RFC 3339 with a zone (0-9 fractional digits), converted to UTC."""

Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""A Go int64 on the wire (Grafana's org, rule, dashboard and panel ids)."""


@contextmanager
def _invalid_alert_is_a_422() -> Iterator[None]:
    """A value that passed the wire model but not the normalized `Alert` (a parser bug, or a
    vendor quirk not yet handled) is a 422 that says so, never a 500."""
    try:
        yield
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ParseError("$", f"cannot normalize this alert ({where}: {first['msg']})") from None


def run_parser(source: Source, raw: RawWebhook) -> list[Alert]:
    """`source.parse(raw)`, where an invalid `Alert` is a 422. The queue's consumer and the CLI
    parse through here."""
    with _invalid_alert_is_a_422():
        return source.parse(raw)


def run_check(source: Source, raw: RawWebhook) -> int:
    """`source.check(raw)`, with the same guarantee: what the HTTP layer runs."""
    with _invalid_alert_is_a_422():
        return source.check(raw)


def json_path(loc: tuple[int | str, ...]) -> str:
    """`("alerts", 0, "labels")` -> `$.alerts[0].labels`."""
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def decode(model: type[M], body: bytes) -> M:
    """Parse and validate `body` as `model` in one pass; raise NotJSON or ParseError.

    Only the first problem is named (with a count of the others): the sender needs to know
    where to look, not a dump of every field.
    """
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        first = errors[0]
        if first["type"] == "json_invalid":
            raise NotJSON(f"body is not valid JSON: {first['msg']}") from None
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise ParseError(json_path(tuple(first["loc"])), reason + more) from None
