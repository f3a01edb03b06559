"""Real incidents for the action tests: declared from the example config's checkout outage
by the real declaration code, shown through the real `incident.view()`."""

from __future__ import annotations

from typing import Any

from incidentd.act.target import ActionEvent, ActionRequest, Link
from incidentd.declare.incident import IncidentStatus, Transition, declare, set_status, view
from incidentd.declare.timeline import TimelineEntry, person
from tests.unit.alerts import at
from tests.unit.declare_groups import VERSION, checkout_db_outage, scored

LINKS = (Link("https://incidentd.example.com/incidents/INC-1042", "Incident in incidentd"),)


def declared(number: int = 1042) -> Transition:
    facts, score = scored(checkout_db_outage(), minute=6, key="orders")
    reasons = ("P1 reaches the declaration threshold P2",)
    return declare(facts, score, number=number, reasons=reasons, rules_version=VERSION, now=at(6))


def incident_view(
    status: IncidentStatus | None = None, number: int = 1042
) -> tuple[dict[str, Any], list[TimelineEntry]]:
    """The view (timeline included) of the incident, moved to `status` by a person."""
    step = declared(number)
    entries = list(step.entries)
    inc = step.incident
    if status is not None:
        moved = set_status(inc, status, actor=person("alice"), now=at(20), note="db failed over")
        inc, entries = moved.incident, entries + list(moved.entries)
    return view(inc, entries), entries


def request(
    event: ActionEvent = ActionEvent.DECLARED,
    target: str = "test",
    *,
    status: IncidentStatus | None = None,
    bridge_url: str | None = "https://zoom.us/j/85746065432",
    responders: tuple[str, ...] = (),
    note: str = "",
) -> ActionRequest:
    shown, entries = incident_view(status)
    return ActionRequest.of(
        shown,
        event,
        target=target,
        seq=entries[-1].seq,
        bridge_url=bridge_url,
        links=LINKS,
        responders=responders,
        note=note,
    )
