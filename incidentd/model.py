"""The shared vocabulary of every stage: the normalized `Alert`, its `Status` and `Severity`,
and the `Priority` of an incident.

An `Alert` is what a source parser produces and what crosses the durable queue, so it is a
frozen pydantic model with `extra="forbid"`. It holds no behaviour beyond its own invariants.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter


class Status(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


_SEVERITY_RANK = {"info": 1, "warning": 2, "error": 3, "critical": 4}


class Severity(StrEnum):
    """Alert severity. Serialised by name; ordered by `rank` so that policies can compare."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return _RANK[self] < _RANK[other]

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return _RANK[self] <= _RANK[other]

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return _RANK[self] > _RANK[other]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return _RANK[self] >= _RANK[other]


_RANK: dict[str, int] = {severity: _SEVERITY_RANK[severity.value] for severity in Severity}
"""By member (a str, hashed as its value): comparisons in scoring run per alert."""


class Priority(StrEnum):
    """Incident priority, P1 (the most urgent) to P5. Serialised by name; compare with `rank`
    (1 for P1), never with `<` on the strings."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]

    def above(self, other: Priority) -> bool:
        """More urgent than `other` (P1 is above P2)."""
        return _PRIORITY_RANK[self] < _PRIORITY_RANK[other]

    def at_least(self, other: Priority) -> bool:
        """As urgent as `other` or more (P1 and P2 are at least P2)."""
        return _PRIORITY_RANK[self] <= _PRIORITY_RANK[other]


_PRIORITY_RANK: dict[str, int] = {p: int(p.value[1]) for p in Priority}


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must carry a time zone")
    return value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
OptionalUtcDatetime = Annotated[datetime | None, AfterValidator(_utc_or_none)]


class Alert(BaseModel):
    """One normalized alert event, as a source reported it at `received_at`.

    - `fingerprint` is the alert's identity: equal for every repeat and the resolve of one
      alert, different across alerts, sources and senders.
    - `event_id` is the identity of this *report*: a redelivery of the same webhook (sender
      retries, HA peers, repeat notifications with nothing new) carries the same `event_id`, so
      the engine can drop it; a new state (resolve, re-fire, new Datadog event) has a new one.
    - `group_key` is the grouping the sender already did (Alertmanager `groupKey` with its
      receiver and cluster, Datadog monitor id), kept for correlation.
    - `auto_resolve_after` is set for alerts whose sender never resolves (Splunk, Datadog
      "No Data"): the engine closes them when they have not repeated for that long.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_timedelta="float")

    source: str
    fingerprint: str
    event_id: str
    status: Status
    severity: Severity
    name: str
    title: str
    service: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: UtcDatetime
    ends_at: OptionalUtcDatetime = None
    received_at: UtcDatetime
    url: str | None = None
    group_key: str | None = None
    auto_resolve_after: timedelta | None = None


ALERT_BATCH: TypeAdapter[list[Alert]] = TypeAdapter(list[Alert])
"""Encodes and decodes a batch of alerts as it crosses the queue (one entry per webhook)."""

EPOCH_ZERO = datetime(1, 1, 1, tzinfo=UTC)
"""Go's zero time, which Alertmanager and Grafana send as `endsAt` of a firing alert."""
