"""On-call schedules (`oncall.yaml`) and who is on call for a team at an instant. Pure.

A team's schedule has a time zone, layers and overrides (PagerDuty's model). A layer is a
rotation: people take turns of `every` (12h, 1d, 1w, ...) from `start`, the first handoff,
when the first person goes on; optional restrictions (weekly windows such as business hours)
say when the layer is on, and an optional `end` retires it. Where several layers are on, the
one written last wins. An override puts a person on call from `start` to `end` whatever the
layers say; where overrides overlap, all their people are on call (file order).

Handoffs are on the team's wall clock: the n-th handoff is when the clock of `time_zone`
reads `start + n * every`, counted on the local calendar as if there were no DST. A weekly
09:00 handoff stays at 09:00 (that week lasts 167 or 169 hours), and a 12h rotation from
09:00 hands off at 09:00 and 21:00 all year. Turns keep coming while a restriction hides
the layer: restrictions never shift the rotation. All times in oncall.yaml are read the same
way, with the convention of silence windows (correlate/silences.py): a time skipped by a
spring-forward jump happens at the jump, a time repeated by a fall-back at its first reading.

Nothing here does I/O or reads the clock: the instant is a parameter, an aware datetime;
returned instants are UTC. `incidentd check` reports what the schema cannot see (names
under `people:`, owner teams without a schedule): rules/checks.py.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from incidentd.act.target import Person
from incidentd.correlate.silences import first_instant
from incidentd.errors import NobodyOnCall, UnknownPerson, UnknownTeam
from incidentd.rules.schema import Strict, Weekday

FILE = "oncall.yaml"
LOOKAHEAD = timedelta(days=90)
"""How far ahead `shifts` looks for the end of a shift, and an error for the next person on
call (a one-person rotation never ends)."""
MIN_TURN = timedelta(hours=1)
"""The shortest rotation turn: shorter ones could vanish in a DST jump."""
_MAX_STEPS = 5000
"""Schedule changes looked at within LOOKAHEAD, at most (an hourly rotation has 2,160)."""
_DAY = timedelta(days=1)
_WEEK = 7
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_EVERY_DAY: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = r"([01]\d|2[0-3]):([0-5]\d)"
_START = re.compile(rf"^{_CLOCK}$")
_END = re.compile(rf"^(?:(mon|tue|wed|thu|fri|sat|sun) )?{_CLOCK}$")
_LENGTH = re.compile(r"^\s*(\d+)\s*(m|h|d|w)\s*$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": _DAY, "w": timedelta(weeks=1)}
_PERSON = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+\-]{0,99}$")
_SLACK = re.compile(r"^[UW][A-Z0-9]{2,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PAGERDUTY = re.compile(r"^P[A-Z0-9]{2,}$")
_YEARS = (1900, 8999)
"""Instants outside these years are refused: schedules are about now, and arithmetic near
the ends of the calendar would overflow."""


# --- schema ------------------------------------------------------------------------------------


def _matching(pattern: re.Pattern[str], message: str) -> AfterValidator:
    def check(value: str) -> str:
        if pattern.match(value) is None:
            raise ValueError(message)
        return value

    return AfterValidator(check)


PersonName = Annotated[
    str,
    _matching(
        _PERSON, "a person's name is letters, digits, '.', '_', '-', '@' or '+', without spaces"
    ),
]
TeamName = Annotated[str, Field(min_length=1, max_length=100)]


def _rotation_length(value: object) -> object:
    if isinstance(value, timedelta):
        return value
    match = _LENGTH.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a rotation length like 8h, 12h, 1d or 1w")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _long_enough(value: timedelta) -> timedelta:
    if value < MIN_TURN:
        raise ValueError("a rotation turn lasts at least 1h")
    return value


RotationLength = Annotated[
    timedelta, BeforeValidator(_rotation_length), AfterValidator(_long_enough)
]


def _local_time(value: datetime) -> datetime:
    if value.tzinfo is not None:
        raise ValueError(
            "write the team's local time without an offset, like 2026-01-05T09:00 "
            "(time_zone applies)"
        )
    if not _YEARS[0] <= value.year <= _YEARS[1]:
        raise ValueError(f"a date between the years {_YEARS[0]} and {_YEARS[1]}")
    return value


LocalTime = Annotated[datetime, AfterValidator(_local_time)]


def _clock_text(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError(  # noqa: TRY004 (pydantic reports ValueError as a validation error)
            'a time of day is written quoted, like "22:30" (YAML reads 22:30 unquoted as a number)'
        )
    return value


def _not_empty(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("a rotation needs at least one person")
    return value


class PersonSpec(Strict):
    """Someone who can be on call, with their identity in each tool. A tool they have no
    identity in cannot reach them."""

    slack: (
        Annotated[str, _matching(_SLACK, "a Slack member id starts with U or W, like U0123ABCD")]
        | None
    ) = None
    email: Annotated[str, _matching(_EMAIL, "not an e-mail address")] | None = None
    opsgenie: str | None = Field(default=None, min_length=1, max_length=200)
    """Opsgenie username (an e-mail address)."""
    pagerduty: (
        Annotated[str, _matching(_PAGERDUTY, "a PagerDuty user id starts with P, like PABC123")]
        | None
    ) = None

    def reachable(self) -> bool:
        return any((self.slack, self.email, self.opsgenie, self.pagerduty))


class Restriction(Strict):
    """A weekly window in which a layer is on: from `start` on each of `days` to `end` (the
    same day, or the next when `end` is not after `start`; `end` equal to `start` is a whole
    day). `end` may name a weekday: `{days: [fri], start: "18:00", end: "mon 09:00"}` is a
    weekend, from each Friday 18:00 to the Monday after, 09:00."""

    days: tuple[Weekday, ...] = Field(default=_EVERY_DAY, min_length=1)
    start: Annotated[
        str,
        BeforeValidator(_clock_text),
        _matching(_START, 'a time of day is HH:MM, like "09:00"'),
    ]
    end: Annotated[
        str,
        BeforeValidator(_clock_text),
        _matching(_END, 'an end is HH:MM, or a weekday and HH:MM, like "18:00" or "mon 09:00"'),
    ]


class Layer(Strict):
    """A rotation: `rotation[n % len]` is on for the n-th turn of `every`, from `start`."""

    name: str = Field(min_length=1, max_length=100)
    rotation: Annotated[tuple[PersonName, ...], AfterValidator(_not_empty)]
    start: LocalTime
    """The first handoff (the first person goes on), on the team's wall clock."""
    every: RotationLength
    end: LocalTime | None = None
    """The layer is off from then on (to hand over to a new layer)."""
    restrictions: tuple[Restriction, ...] = ()
    """When the layer is on; none: always (from `start` to `end`)."""

    @model_validator(mode="after")
    def _ends_after_start(self) -> Layer:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Override(Strict):
    """`person` is on call from `start` to `end` (excluded), instead of the layers."""

    person: PersonName
    start: LocalTime
    end: LocalTime
    note: str = Field(default="", max_length=200)
    """Why (a holiday, a swap): shown by `incidentd oncall`."""

    @model_validator(mode="after")
    def _ends_after_start(self) -> Override:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class TeamSchedule(Strict):
    time_zone: str
    """IANA name (Europe/Paris): the wall clock of every time in the schedule."""
    layers: tuple[Layer, ...] = ()
    """Later layers win over earlier ones where they are on."""
    overrides: tuple[Override, ...] = ()

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            _zone(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Europe/Paris)"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.time_zone)

    def instant(self, local: datetime) -> datetime:
        """The first instant (UTC) at which the team's wall clock reads `local` (naive) or
        later: a time skipped in spring is the jump, a repeated one its first reading."""
        if local.tzinfo is not None:
            raise ValueError("instant() reads a naive local time")
        return first_instant(local.date(), local.time(), self.zone)


class OncallFile(Strict):
    """`oncall.yaml`: the people who can be on call, and each team's schedule."""

    people: dict[PersonName, PersonSpec] = Field(default_factory=dict)
    teams: dict[TeamName, TeamSchedule] = Field(default_factory=dict)

    def team(self, name: str) -> TeamSchedule:
        """The team's schedule; raises UnknownTeam."""
        schedule = self.teams.get(name)
        if schedule is None:
            if not self.teams:
                raise UnknownTeam(f"no on-call schedule for team {name!r}: {FILE} has no teams")
            hint = _did_you_mean(name, self.teams)
            raise UnknownTeam(f"no on-call schedule for team {name!r} in {FILE}{hint}")
        return schedule

    def person(self, name: str) -> Person:
        """The person named `name` under `people:`; raises UnknownPerson."""
        spec = self.people.get(name)
        if spec is None:
            hint = _did_you_mean(name, self.people)
            raise UnknownPerson(f"no person named {name!r} in {FILE}{hint}")
        return Person(
            name=name,
            slack=spec.slack,
            email=spec.email,
            opsgenie=spec.opsgenie,
            pagerduty=spec.pagerduty,
        )

    def identities(self, names: Iterable[str]) -> tuple[Person, ...]:
        """A Person per name, in order: with their identities when `people:` has them, else
        the name alone (a commander named through the API; no tool can reach them)."""
        return tuple(self.person(n) if n in self.people else Person(name=n) for n in names)

    def on_call(self, team: str, at: datetime) -> tuple[Person, ...]:
        """Who is on call for `team` at `at` (aware): the people of the overrides covering
        `at`, else the person of the last layer that is on. Raises UnknownTeam, NobodyOnCall
        (no layers, or a gap), ValueError for a naive `at`."""
        return tuple(self.person(slot.person) for slot in self._on_call(team, at)[1])

    def names_on_call(self, team: str, at: datetime) -> tuple[str, ...]:
        """The names of the people on call; empty for an unknown team or when nobody is (the
        action planner's `OnCall`: a team without a schedule must not stop a page). Cheap:
        it never looks ahead for the next person on call."""
        _check_instant(at)
        schedule = self.teams.get(team)
        if schedule is None:
            return ()
        return tuple(slot.person for slot in _slots(schedule, at))

    def shifts(self, team: str, at: datetime) -> tuple[Shift, ...]:
        """`on_call` with what puts each person on call and until when (same errors)."""
        schedule, slots = self._on_call(team, at)
        return tuple(
            Shift(
                person=self.person(slot.person),
                kind=slot.kind,
                name=slot.name,
                until=_until(schedule, slot.person, at),
            )
            for slot in slots
        )

    def _on_call(self, team: str, at: datetime) -> tuple[TeamSchedule, list[_Slot]]:
        _check_instant(at)
        schedule = self.team(team)
        slots = _slots(schedule, at)
        if not slots:
            raise _nobody(team, schedule, at)
        return schedule, slots


@dataclass(frozen=True, slots=True)
class Shift:
    """One person on call, what puts them there, and until when."""

    person: Person
    kind: Literal["layer", "override"]
    name: str
    """The layer's name, or the override's note (empty when it has none)."""
    until: datetime | None
    """When they stop being on call for the team (UTC), whatever keeps them on until then;
    None: not within LOOKAHEAD."""


# --- resolver ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Slot:
    person: str
    kind: Literal["layer", "override"]
    name: str


def _check_instant(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("the instant must be timezone-aware")
    if not _YEARS[0] <= at.year <= _YEARS[1]:
        raise ValueError(f"the instant must be between the years {_YEARS[0]} and {_YEARS[1]}")


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _slots(schedule: TeamSchedule, at: datetime) -> list[_Slot]:
    found: dict[str, _Slot] = {}
    for override in schedule.overrides:
        if schedule.instant(override.start) <= at < schedule.instant(override.end):
            found.setdefault(override.person, _Slot(override.person, "override", override.note))
    if found:
        return list(found.values())
    zone = schedule.zone
    for layer in reversed(schedule.layers):
        turn = _turn_if_on(layer, zone, at)
        if turn is not None:
            person = layer.rotation[turn % len(layer.rotation)]
            return [_Slot(person, "layer", layer.name)]
    return []


def _handoff(layer: Layer, zone: ZoneInfo, turn: int) -> datetime:
    local = layer.start + turn * layer.every
    return first_instant(local.date(), local.time(), zone)


def _turn(layer: Layer, zone: ZoneInfo, at: datetime) -> int:
    """The turn holding `at` (the number of handoffs after the first, up to `at`); -1
    before the first handoff."""
    if at < _handoff(layer, zone, 0):
        return -1
    # The wall clock's reading is within a DST offset of the turn's: a step or two at most.
    reading = at.astimezone(zone).replace(tzinfo=None)
    turn = max(0, (reading - layer.start) // layer.every)
    while turn > 0 and _handoff(layer, zone, turn) > at:
        turn -= 1
    while _handoff(layer, zone, turn + 1) <= at:
        turn += 1
    return turn


def _turn_if_on(layer: Layer, zone: ZoneInfo, at: datetime) -> int | None:
    if layer.end is not None and at >= _instant(layer.end, zone):
        return None
    turn = _turn(layer, zone, at)
    if turn < 0:
        return None
    if layer.restrictions and not _in_restrictions(layer, zone, at):
        return None
    return turn


def _instant(local: datetime, zone: ZoneInfo) -> datetime:
    return first_instant(local.date(), local.time(), zone)


@cache
def _clock(text: str) -> time:
    match = _END.match(text)
    assert match is not None  # noqa: S101 (validated by the schema)
    return time(int(match.group(2)), int(match.group(3)))


@cache
def _end_day(text: str) -> int | None:
    match = _END.match(text)
    return _WEEKDAYS[match.group(1)] if match is not None and match.group(1) else None


def _span(weekday: int, start: time, end: time, end_day: int | None) -> int:
    """Days from the start of a window to its end."""
    if end_day is None:
        return 0 if end > start else 1
    days = (end_day - weekday) % _WEEK
    return _WEEK if days == 0 and end <= start else days


def _windows(
    restriction: Restriction, zone: ZoneInfo, first: date, last: date
) -> Iterator[tuple[datetime, datetime]]:
    """The [begin, end) of each window starting on a day from `first` to `last`, in order."""
    start, end = _clock(restriction.start), _clock(restriction.end)
    end_day = _end_day(restriction.end)
    days = {_WEEKDAYS[d] for d in restriction.days}
    day = first
    while day <= last:
        if day.weekday() in days:
            span = _span(day.weekday(), start, end, end_day)
            begin = first_instant(day, start, zone)
            stop = first_instant(day + span * _DAY, end, zone)
            if stop > begin:
                yield begin, stop
        day += _DAY


def _in_restrictions(layer: Layer, zone: ZoneInfo, at: datetime) -> bool:
    # A window lasts a week at most: those starting from 8 days before (a week plus a DST
    # day) to tomorrow (a fall-back at midnight) are the ones that can hold `at`.
    today = at.astimezone(zone).date()
    return any(
        begin <= at < stop
        for restriction in layer.restrictions
        for begin, stop in _windows(restriction, zone, today - 8 * _DAY, today + _DAY)
    )


def _layer_changes(layer: Layer, zone: ZoneInfo, at: datetime) -> Iterator[datetime]:
    """Instants after which the layer may give another answer (some may be before `at`)."""
    yield _handoff(layer, zone, 0)
    if layer.end is not None:
        end = _instant(layer.end, zone)
        yield end
        if at >= end:
            return
    turn = _turn(layer, zone, at)
    if turn >= 0:
        yield _handoff(layer, zone, turn + 1)
    today = at.astimezone(zone).date()
    for restriction in layer.restrictions:
        for begin, stop in _windows(restriction, zone, today - 8 * _DAY, today + 8 * _DAY):
            yield begin
            yield stop


def _next_change(schedule: TeamSchedule, at: datetime) -> datetime | None:
    """The first instant after `at` at which who is on call may change."""
    found: list[datetime] = []
    for override in schedule.overrides:
        found += (schedule.instant(override.start), schedule.instant(override.end))
    for layer in schedule.layers:
        found += _layer_changes(layer, schedule.zone, at)
    return min((t for t in found if t > at), default=None)


def _changes(schedule: TeamSchedule, at: datetime) -> Iterator[datetime]:
    """The instants after `at`, up to LOOKAHEAD, at which who is on call may change."""
    horizon = at + LOOKAHEAD
    current = at
    for _ in range(_MAX_STEPS):
        found = _next_change(schedule, current)
        if found is None or found > horizon:
            return
        yield found
        current = found


def _until(schedule: TeamSchedule, person: str, at: datetime) -> datetime | None:
    return next(
        (t for t in _changes(schedule, at) if all(s.person != person for s in _slots(schedule, t))),
        None,
    )


def _nobody(team: str, schedule: TeamSchedule, at: datetime) -> NobodyOnCall:
    later = next((t for t in _changes(schedule, at) if _slots(schedule, t)), None)
    reason = "its schedule has no layers" if not schedule.layers else "no layer is on then"
    if later is not None:
        reason += f" (next on call from {_shown(later, schedule)})"
    elif schedule.layers:
        reason += f" (nor in the {LOOKAHEAD.days} days after)"
    return NobodyOnCall(
        f"nobody is on call for team {team!r} at {_shown(at, schedule)}: {reason}",
        next_on_call=later,
    )


def _shown(instant: datetime, schedule: TeamSchedule) -> str:
    return instant.astimezone(schedule.zone).isoformat()
