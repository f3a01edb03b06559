"""What the declarer reads of an incident that widened: the services and root causes it
reaches now and did not before (`_widened` looks for the groups waiting on them)."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from incidentd.declare.declarer import _reached
from incidentd.declare.incident import Incident
from tests.unit.test_declare_incident import incident

names = st.sets(st.sampled_from("abcdefgh"))


def _with(base: Incident, services: set[str], causes: set[str]) -> Incident:
    return dataclasses.replace(base, services=tuple(sorted(services)), root_causes=tuple(causes))


@given(names, names, names, names, st.booleans(), st.booleans())
def test_reached_is_what_the_incident_holds_now_and_held_in_neither_list_before(
    services: set[str],
    causes: set[str],
    more_services: set[str],
    more_causes: set[str],
    same_services: bool,
    same_causes: bool,
) -> None:
    before = _with(incident(), services, causes)
    after = dataclasses.replace(
        before,
        services=before.services if same_services else tuple(sorted(services | more_services)),
        root_causes=before.root_causes if same_causes else tuple(causes | more_causes),
    )
    expected = {*after.services, *after.root_causes} - {*before.services, *before.root_causes}
    assert _reached(before, after) == expected
    assert _reached(None, after) == {*after.services, *after.root_causes}
