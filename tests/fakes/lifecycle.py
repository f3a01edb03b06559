"""Requests for the later events of an incident's life (reopened, SLA breached, reminder) and
the people to involve, built by the real declaration code like `tests.fakes.incident`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from incidentd.act.target import ActionEvent, ActionRequest, Person
from incidentd.declare.incident import IncidentStatus, breach, reopen, set_status, view
from incidentd.declare.timeline import TimelineEntry, person
from tests.fakes.incident import LINKS, declared
from tests.unit.alerts import at

PEOPLE = (
    Person("Alice Martin", slack="U024BE7LH", opsgenie="alice@example.com", pagerduty="PXPGF42"),
    Person("Bob Chen", email="bob@example.com"),
    Person("Carol Diaz", opsgenie="carol@example.com"),
)
"""The commander and two people on call: Bob has no Opsgenie identity."""


def later_view(event: ActionEvent) -> tuple[dict[str, Any], list[TimelineEntry]]:
    """The incident's view after `event`: resolved then reopened by a person (REOPENED), its
    acknowledge clock run out (SLA_BREACHED), or as declared (REMINDER, anything else)."""
    step = declared()
    incident, entries = step.incident, list(step.entries)
    if event is ActionEvent.REOPENED:
        done = set_status(
            incident, IncidentStatus.RESOLVED, actor=person("alice"), now=at(20), note="fixed"
        )
        again = reopen(done.incident, actor=person("alice"), now=at(40), reason="orders-db again")
        incident = again.incident
        entries += [*done.entries, *again.entries]
    elif event is ActionEvent.SLA_BREACHED:
        late = breach(incident, "acknowledge", target=timedelta(minutes=5), due=at(11), now=at(11))
        incident = late.incident
        entries += list(late.entries)
    return view(incident, entries), entries


def later(
    event: ActionEvent,
    target: str = "test",
    *,
    people: tuple[Person, ...] = (),
    note: str = "",
) -> ActionRequest:
    shown, entries = later_view(event)
    return ActionRequest.of(
        shown,
        event,
        target=target,
        seq=entries[-1].seq,
        bridge_url="https://zoom.us/j/85746065432",
        links=LINKS,
        people=people,
        note=note,
    )
