"""Flapping from the times of status changes."""

from __future__ import annotations

from incidentd.correlate.flapping import is_flapping
from incidentd.rules.schema import Flapping
from tests.unit.alerts import at

SPEC = Flapping(changes=4, window="10m", stable_for="15m")  # type: ignore[arg-type]


def test_more_changes_than_allowed_within_the_window_is_flapping() -> None:
    times = [at(m) for m in (0, 1, 2, 3, 4)]
    assert is_flapping(times, now=at(4), spec=SPEC)


def test_as_many_changes_as_allowed_is_not_flapping() -> None:
    times = [at(m) for m in (0, 1, 2, 3)]
    assert not is_flapping(times, now=at(3), spec=SPEC)


def test_changes_spread_wider_than_the_window_are_not_flapping() -> None:
    times = [at(m) for m in (0, 5, 11, 17, 23)]
    assert not is_flapping(times, now=at(23), spec=SPEC)


def test_flapping_lasts_until_stable_for_long_enough() -> None:
    times = [at(m) for m in (0, 1, 2, 3, 4)]
    assert is_flapping(times, now=at(18), spec=SPEC)
    assert not is_flapping(times, now=at(20), spec=SPEC)
    later_quiet_change = [*times, at(25)]
    assert not is_flapping(later_quiet_change, now=at(25), spec=SPEC)
