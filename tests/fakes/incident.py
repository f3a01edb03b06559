"""Real incidents for the action tests: declared from the example config's checkout outage
by the real declaration code, shown through the real `incident.view()`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from incidentd.act.target import ActionEvent, ActionRequest, Link, Person
from incidentd.declare.incident import (
    IncidentStatus,
    Transition,
    add_note,
    breach,
    declare,
    set_commander,
    set_status,
    view,
)
from incidentd.declare.timeline import TimelineEntry, person
from tests.unit.alerts import at
from tests.unit.declare_groups import VERSION, checkout_db_outage, scored

LINKS = (Link("https://incidentd.example.com/incidents/INC-1042", "Incident in incidentd"),)


def declared(number: int = 1042) -> Transition:
    facts, score = scored(checkout_db_outage(), minute=6, key="orders")
    reasons = ("P1 reaches the declaration threshold P2",)
    return declare(facts, score, number=number, reasons=reasons, rules_version=VERSION, now=at(6))


def incident_view(
    status: IncidentStatus | None = None,
    number: int = 1042,
    *,
    commander: str | None = None,
    sla: str | None = None,
    note: str = "",
) -> tuple[dict[str, Any], list[TimelineEntry]]:
    """The view (timeline included) of the incident: `commander` takes it at minute 8, a
    person moves it to `status` at minute 20 (with a note), the `sla` clock (15 minutes) runs
    out at minute 21, and a person writes `note` at minute 30."""
    step = declared(number)
    entries = list(step.entries)
    inc = step.incident

    def then(moved: Transition) -> None:
        nonlocal inc
        inc = moved.incident
        entries.extend(moved.entries)

    if commander is not None:
        then(set_commander(inc, commander, actor=person(commander), now=at(8)))
    if status is not None:
        then(set_status(inc, status, actor=person("alice"), now=at(20), note="db failed over"))
    if sla is not None:
        then(breach(inc, sla, target=timedelta(minutes=15), due=at(21), now=at(21)))
    if note:
        then(add_note(inc, note, actor=person("alice"), now=at(30)))
    return view(inc, entries), entries


def request(
    event: ActionEvent = ActionEvent.DECLARED,
    target: str = "test",
    *,
    status: IncidentStatus | None = None,
    bridge_url: str | None = "https://zoom.us/j/85746065432",
    responders: tuple[str, ...] = (),
    note: str = "",
    commander: str | None = None,
    people: tuple[Person, ...] = (),
    sla: str | None = None,
) -> ActionRequest:
    """The request for `event`; an `updated` event's note is on the timeline too (a person's
    status update is a note)."""
    written = note if event is ActionEvent.UPDATED else ""
    shown, entries = incident_view(status, commander=commander, sla=sla, note=written)
    return ActionRequest.of(
        shown,
        event,
        target=target,
        seq=entries[-1].seq,
        bridge_url=bridge_url,
        links=LINKS,
        responders=responders,
        people=people,
        note=note,
    )
