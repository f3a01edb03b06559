"""Silences and maintenance windows: the pure schedule and matching logic, no event loop.

Instants are written in UTC with the local wall-clock time beside them. DST dates used:
Europe/Paris springs forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z) and falls back
2026-10-25 03:00 CEST -> 02:00 CET (01:00Z); America/New_York springs forward 2026-03-08
02:00 EST -> 03:00 EDT (07:00Z) and falls back 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from incidentd.correlate.matchers import parse
from incidentd.correlate.silences import (
    Silence,
    active_at,
    config_id,
    expired,
    from_file,
    is_active,
    matches_everything,
    matching,
    next_change,
    silenced_by,
    state,
)
from incidentd.model import Alert, Severity, Status
from incidentd.rules.schema import Recurring, SilencesFile, SilenceSpec

MIN = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def window(start: str, end: str, tz: str = "UTC", days: tuple[str, ...] | None = None) -> Silence:
    every = Recurring(start=start, end=end, timezone=tz, **({"days": days} if days else {}))
    return Silence(id="w", origin="api", matchers=(parse('team="db"'),), every=every)


def one_off(starts: datetime | None, ends: datetime | None) -> Silence:
    return Silence(id="o", origin="api", matchers=(parse('team="db"'),), starts=starts, ends=ends)


def active_span(silence: Silence, begin: datetime, end: datetime) -> list[datetime]:
    """The minutes in [begin, end) at which the silence is active (compact expectations)."""
    out, t = [], begin
    while t < end:
        if is_active(silence, t):
            out.append(t)
        t += MIN
    return out


def intervals(silence: Silence, begin: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The active stretches in [begin, end), found minute by minute."""
    out: list[tuple[datetime, datetime]] = []
    for t in active_span(silence, begin, end):
        if out and out[-1][1] == t:
            out[-1] = (out[-1][0], t + MIN)
        else:
            out.append((t, t + MIN))
    return out


def make_alert(labels: dict[str, str], *, service: str | None = None) -> Alert:
    now = utc(2026, 3, 2, 9, 0)
    return Alert(
        source="generic",
        fingerprint="fp",
        event_id="ev",
        status=Status.FIRING,
        severity=Severity.ERROR,
        name="DiskFull",
        title="Disk full",
        service=service,
        labels=labels,
        starts_at=now,
        received_at=now,
    )


# --- one-off ranges -------------------------------------------------------------------------


def test_one_off_silence_is_active_from_starts_until_just_before_ends() -> None:
    silence = one_off(utc(2026, 3, 2, 9, 0), utc(2026, 3, 2, 10, 0))
    assert not is_active(silence, utc(2026, 3, 2, 8, 59, 59))
    assert is_active(silence, utc(2026, 3, 2, 9, 0))
    assert is_active(silence, utc(2026, 3, 2, 10, 0) - timedelta(microseconds=1))
    assert not is_active(silence, utc(2026, 3, 2, 10, 0))


def test_open_ended_ranges() -> None:
    since = one_off(utc(2026, 3, 2, 9, 0), None)
    until = one_off(None, utc(2026, 3, 2, 9, 0))
    assert not is_active(since, utc(2026, 3, 2, 8, 0))
    assert is_active(since, utc(2099, 1, 1))
    assert is_active(until, utc(2000, 1, 1))
    assert not is_active(until, utc(2026, 3, 2, 9, 0))


def test_ends_before_starts_is_refused() -> None:
    with pytest.raises(ValidationError, match="ends must not be before starts"):
        one_off(utc(2026, 3, 2, 10), utc(2026, 3, 2, 9))


# --- recurring windows ----------------------------------------------------------------------


def test_weekly_window_is_read_on_the_wall_clock_of_its_time_zone() -> None:
    # Paris is UTC+1 in March before the 29th: Monday 09:00-10:00 local is 08:00-09:00Z.
    silence = window("09:00", "10:00", "Europe/Paris", ("mon",))
    assert intervals(silence, utc(2026, 3, 1), utc(2026, 3, 10)) == [
        (utc(2026, 3, 2, 8, 0), utc(2026, 3, 2, 9, 0)),
        (utc(2026, 3, 9, 8, 0), utc(2026, 3, 9, 9, 0)),
    ]
    # After the spring change the same wall-clock window is an hour earlier in UTC.
    assert intervals(silence, utc(2026, 3, 30), utc(2026, 3, 31)) == [
        (utc(2026, 3, 30, 7, 0), utc(2026, 3, 30, 8, 0)),
    ]


def test_window_crossing_midnight_belongs_to_the_day_it_starts() -> None:
    # Friday 22:00 to Saturday 06:00, Paris (UTC+1): Fri 21:00Z to Sat 05:00Z. Saturday is not
    # listed, so no window starts on Saturday night, though Saturday morning is covered.
    silence = window("22:00", "06:00", "Europe/Paris", ("fri",))
    assert intervals(silence, utc(2026, 3, 2), utc(2026, 3, 9)) == [
        (utc(2026, 3, 6, 21, 0), utc(2026, 3, 7, 5, 0)),
    ]
    assert is_active(silence, utc(2026, 3, 7, 4, 59))  # Saturday 05:59 local
    assert not is_active(silence, utc(2026, 3, 7, 21, 30))  # Saturday 22:30 local


def test_midnight_crossing_window_of_the_last_listed_day_runs_into_an_unlisted_day() -> None:
    silence = window("23:00", "01:00", "UTC", ("sun",))
    assert intervals(silence, utc(2026, 3, 1), utc(2026, 3, 3)) == [
        (utc(2026, 3, 1, 23, 0), utc(2026, 3, 2, 1, 0)),
    ]


def test_end_equal_to_start_is_a_whole_day() -> None:
    silence = window("00:00", "00:00", "UTC", ("sat",))
    assert intervals(silence, utc(2026, 3, 6), utc(2026, 3, 9)) == [
        (utc(2026, 3, 7), utc(2026, 3, 8)),
    ]


def test_every_day_by_default() -> None:
    silence = window("12:00", "12:30")
    assert len(intervals(silence, utc(2026, 3, 2), utc(2026, 3, 9))) == 7


def test_window_recurs_only_inside_its_starts_ends_range() -> None:
    every = Recurring(start="12:00", end="13:00")
    silence = Silence(
        id="r",
        origin="config",
        matchers=(parse('team="db"'),),
        every=every,
        starts=utc(2026, 3, 3, 12, 30),
        ends=utc(2026, 3, 5, 12, 15),
    )
    assert intervals(silence, utc(2026, 3, 1), utc(2026, 3, 8)) == [
        (utc(2026, 3, 3, 12, 30), utc(2026, 3, 3, 13, 0)),
        (utc(2026, 3, 4, 12, 0), utc(2026, 3, 4, 13, 0)),
        (utc(2026, 3, 5, 12, 0), utc(2026, 3, 5, 12, 15)),
    ]


def test_window_with_no_days_never_opens() -> None:
    silence = window("12:00", "13:00", days=None).model_copy(
        update={"every": Recurring(start="12:00", end="13:00", days=())}
    )
    assert intervals(silence, utc(2026, 3, 1), utc(2026, 3, 9)) == []
    assert next_change(silence, utc(2026, 3, 1)) is None
    assert state(silence, utc(2026, 3, 1)) == "expired"


# --- DST ------------------------------------------------------------------------------------


def test_paris_spring_forward_window_starts_when_the_clock_jumps_over_its_start() -> None:
    # 02:00 CET never happens on 2026-03-29: the clock goes 01:59:59 CET -> 03:00 CEST (01:00Z).
    # The 02:00-04:00 window runs from the jump to 04:00 CEST: one real hour.
    silence = window("02:00", "04:00", "Europe/Paris", ("sun",))
    assert intervals(silence, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)) == [
        (utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0)),
    ]
    assert not is_active(silence, utc(2026, 3, 29, 1, 0) - SECOND)
    assert next_change(silence, utc(2026, 3, 29, 0, 0)) == utc(2026, 3, 29, 1, 0)
    assert next_change(silence, utc(2026, 3, 29, 1, 30)) == utc(2026, 3, 29, 2, 0)


def test_paris_spring_forward_window_ending_in_the_skipped_hour_ends_at_the_jump() -> None:
    silence = window("01:00", "02:30", "Europe/Paris", ("sun",))
    assert intervals(silence, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)) == [
        (utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 1, 0)),
    ]


def test_paris_window_inside_the_skipped_hour_does_not_happen_that_day() -> None:
    silence = window("02:15", "02:45", "Europe/Paris", ("sun",))
    assert intervals(silence, utc(2026, 3, 28), utc(2026, 3, 30)) == []
    assert next_change(silence, utc(2026, 3, 28)) == utc(2026, 4, 5, 0, 15)  # a week on, CEST


def test_paris_fall_back_repeated_hour_is_silenced_both_times() -> None:
    # 2026-10-25: 02:00-03:00 happens in CEST (00:00-01:00Z) then again in CET (01:00-02:00Z).
    silence = window("02:00", "03:00", "Europe/Paris", ("sun",))
    assert intervals(silence, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)) == [
        (utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 2, 0)),
    ]


def test_paris_fall_back_window_inside_the_repeated_hour_runs_once() -> None:
    silence = window("02:15", "02:45", "Europe/Paris", ("sun",))
    assert intervals(silence, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)) == [
        (utc(2026, 10, 25, 0, 15), utc(2026, 10, 25, 0, 45)),  # CEST, the first occurrence
    ]
    assert not is_active(silence, utc(2026, 10, 25, 1, 30))  # 02:30 CET: the second one


def test_paris_midnight_crossing_window_on_the_spring_forward_night_is_an_hour_shorter() -> None:
    silence = window("22:00", "06:00", "Europe/Paris", ("sat",))
    assert intervals(silence, utc(2026, 3, 28), utc(2026, 3, 30)) == [
        (utc(2026, 3, 28, 21, 0), utc(2026, 3, 29, 4, 0)),  # 22:00 CET to 06:00 CEST: 7 hours
    ]


def test_new_york_spring_forward() -> None:
    silence = window("02:00", "04:00", "America/New_York", ("sun",))
    assert intervals(silence, utc(2026, 3, 7, 12), utc(2026, 3, 8, 12)) == [
        (utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 8, 0)),  # 03:00-04:00 EDT
    ]


def test_new_york_fall_back_01_to_02_lasts_two_real_hours() -> None:
    # 01:00 EDT (05:00Z) until the clock first reads 02:00, which is 02:00 EST (07:00Z).
    silence = window("01:00", "02:00", "America/New_York", ("sun",))
    assert intervals(silence, utc(2026, 10, 31, 12), utc(2026, 11, 1, 12)) == [
        (utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 7, 0)),
    ]
    assert next_change(silence, utc(2026, 11, 1, 5, 30)) == utc(2026, 11, 1, 7, 0)


def test_new_york_fall_back_window_inside_the_repeated_hour_runs_once_in_edt() -> None:
    silence = window("01:15", "01:45", "America/New_York", ("sun",))
    assert intervals(silence, utc(2026, 10, 31, 12), utc(2026, 11, 1, 12)) == [
        (utc(2026, 11, 1, 5, 15), utc(2026, 11, 1, 5, 45)),
    ]


def test_fall_back_at_midnight_repeats_the_last_hour_of_the_day_before() -> None:
    # Sao Paulo, 2019-02-17: at 00:00 -02 (02:00Z) the clock went back to Saturday 23:00 -03,
    # so it never read Sunday 00:00 -02. A Saturday 23:00-00:00 window runs through both
    # Saturday 23:00s; the Sunday 00:00-01:00 window starts when the clock first reads Sunday.
    saturday_late = window("23:00", "00:00", "America/Sao_Paulo", ("sat",))
    assert intervals(saturday_late, utc(2019, 2, 16), utc(2019, 2, 18)) == [
        (utc(2019, 2, 17, 1, 0), utc(2019, 2, 17, 3, 0)),
    ]
    sunday_early = window("00:00", "01:00", "America/Sao_Paulo", ("sun",))
    assert intervals(sunday_early, utc(2019, 2, 16), utc(2019, 2, 18)) == [
        (utc(2019, 2, 17, 3, 0), utc(2019, 2, 17, 4, 0)),
    ]


# --- next_change and state ------------------------------------------------------------------


def test_next_change_of_a_one_off_silence() -> None:
    silence = one_off(utc(2026, 3, 2, 9), utc(2026, 3, 2, 10))
    assert next_change(silence, utc(2026, 3, 2, 8)) == utc(2026, 3, 2, 9)
    assert next_change(silence, utc(2026, 3, 2, 9, 30)) == utc(2026, 3, 2, 10)
    assert next_change(silence, utc(2026, 3, 2, 10)) is None
    assert next_change(one_off(utc(2026, 3, 2, 9), None), utc(2026, 3, 2, 9, 30)) is None
    assert [state(silence, utc(2026, 3, 2, h)) for h in (8, 9, 10)] == [
        "pending",
        "active",
        "expired",
    ]


def test_next_change_skips_back_to_back_windows() -> None:
    always = window("00:00", "00:00")
    assert next_change(always, utc(2026, 3, 2, 12)) is None
    weekdays = window("00:00", "00:00", days=("mon", "tue", "wed", "thu", "fri"))
    assert next_change(weekdays, utc(2026, 3, 2, 12)) == utc(2026, 3, 7)  # Saturday 00:00
    assert next_change(weekdays, utc(2026, 3, 7, 12)) == utc(2026, 3, 9)


def test_next_change_of_a_window_starting_far_ahead() -> None:
    silence = window("03:00", "04:00", days=("wed",)).model_copy(update={"starts": utc(2026, 6, 1)})
    assert next_change(silence, utc(2026, 3, 2)) == utc(2026, 6, 3, 3)
    assert state(silence, utc(2026, 3, 2)) == "pending"


def test_extreme_dates_do_not_overflow() -> None:
    for tz in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        far = window("22:00", "06:00", tz).model_copy(update={"starts": utc(9999, 12, 31, 23)})
        assert not is_active(far, utc(2026, 3, 2))
        next_change(far, utc(2026, 3, 2))
        past = window("22:00", "06:00", tz).model_copy(update={"ends": utc(1, 1, 1, 1)})
        assert next_change(past, utc(2026, 3, 2)) is None


# --- identity, expiry, serialisation --------------------------------------------------------


def test_config_silence_id_is_derived_from_the_name_only() -> None:
    spec = SilenceSpec(
        name="weekly-db-maintenance",
        match=(parse('service="orders-db"'),),
        comment="vacuum",
        created_by="dba",
        every=Recurring(days=("sun",), start="02:00", end="04:00", timezone="Europe/Paris"),
    )
    silence = Silence.from_spec(spec)
    assert silence.id == config_id("weekly-db-maintenance")
    assert silence.id.startswith("config-")
    assert silence.origin == "config"
    assert (silence.name, silence.comment, silence.created_by) == (
        "weekly-db-maintenance",
        "vacuum",
        "dba",
    )
    assert silence.every == spec.every
    edited = Silence.from_spec(spec.model_copy(update={"comment": "vacuum full"}))
    assert edited.id == silence.id
    assert Silence.from_spec(spec.model_copy(update={"name": "other"})).id != silence.id
    file = SilencesFile(silences=(spec, spec.model_copy(update={"name": "b"})))
    assert [s.name for s in from_file(file)] == ["weekly-db-maintenance", "b"]


def test_expired_ends_an_active_silence_now_and_keeps_it() -> None:
    now = utc(2026, 3, 2, 9, 30)
    silence = one_off(utc(2026, 3, 2, 9), utc(2026, 3, 2, 10))
    done = expired(silence, now)
    assert (done.starts, done.ends) == (utc(2026, 3, 2, 9), now)
    assert not is_active(done, now)
    assert done.matchers == silence.matchers


def test_expired_pending_silence_starts_and_ends_now() -> None:
    now = utc(2026, 3, 2, 8)
    done = expired(one_off(utc(2026, 3, 2, 9), utc(2026, 3, 2, 10)), now)
    assert (done.starts, done.ends) == (now, now)
    assert next_change(done, now) is None


def test_expired_leaves_an_ended_silence_alone() -> None:
    silence = one_off(utc(2026, 3, 2, 9), utc(2026, 3, 2, 10))
    assert expired(silence, utc(2026, 3, 2, 11)) == silence


def test_silence_round_trips_through_json_with_matchers_as_text() -> None:
    silence = Silence(
        id="5b0d",
        origin="api",
        matchers=(parse('service="db"'), parse('instance=~"db-[0-9]+"'), parse('x!="q\\"uo"')),
        name="n",
        comment="Migration — ✓",
        created_by="ops@example.com",
        starts=utc(2026, 3, 2, 9),
        every=Recurring(days=("sat", "sun"), start="22:00", end="06:00", timezone="Asia/Tokyo"),
        created_at=utc(2026, 3, 1),
    )
    text = silence.model_dump_json()
    assert '"service=\\"db\\""' in text
    again = Silence.model_validate_json(text)
    assert again == silence
    assert again.matchers[1].matches_value("db-12")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("matchers", ['service="db']),
        ("matchers", ['x=~"("']),
        ("matchers", [{"name": "x", "op": "=~", "value": "(", "pattern": None}]),
        ("matchers", []),
        ("starts", "2026-03-02T09:00:00"),
        ("origin", "yaml"),
    ],
)
def test_stored_silence_with_bad_values_is_refused(field: str, value: object) -> None:
    raw = {"id": "x", "origin": "api", "matchers": ['a="b"'], field: value}
    with pytest.raises(ValidationError):
        Silence.model_validate(raw)


# --- matching -------------------------------------------------------------------------------


def test_silenced_by_names_the_active_matching_silences_in_order() -> None:
    now = utc(2026, 3, 2, 9, 30)
    db = Silence(id="db", origin="api", matchers=(parse('team="db"'),), ends=now + MIN)
    regex = Silence(
        id="re", origin="api", matchers=(parse('instance=~"db-[0-9]+"'), parse('env!="prod"'))
    )
    later = Silence(id="later", origin="api", matchers=(parse('team="db"'),), starts=now + MIN)
    other = Silence(id="other", origin="api", matchers=(parse('team="web"'),))
    silences = [db, regex, later, other]
    alert = make_alert({"team": "db", "instance": "db-12", "env": "staging"})
    assert silenced_by(alert, silences, now) == ("db", "re")
    assert silenced_by(alert, silences, now + MIN) == ("re", "later")
    prod = make_alert({"team": "db", "instance": "db-12", "env": "prod"})
    assert silenced_by(prod, silences, now) == ("db",)
    assert silenced_by(make_alert({}), silences, now) == ()


def test_active_at_filters_once_then_matching_needs_no_clock() -> None:
    now = utc(2026, 3, 2, 9, 30)
    on = one_off(utc(2026, 3, 2, 9), utc(2026, 3, 2, 10))
    off = one_off(utc(2026, 3, 2, 10), utc(2026, 3, 2, 11)).model_copy(update={"id": "off"})
    active = active_at([on, off], now)
    assert active == (on,)
    assert matching(make_alert({"team": "db"}), active) == ("o",)


def test_service_matchers_can_read_the_impact_map_service() -> None:
    silence = Silence(id="s", origin="api", matchers=(parse('service="orders-db"'),))
    alert = make_alert({}, service="postgres-primary")
    assert matching(alert, [silence]) == ()
    assert matching(alert, [silence], service="orders-db") == ("s",)
    assert matching(make_alert({}, service="orders-db"), [silence], service=None) == ()


@pytest.mark.parametrize(
    ("texts", "everything"),
    [
        (['team!="db"'], True),
        (['team=~".*"', 'env=""'], True),
        (['team="db"'], False),
        (['team!="db"', 'env=~".+"'], False),
        (['severity!~"critical|error"'], True),
    ],
)
def test_matches_everything(texts: list[str], everything: bool) -> None:
    assert matches_everything(parse(t) for t in texts) is everything


# --- property: agrees with a minute-by-minute reading of the wall clock ---------------------

ZONES_AND_CHANGES = {
    "Europe/Paris": [utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)],
    "America/New_York": [utc(2026, 3, 8, 7), utc(2026, 11, 1, 6)],
    "Australia/Lord_Howe": [utc(2026, 4, 4, 15), utc(2026, 10, 3, 15, 30)],  # 30-minute DST
    "America/Sao_Paulo": [utc(2018, 11, 4, 3), utc(2019, 2, 17, 2)],  # changes at midnight
    "Pacific/Apia": [utc(2011, 12, 30, 10)],  # skipped 2011-12-30 entirely
    "Asia/Kolkata": [utc(2026, 3, 2)],
}


def reference_windows(every: Recurring, around: datetime) -> list[tuple[datetime, datetime]]:
    """Windows found by reading the wall clock minute by minute: a window starts at the first
    minute the clock reads its start or later, and ends at the first that reads its end."""
    zone = ZoneInfo(every.timezone)
    first = around - timedelta(days=5)
    minutes = [first + i * MIN for i in range(11 * 24 * 60)]
    walls = [m.astimezone(zone).replace(tzinfo=None) for m in minutes]

    def when(day: date, clock: str) -> datetime:
        target = datetime.combine(day, time.fromisoformat(clock))
        return next(m for m, wall in zip(minutes, walls, strict=True) if wall >= target)

    days = {["mon", "tue", "wed", "thu", "fri", "sat", "sun"].index(d) for d in every.days}
    today = around.astimezone(zone).date()
    out = []
    for day in (today + timedelta(days=n) for n in range(-3, 4)):
        if day.weekday() in days:
            end_day = day if every.end > every.start else day + timedelta(days=1)
            begin, end = when(day, every.start), when(end_day, every.end)
            if end > begin:
                out.append((begin, end))
    return out


clock_times = st.builds(
    lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59])
)


@st.composite
def windows_near_clock_changes(draw: st.DrawFn) -> tuple[Recurring, datetime]:
    zone = draw(st.sampled_from(sorted(ZONES_AND_CHANGES)))
    change = draw(st.sampled_from(ZONES_AND_CHANGES[zone]))
    now = change + draw(st.integers(-36 * 60, 36 * 60)) * MIN
    days = draw(
        st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), unique=True)
    )
    every = Recurring(
        days=tuple(days), start=draw(clock_times), end=draw(clock_times), timezone=zone
    )
    return every, now


@settings(max_examples=60, deadline=None)
@given(windows_near_clock_changes())
def test_is_active_and_next_change_agree_with_the_wall_clock(
    case: tuple[Recurring, datetime],
) -> None:
    every, now = case
    silence = Silence(id="p", origin="api", matchers=(parse('a="b"'),), every=every)
    reference = reference_windows(every, now)
    for t in (now + n * MIN for n in range(-120, 24 * 60, 7)):
        expected = any(begin <= t < end for begin, end in reference)
        assert is_active(silence, t) is expected, t
    change = next_change(silence, now)
    current = is_active(silence, now)
    if change is None:
        assert all(is_active(silence, now + n * timedelta(hours=5)) is current for n in range(40))
        return
    assert change > now
    assert is_active(silence, change) is not current
    assert is_active(silence, change - SECOND) is current
    # The reference knows every window that can hold an instant up to 36 hours ahead; its
    # first boundary that flips the state within that horizon is where next_change points.
    horizon = now + timedelta(hours=36)
    boundaries = sorted(t for w in reference for t in w if now < t < horizon)
    flips = [t for t in boundaries if any(b <= t < e for b, e in reference) is not current]
    if flips:
        assert change == flips[0]
    else:
        assert change >= horizon
