"""Silences and maintenance windows: which alerts are silenced at a given instant. Pure.

A `Silence` is a list of label matchers (`matchers.py`: all must match) and a schedule: a
one-off range `[starts, ends)` (either end may be open), a weekly recurring window (`every`:
weekdays, `start`-`end` wall-clock times, an IANA time zone), or both (the window then
recurs only inside the range). Silences come from `silences.yaml` (`origin="config"`, id
derived from the name, removed by editing the file) or from the HTTP API (`origin="api"`,
random id given by the handler, expired by setting `ends`, kept for the record).

What a silence does (the engine implements it): a silenced alert is kept, deduplicated,
grouped and visible like any other, marked with the ids of the silences matching it; it
does not drive decisions (it neither opens nor escalates an incident). Its resolve is never
swallowed: a resolve always closes the alert, silenced or not, and an alert whose silence
ends while it still fires starts driving decisions from then on.

Recurring windows. `days` names the day a window STARTS: `{days: [fri], start: "22:00",
end: "06:00"}` runs from Friday 22:00 to Saturday 06:00. `end` before `start` runs into the
next day; `end` equal to `start` is a whole day (24 hours of wall-clock time). Times are read
on the wall clock of `timezone`, and each boundary is "the first instant at which that wall
clock reads the time or later":
- a time skipped by a spring-forward jump starts or ends the window at the jump itself, so a
  02:00-04:00 window on the spring-forward day in Europe/Paris (02:00 CET -> 03:00 CEST) runs
  03:00-04:00 CEST, one real hour; a window lying wholly in the skipped hour does not occur;
- a time repeated by a fall-back is taken at its first occurrence, so a 01:00-02:00 window on
  the fall-back day in America/New_York (02:00 EDT -> 01:00 EST) runs from 01:00 EDT to
  02:00 EST, two real hours, and a 01:15-01:45 window there runs once, in EDT.
Nothing here does I/O, reads the clock or draws random numbers: `now` is a parameter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, model_validator

from incidentd.correlate import matchers
from incidentd.correlate.matchers import Matcher, Subject
from incidentd.model import OptionalUtcDatetime
from incidentd.rules.schema import Recurring, SilencesFile, SilenceSpec

Origin = Literal["config", "api"]

_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_HORIZON = 9
"""Days of windows `next_change` looks at: a weekly pattern changes within 8 days or never."""
_NOT_MAPPED = object()


def _matcher(value: object) -> Matcher:
    if isinstance(value, Matcher):
        return value
    if isinstance(value, str):
        return matchers.parse(value)
    raise ValueError('a matcher is a string like name="value"')


StoredMatcher = Annotated[Matcher, PlainValidator(_matcher), PlainSerializer(str, return_type=str)]
"""A matcher, serialised as its text (`service="db"`) and parsed back from it."""


class Silence(BaseModel):
    """One silence or maintenance window. Frozen; serialised as JSON by the stores."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=100)
    origin: Origin
    matchers: tuple[StoredMatcher, ...] = Field(min_length=1)
    name: str = ""
    comment: str = ""
    created_by: str = ""
    starts: OptionalUtcDatetime = None
    ends: OptionalUtcDatetime = None
    every: Recurring | None = None
    created_at: OptionalUtcDatetime = None

    @model_validator(mode="after")
    def _ordered(self) -> Silence:
        # Equal bounds are allowed: a silence expired before it started keeps starts == ends.
        if self.starts is not None and self.ends is not None and self.ends < self.starts:
            raise ValueError("ends must not be before starts")
        return self

    @classmethod
    def from_spec(cls, spec: SilenceSpec) -> Silence:
        """A silence of `silences.yaml`; its id depends on its name only (stable on reload)."""
        return cls(
            id=config_id(spec.name),
            origin="config",
            matchers=spec.match,
            name=spec.name,
            comment=spec.comment,
            created_by=spec.created_by,
            starts=spec.starts,
            ends=spec.ends,
            every=spec.every,
        )


def config_id(name: str) -> str:
    """`config-` and 16 hex digits of the name's SHA-256: stable, URL-safe, never a uuid."""
    return "config-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def from_file(file: SilencesFile) -> tuple[Silence, ...]:
    """Every silence of `silences.yaml`, in file order."""
    return tuple(Silence.from_spec(spec) for spec in file.silences)


def expired(silence: Silence, now: datetime) -> Silence:
    """The silence ended at `now` (what DELETE does): a pending one gets starts == ends == now;
    one that already ended keeps its earlier end."""
    if silence.ends is not None and silence.ends <= now:
        return silence
    starts = silence.starts if silence.starts is None or silence.starts <= now else now
    return silence.model_copy(update={"starts": starts, "ends": now})


def matches_everything(found: Iterable[Matcher]) -> bool:
    """True when every matcher matches the empty string, so the silence would take alerts
    with no relevant label at all (Alertmanager refuses such silences, and so does the API)."""
    return all(m.matches_value("") for m in found)


# --- schedule --------------------------------------------------------------------------------


@cache
def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@cache
def _weekdays(days: tuple[str, ...]) -> frozenset[int]:
    return frozenset(_WEEKDAYS[d] for d in days)


def first_instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The first instant at which the wall clock of `zone` reads `day clock` or later."""
    local = datetime.combine(day, clock, tzinfo=zone)  # fold=0: the first of two readings
    instant = local.astimezone(UTC)
    back = instant.astimezone(zone)
    if (back.date(), back.time()) == (day, clock):
        return instant
    # Skipped by a forward jump. fold=0 read it with the offset from before the jump, which
    # lands after the jump; the jump is in the last `gap` before that: find it to the second.
    before, after = local.utcoffset() or _ZERO, back.utcoffset() or _ZERO
    low, high = int((instant - (after - before)).timestamp()), int(instant.timestamp())
    while high - low > 1:
        mid = (low + high) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == after:
            high = mid
        else:
            low = mid
    return datetime.fromtimestamp(high, UTC)


def _local_day(instant: datetime, zone: ZoneInfo, shift: int = 0) -> date:
    """The date the wall clock of `zone` shows at `instant`, plus `shift` days, kept two days
    clear of the ends of the calendar (a silence may say year 9999; windows are then moot)."""
    try:
        day = instant.astimezone(zone).date()
    except OverflowError:
        day = date.max if instant.year > 1 else date.min
    low, high = date.min.toordinal() + 2, date.max.toordinal() - 2
    return date.fromordinal(min(max(day.toordinal() + shift, low), high))


def _occurrences(every: Recurring, first: date, last: date) -> Iterator[tuple[datetime, datetime]]:
    """The [begin, end) of each window starting on a day from `first` to `last`, in order."""
    zone = ZoneInfo(every.timezone)
    start, end = _clock(every.start), _clock(every.end)
    days = _weekdays(every.days)
    day = first
    while day <= last:
        if day.weekday() in days:
            begin = first_instant(day, start, zone)
            stop = first_instant(day if end > start else day + _DAY, end, zone)
            if stop > begin:
                yield begin, stop
        day += _DAY


def _in_window(every: Recurring, now: datetime) -> bool:
    zone = ZoneInfo(every.timezone)
    # A window lasts about a day at most: only those starting yesterday, today or tomorrow can
    # hold `now` (tomorrow's when a fall-back at midnight repeats the last hour of today).
    windows = _occurrences(every, _local_day(now, zone, -1), _local_day(now, zone, 1))
    return any(begin <= now < end for begin, end in windows)


def is_active(silence: Silence, now: datetime) -> bool:
    """Whether the silence silences matching alerts at `now` (an aware datetime)."""
    if silence.starts is not None and now < silence.starts:
        return False
    if silence.ends is not None and now >= silence.ends:
        return False
    return silence.every is None or _in_window(silence.every, now)


def _boundaries(silence: Silence, now: datetime) -> list[datetime]:
    """Every instant after `now` where `is_active` may change, up to a week past the range."""
    found = [t for t in (silence.starts, silence.ends) if t is not None and t > now]
    if silence.every is not None:
        origin = max(now, silence.starts) if silence.starts is not None else now
        zone = ZoneInfo(silence.every.timezone)
        first, last = _local_day(origin, zone, -1), _local_day(origin, zone, _HORIZON)
        for begin, end in _occurrences(silence.every, first, last):
            found.extend(t for t in (begin, end) if t > now)
    if silence.ends is not None:
        found = [t for t in found if t <= silence.ends]
    return sorted(set(found))


def next_change(silence: Silence, now: datetime) -> datetime | None:
    """The first instant after `now` at which `is_active` changes; None if it never does
    (expired, or a window that never closes). The engine re-evaluates silences then."""
    current = is_active(silence, now)
    for instant in _boundaries(silence, now):
        if is_active(silence, instant) != current:
            return instant
    return None


def state(silence: Silence, now: datetime) -> Literal["active", "pending", "expired"]:
    """`active`: silencing now; `pending`: will silence later; `expired`: never again."""
    if is_active(silence, now):
        return "active"
    return "pending" if next_change(silence, now) is not None else "expired"


# --- matching --------------------------------------------------------------------------------


def active_at(silences: Iterable[Silence], now: datetime) -> tuple[Silence, ...]:
    """The silences active at `now`: compute once per batch, then `matching` per alert."""
    return tuple(s for s in silences if is_active(s, now))


def matching(
    alert: Subject, active: Iterable[Silence], *, service: str | object | None = _NOT_MAPPED
) -> tuple[str, ...]:
    """Ids of the silences in `active` whose matchers all match the alert (no time check).

    `service`, when given, is the impact-map service of the alert, which `service` matchers
    then read instead of the sender's own field (see `matchers.Matcher.value_of`).
    """
    extra = () if service is _NOT_MAPPED else (service,)
    return tuple(s.id for s in active if matchers.all_match(s.matchers, alert, *extra))


def silenced_by(
    alert: Subject,
    silences: Iterable[Silence],
    now: datetime,
    *,
    service: str | object | None = _NOT_MAPPED,
) -> tuple[str, ...]:
    """Ids of the silences active at `now` that match the alert, in the given order."""
    return matching(alert, active_at(silences, now), service=service)
