"""On-call schedules: rotations and handoffs (across DST changes), layers, restrictions,
overrides, the errors for an unknown team or nobody on call, and oncall.yaml validation."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from incidentd.act.oncall import LOOKAHEAD, OncallFile
from incidentd.act.target import Person
from incidentd.errors import ConfigInvalid, NobodyOnCall, UnknownPerson, UnknownTeam
from incidentd.rules.loader import load

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")

PEOPLE = """
people:
  alice: {slack: U01ALICE, email: alice@shop.example, pagerduty: PALICE1}
  bob: {slack: U02BOB, email: bob@shop.example}
  carol: {slack: U03CAROL, opsgenie: carol@shop.example}
  dave: {slack: U04DAVE}
  erin: {slack: U05ERIN}
  frank: {email: frank@shop.example}
"""

WEEKLY_PARIS = """
teams:
  payments:
    time_zone: Europe/Paris
    layers:
      - name: weekly
        rotation: [alice, bob, carol]
        start: 2026-01-05T09:00      # a Monday
        every: 1w
"""


def schedule(*parts: str) -> OncallFile:
    text = "\n".join(textwrap.dedent(p) for p in (PEOPLE, *parts))
    return OncallFile.model_validate(yaml.safe_load(text))


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def new_york(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def who(file: OncallFile, team: str, at: datetime) -> list[str]:
    return [person.name for person in file.on_call(team, at)]


# --- rotations and handoffs ------------------------------------------------------------------


def test_a_weekly_rotation_hands_off_at_the_local_handoff_time_and_wraps() -> None:
    file = schedule(WEEKLY_PARIS)
    assert who(file, "payments", paris(2026, 1, 5, 9, 0)) == ["alice"]
    assert who(file, "payments", paris(2026, 1, 12, 8, 59)) == ["alice"]
    assert who(file, "payments", paris(2026, 1, 12, 9, 0)) == ["bob"]
    assert who(file, "payments", paris(2026, 1, 19, 9, 0)) == ["carol"]
    assert who(file, "payments", paris(2026, 1, 26, 9, 0)) == ["alice"]


def test_on_call_gives_the_people_with_their_identities() -> None:
    [alice] = schedule(WEEKLY_PARIS).on_call("payments", paris(2026, 1, 6, 3, 0))
    assert alice == Person(
        name="alice", slack="U01ALICE", email="alice@shop.example", pagerduty="PALICE1"
    )


def test_weekly_handoff_stays_at_0900_in_paris_across_the_spring_forward_change() -> None:
    """Paris moves from CET (+01:00) to CEST (+02:00) on Sunday 2026-03-29: the week from
    Monday 03-23 09:00 CET to Monday 03-30 09:00 CEST lasts 167 hours, not 168."""
    file = schedule(WEEKLY_PARIS)
    assert who(file, "payments", paris(2026, 3, 23, 9, 0)) == ["carol"]
    assert who(file, "payments", paris(2026, 3, 29, 12, 0)) == ["carol"]  # after the change
    assert who(file, "payments", utc(2026, 3, 30, 6, 59)) == ["carol"]  # 08:59 CEST
    assert who(file, "payments", utc(2026, 3, 30, 7, 0)) == ["alice"]  # 09:00 CEST
    assert who(file, "payments", utc(2026, 3, 30, 7, 30)) == ["alice"]  # 168 h would say carol
    [shift] = file.shifts("payments", paris(2026, 3, 29, 12, 0))
    assert shift.until == utc(2026, 3, 30, 7, 0)


def test_weekly_handoff_stays_at_0900_in_paris_across_the_fall_back_change() -> None:
    """Paris moves back to CET on Sunday 2026-10-25: that week lasts 169 hours."""
    file = schedule(WEEKLY_PARIS)
    assert who(file, "payments", utc(2026, 10, 19, 7, 0)) == ["carol"]  # 09:00 CEST
    assert who(file, "payments", paris(2026, 10, 25, 12, 0)) == ["carol"]
    assert who(file, "payments", utc(2026, 10, 26, 7, 30)) == ["carol"]  # 08:30 CET
    assert who(file, "payments", utc(2026, 10, 26, 8, 0)) == ["alice"]  # 09:00 CET
    [shift] = file.shifts("payments", utc(2026, 10, 20, 0, 0))
    assert shift.until == utc(2026, 10, 26, 8, 0)


NEW_YORK_12H = """
teams:
  platform:
    time_zone: America/New_York
    layers:
      - name: half-days
        rotation: [dave, erin]
        start: 2026-03-01T09:00
        every: 12h
"""


def test_a_12h_rotation_hands_off_at_0900_and_2100_in_new_york_across_spring_forward() -> None:
    """New York moves from EST (-05:00) to EDT (-04:00) at 02:00 on Sunday 2026-03-08: the
    night shift from Saturday 21:00 EST to Sunday 09:00 EDT lasts 11 hours."""
    file = schedule(NEW_YORK_12H)
    assert who(file, "platform", new_york(2026, 3, 7, 9, 0)) == ["dave"]
    assert who(file, "platform", new_york(2026, 3, 7, 21, 0)) == ["erin"]
    assert who(file, "platform", utc(2026, 3, 8, 12, 59)) == ["erin"]  # 08:59 EDT
    assert who(file, "platform", utc(2026, 3, 8, 13, 0)) == ["dave"]  # 09:00 EDT
    assert who(file, "platform", utc(2026, 3, 9, 0, 59)) == ["dave"]  # 20:59 EDT
    assert who(file, "platform", utc(2026, 3, 9, 1, 0)) == ["erin"]  # 21:00 EDT
    [night] = file.shifts("platform", new_york(2026, 3, 7, 22, 0))
    assert night.until == utc(2026, 3, 8, 13, 0)
    assert utc(2026, 3, 8, 13, 0) - new_york(2026, 3, 7, 21, 0) == timedelta(hours=11)


def test_a_12h_rotation_keeps_its_local_handoffs_across_the_new_york_fall_back() -> None:
    """Back to EST at 02:00 EDT on Sunday 2026-11-01: that night shift lasts 13 hours."""
    file = schedule(NEW_YORK_12H)
    night = who(file, "platform", new_york(2026, 10, 31, 21, 0))
    day = who(file, "platform", new_york(2026, 11, 1, 9, 0))
    assert night != day
    assert who(file, "platform", utc(2026, 11, 1, 13, 30)) == night  # 08:30 EST
    assert who(file, "platform", utc(2026, 11, 1, 14, 0)) == day  # 09:00 EST
    [shift] = file.shifts("platform", new_york(2026, 10, 31, 21, 0))
    assert shift.until == utc(2026, 11, 1, 14, 0)
    assert utc(2026, 11, 1, 14, 0) - new_york(2026, 10, 31, 21, 0) == timedelta(hours=13)


def test_a_daily_rotation_in_new_york_is_right_on_both_sides_of_the_fall_back() -> None:
    file = schedule(
        """
        teams:
          identity:
            time_zone: America/New_York
            layers:
              - {name: daily, rotation: [alice, bob, carol], start: 2026-10-30T09:00, every: 1d}
        """
    )
    assert who(file, "identity", new_york(2026, 10, 30, 9, 0)) == ["alice"]
    assert who(file, "identity", new_york(2026, 10, 31, 9, 0)) == ["bob"]
    assert who(file, "identity", utc(2026, 11, 1, 12, 59)) == ["bob"]  # 07:59 EST
    assert who(file, "identity", utc(2026, 11, 1, 13, 59)) == ["bob"]  # 08:59 EST
    assert who(file, "identity", utc(2026, 11, 1, 14, 0)) == ["carol"]  # 09:00 EST


def test_a_handoff_in_the_hour_skipped_in_spring_happens_when_the_clock_jumps() -> None:
    """02:30 does not exist in Paris on 2026-03-29 (02:00 CET -> 03:00 CEST): the handoff
    happens at the jump, 03:00 CEST (01:00 UTC), like a silence window's edge."""
    file = schedule(
        """
        teams:
          dba:
            time_zone: Europe/Paris
            layers:
              - {name: nights, rotation: [alice, bob], start: 2026-03-27T02:30, every: 1d}
        """
    )
    assert who(file, "dba", paris(2026, 3, 28, 2, 30)) == ["bob"]
    assert who(file, "dba", utc(2026, 3, 29, 0, 59)) == ["bob"]  # 01:59 CET
    assert who(file, "dba", utc(2026, 3, 29, 1, 0)) == ["alice"]  # 03:00 CEST
    assert who(file, "dba", paris(2026, 3, 30, 2, 29)) == ["alice"]
    assert who(file, "dba", paris(2026, 3, 30, 2, 30)) == ["bob"]


def test_before_its_first_handoff_a_layer_is_off_and_the_error_says_when_it_starts() -> None:
    file = schedule(WEEKLY_PARIS)
    with pytest.raises(NobodyOnCall) as raised:
        file.on_call("payments", paris(2026, 1, 5, 8, 59))
    assert str(raised.value) == (
        "nobody is on call for team 'payments' at 2026-01-05T08:59:00+01:00: no layer is on "
        "then (next on call from 2026-01-05T09:00:00+01:00)"
    )
    assert raised.value.next_on_call == paris(2026, 1, 5, 9, 0)


# --- layers and restrictions -----------------------------------------------------------------

LAYERED = """
teams:
  web:
    time_zone: Europe/Paris
    layers:
      - name: weekly
        rotation: [alice, bob]
        start: 2026-01-05T09:00
        every: 1w
      - name: business-hours
        rotation: [dave, erin]
        start: 2026-01-05T09:00
        every: 1d
        restrictions:
          - {days: [mon, tue, wed, thu, fri], start: "09:00", end: "18:00"}
      - name: weekend
        rotation: [frank]
        start: 2026-01-02T18:00
        every: 1w
        restrictions:
          - {days: [fri], start: "18:00", end: "mon 09:00"}
"""


def test_later_layers_win_where_they_are_on() -> None:
    file = schedule(LAYERED)
    # Monday 2026-02-02, week 4 of the weekly layer (alice), day 28 of the daily one (dave).
    assert who(file, "web", paris(2026, 2, 2, 8, 59)) == ["frank"]
    assert who(file, "web", paris(2026, 2, 2, 9, 0)) == ["dave"]
    assert who(file, "web", paris(2026, 2, 2, 17, 59)) == ["dave"]
    assert who(file, "web", paris(2026, 2, 2, 18, 0)) == ["alice"]
    assert who(file, "web", paris(2026, 2, 3, 10, 0)) == ["erin"]
    assert who(file, "web", paris(2026, 2, 6, 17, 59)) == ["dave"]
    assert who(file, "web", paris(2026, 2, 6, 18, 0)) == ["frank"]
    assert who(file, "web", paris(2026, 2, 8, 23, 0)) == ["frank"]


def test_shifts_name_the_layer_and_when_the_person_stops_being_on_call() -> None:
    file = schedule(LAYERED)
    [shift] = file.shifts("web", paris(2026, 2, 2, 12, 0))
    assert (shift.person.name, shift.kind, shift.name) == ("dave", "layer", "business-hours")
    assert shift.until == paris(2026, 2, 2, 18, 0)
    [evening] = file.shifts("web", paris(2026, 2, 2, 20, 0))
    assert (evening.person.name, evening.name) == ("alice", "weekly")
    assert evening.until == paris(2026, 2, 3, 9, 0)  # erin's business hours begin


def test_a_rotation_keeps_turning_while_its_layer_is_restricted() -> None:
    """PagerDuty semantics: turns follow the clock, restrictions only hide them. Saturday's
    and Sunday's turns (carol, alice) pass unseen: bob has Friday and Monday."""
    file = schedule(
        """
        teams:
          catalog:
            time_zone: Europe/Paris
            layers:
              - name: office
                rotation: [alice, bob, carol]
                start: 2026-01-05T09:00
                every: 1d
                restrictions: [{days: [mon, tue, wed, thu, fri], start: "09:00", end: "18:00"}]
        """
    )
    assert who(file, "catalog", paris(2026, 1, 9, 10, 0)) == ["bob"]  # Friday, turn 4
    assert who(file, "catalog", paris(2026, 1, 12, 10, 0)) == ["bob"]  # Monday, turn 7


def test_a_restricted_layer_alone_leaves_gaps_that_are_a_clear_error() -> None:
    file = schedule(
        """
        teams:
          catalog:
            time_zone: Europe/Paris
            layers:
              - name: office
                rotation: [bob]
                start: 2026-01-05T09:00
                every: 1w
                restrictions: [{days: [mon, tue, wed, thu, fri], start: "09:00", end: "18:00"}]
        """
    )
    assert who(file, "catalog", paris(2026, 2, 6, 17, 0)) == ["bob"]
    with pytest.raises(NobodyOnCall) as raised:
        file.on_call("catalog", paris(2026, 2, 7, 11, 0))
    assert raised.value.next_on_call == paris(2026, 2, 9, 9, 0)
    assert "next on call from 2026-02-09T09:00:00+01:00" in str(raised.value)
    assert file.names_on_call("catalog", paris(2026, 2, 7, 11, 0)) == ()


def test_a_layer_ends_and_the_layer_that_replaces_it_takes_over() -> None:
    file = schedule(
        """
        teams:
          discovery:
            time_zone: Europe/Paris
            layers:
              - {name: old, rotation: [alice, bob], start: 2026-01-05T09:00, every: 1w,
                 end: 2026-03-02T09:00}
              - {name: new, rotation: [carol, dave, erin], start: 2026-03-02T09:00, every: 1w}
        """
    )
    assert who(file, "discovery", paris(2026, 3, 2, 8, 59)) == ["bob"]
    assert who(file, "discovery", paris(2026, 3, 2, 9, 0)) == ["carol"]
    assert who(file, "discovery", paris(2026, 3, 9, 9, 0)) == ["dave"]


def test_a_restriction_running_past_midnight() -> None:
    file = schedule(
        """
        teams:
          data-platform:
            time_zone: America/New_York
            layers:
              - {name: days, rotation: [alice], start: 2026-01-05T00:00, every: 1w}
              - name: nights
                rotation: [bob]
                start: 2026-01-05T00:00
                every: 1w
                restrictions: [{start: "20:00", end: "08:00"}]
        """
    )
    assert who(file, "data-platform", new_york(2026, 1, 7, 19, 59)) == ["alice"]
    assert who(file, "data-platform", new_york(2026, 1, 7, 20, 0)) == ["bob"]
    assert who(file, "data-platform", new_york(2026, 1, 8, 7, 59)) == ["bob"]
    assert who(file, "data-platform", new_york(2026, 1, 8, 8, 0)) == ["alice"]


# --- overrides -------------------------------------------------------------------------------

OVERRIDES = """
    overrides:
      - {person: dave, start: 2026-12-24T18:00, end: 2026-12-26T09:00, note: Christmas}
      - {person: erin, start: 2026-12-25T10:00, end: 2026-12-25T14:00}
      - {person: frank, start: 2026-12-25T10:00, end: 2026-12-25T12:00}
"""


def test_an_override_replaces_whoever_the_layers_give_then_the_rotation_resumes() -> None:
    file = schedule(WEEKLY_PARIS + OVERRIDES)
    # Week of Monday 2026-12-21: turn 50, 50 % 3 = 2 (carol); 12-28: turn 51 (alice).
    assert who(file, "payments", paris(2026, 12, 24, 17, 59)) == ["carol"]
    assert who(file, "payments", paris(2026, 12, 24, 18, 0)) == ["dave"]
    [shift] = file.shifts("payments", paris(2026, 12, 24, 18, 0))
    assert (shift.kind, shift.name, shift.until) == (
        "override",
        "Christmas",
        paris(2026, 12, 26, 9, 0),
    )
    assert who(file, "payments", paris(2026, 12, 26, 9, 0)) == ["carol"]
    assert who(file, "payments", paris(2026, 12, 28, 9, 0)) == ["alice"]


def test_overlapping_overrides_put_every_one_of_their_people_on_call() -> None:
    file = schedule(WEEKLY_PARIS + OVERRIDES)
    assert who(file, "payments", paris(2026, 12, 25, 11, 0)) == ["dave", "erin", "frank"]
    shifts = file.shifts("payments", paris(2026, 12, 25, 11, 0))
    assert [(s.person.name, s.until) for s in shifts] == [
        ("dave", paris(2026, 12, 26, 9, 0)),
        ("erin", paris(2026, 12, 25, 14, 0)),
        ("frank", paris(2026, 12, 25, 12, 0)),
    ]


def test_an_override_fills_a_gap_in_the_layers() -> None:
    file = schedule(
        """
        teams:
          notifications:
            time_zone: Europe/Paris
            overrides:
              - {person: bob, start: 2026-05-01T00:00, end: 2026-05-02T00:00}
        """
    )
    assert who(file, "notifications", paris(2026, 5, 1, 12, 0)) == ["bob"]


# --- errors and look-ups ---------------------------------------------------------------------


def test_an_empty_schedule_is_a_clear_error() -> None:
    file = schedule("teams:\n  notifications: {time_zone: Europe/Paris}\n")
    with pytest.raises(NobodyOnCall) as raised:
        file.on_call("notifications", utc(2026, 5, 1, 12, 0))
    assert str(raised.value) == (
        "nobody is on call for team 'notifications' at 2026-05-01T14:00:00+02:00: "
        "its schedule has no layers"
    )
    assert raised.value.next_on_call is None
    assert file.names_on_call("notifications", utc(2026, 5, 1, 12, 0)) == ()


def test_an_unknown_team_is_a_clear_error_that_suggests_a_close_name() -> None:
    file = schedule(WEEKLY_PARIS)
    with pytest.raises(UnknownTeam) as raised:
        file.on_call("payment", utc(2026, 5, 1, 12, 0))
    assert str(raised.value) == (
        "no on-call schedule for team 'payment' in oncall.yaml (did you mean 'payments'?)"
    )
    assert file.names_on_call("payment", utc(2026, 5, 1, 12, 0)) == ()
    with pytest.raises(UnknownTeam, match=r"oncall\.yaml has no teams"):
        OncallFile().on_call("payments", utc(2026, 5, 1, 12, 0))


def test_names_on_call_is_what_the_action_planner_calls() -> None:
    file = schedule(WEEKLY_PARIS + OVERRIDES)
    assert file.names_on_call("payments", paris(2026, 12, 25, 11, 0)) == ("dave", "erin", "frank")


def test_person_and_people_turn_names_into_identities() -> None:
    file = schedule(WEEKLY_PARIS)
    assert file.person("carol") == Person(
        name="carol", slack="U03CAROL", opsgenie="carol@shop.example"
    )
    with pytest.raises(UnknownPerson, match=r"no person named 'carole' in oncall\.yaml"):
        file.person("carole")
    assert file.identities(["bob", "Chris Commander"]) == (
        Person(name="bob", slack="U02BOB", email="bob@shop.example"),
        Person(name="Chris Commander"),
    )


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule(WEEKLY_PARIS).on_call("payments", datetime(2026, 1, 5, 9, 0))  # noqa: DTZ001


def test_a_single_person_rotation_has_no_end_in_sight() -> None:
    file = schedule(
        """
        teams:
          solo:
            time_zone: UTC
            layers: [{name: only, rotation: [alice], start: 2026-01-01T00:00, every: 1d}]
        """
    )
    [shift] = file.shifts("solo", utc(2026, 6, 1))
    assert shift.until is None
    assert timedelta(days=30) <= LOOKAHEAD


def test_local_reads_a_wall_clock_time_in_the_teams_zone() -> None:
    file = schedule(WEEKLY_PARIS)
    assert file.team("payments").instant(datetime(2026, 7, 1, 9, 0)) == utc(2026, 7, 1, 7, 0)  # noqa: DTZ001
    # Skipped by the spring-forward jump: the jump itself.
    assert file.team("payments").instant(datetime(2026, 3, 29, 2, 30)) == utc(2026, 3, 29, 1, 0)  # noqa: DTZ001


# --- hypothesis: one person per layer, handoffs on the local clock ----------------------------

ZONES = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"]
LENGTHS = {
    "12h": timedelta(hours=12),
    "1d": timedelta(days=1),
    "2d": timedelta(days=2),
    "1w": timedelta(weeks=1),
}


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    every=st.sampled_from(sorted(LENGTHS)),
    size=st.integers(min_value=1, max_value=5),
    offset=st.integers(min_value=0, max_value=2 * 365 * 24 * 60),
)
def test_one_person_per_layer_at_any_instant_and_handoffs_at_local_0900_or_2100(
    zone: str, every: str, size: int, offset: int
) -> None:
    names = ["alice", "bob", "carol", "dave", "erin"][:size]
    file = schedule(
        f"""
        teams:
          t:
            time_zone: {zone}
            layers:
              - {{name: l, rotation: [{", ".join(names)}], start: 2026-01-05T09:00, every: {every}}}
        """
    )
    tz = ZoneInfo(zone)
    start = datetime(2026, 1, 5, 9, 0, tzinfo=tz)
    at = start + timedelta(minutes=offset)
    [shift] = file.shifts("t", at)
    # Brute force: count the handoffs (at 09:00 or 21:00 local, none in a DST gap) up to `at`.
    turn, local = 0, datetime(2026, 1, 5, 9, 0)  # noqa: DTZ001
    while True:
        nxt = (local + LENGTHS[every]).replace(tzinfo=tz)
        if nxt > at:
            break
        turn, local = turn + 1, local + LENGTHS[every]
    assert shift.person.name == names[turn % size]
    if size > 1:
        assert shift.until == nxt.astimezone(UTC)
        assert shift.until.astimezone(tz).strftime("%H:%M") in ("09:00", "21:00")


# --- oncall.yaml through the loader: file:line -------------------------------------------------


def _problems(directory: Path, **files: str) -> list[str]:
    for name, text in files.items():
        (directory / f"{name}.yaml").write_text(textwrap.dedent(text))
    try:
        return list(load(directory, env={}).warnings)
    except ConfigInvalid as invalid:
        return [str(p) for p in invalid.problems]


def test_schema_errors_name_their_line(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        oncall="""\
        people:
          alice: {slack: alice}
          bob: {email: bob@shop.example, phone: "+33 6 00 00 00 00"}
        teams:
          payments:
            time_zone: Europe/Pariss
            layers:
              - name: weekly
                rotation: []
                start: 2026-01-05T09:00+01:00
                every: 30m
              - name: daily
                rotation: [alice]
                start: 2026-01-05T09:00
                every: fortnight
            overrides:
              - {person: bob, start: 2026-12-26T09:00, end: 2026-12-24T18:00}
        """,
    )
    assert problems == [
        "oncall.yaml:2: people.alice.slack: a Slack member id starts with U or W, like U0123ABCD",
        "oncall.yaml:3: unknown key 'phone'",
        "oncall.yaml:6: teams.payments.time_zone: unknown time zone 'Europe/Pariss' "
        "(use an IANA name like Europe/Paris)",
        "oncall.yaml:9: teams.payments.layers.0.rotation: a rotation needs at least one person",
        "oncall.yaml:10: teams.payments.layers.0.start: write the team's local time without "
        "an offset, like 2026-01-05T09:00 (time_zone applies)",
        "oncall.yaml:11: teams.payments.layers.0.every: a rotation turn lasts at least 1h",
        "oncall.yaml:15: teams.payments.layers.1.every: 'fortnight' is not a rotation length "
        "like 8h, 12h, 1d or 1w",
        "oncall.yaml:17: teams.payments.overrides.0: end must be after start",
    ]


def test_names_oncall_yaml_does_not_know_are_errors_with_their_line(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        oncall="""\
        people:
          alice: {slack: U01ALICE}
          bob: {slack: U02BOB}
        teams:
          payments:
            time_zone: Europe/Paris
            layers:
              - name: weekly
                rotation: [alice, bobb]
                start: 2026-01-05T09:00
                every: 1w
              - {name: weekly, rotation: [bob], start: 2026-01-05T09:00, every: 1d}
            overrides:
              - {person: zoe, start: 2026-12-24T18:00, end: 2026-12-26T09:00}
        """,
    )
    assert problems == [
        "oncall.yaml:9: team 'payments', layer 'weekly': no person named 'bobb' under people: "
        "(did you mean 'bob'?)",
        "oncall.yaml:12: team 'payments': two layers are named 'weekly'",
        "oncall.yaml:14: team 'payments', override 1: no person named 'zoe' under people:",
    ]


def test_warnings_for_an_empty_team_an_unreachable_person_and_an_unscheduled_owner(
    tmp_path: Path,
) -> None:
    problems = _problems(
        tmp_path,
        services="""\
        services:
          checkout: {owner: payments}
          search: {owner: discovery}
          recommendations: {owner: discovery}
        """,
        oncall="""\
        people:
          alice: {slack: U01ALICE}
          bob: {}
        teams:
          payments:
            time_zone: Europe/Paris
            layers: [{name: weekly, rotation: [alice, bob], start: 2026-01-05T09:00, every: 1w}]
          web:
            time_zone: Europe/Paris
        """,
    )
    assert problems == [
        "oncall.yaml:3: warning: person 'bob' has no slack, email, opsgenie or pagerduty "
        "identity: no tool can reach them",
        "oncall.yaml:8: warning: team 'web' has no layers: nobody is on call for it outside "
        "its overrides",
        "services.yaml:3: warning: team 'discovery' (owner of search, recommendations) has no "
        "schedule in oncall.yaml: nobody on call is paged for its services",
    ]


def test_no_oncall_yaml_means_no_schedule_warnings(tmp_path: Path) -> None:
    assert _problems(tmp_path, services="services:\n  checkout: {owner: payments}\n") == []
    assert load(tmp_path, env={}).oncall == OncallFile()


def test_an_oncall_file_built_in_code_is_validated_too() -> None:
    with pytest.raises(ValidationError):
        OncallFile.model_validate({"teams": {"x": {"time_zone": "Mars/Olympus"}}})
