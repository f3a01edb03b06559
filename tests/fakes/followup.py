"""Requests for an overdue follow-up, built by the real transitions like `tests.fakes.incident`:
the checkout outage resolved, two follow-ups added, both past their due dates."""

from __future__ import annotations

from incidentd.act.target import ActionEvent, ActionRequest, Person
from incidentd.declare.followup import FollowUpEdit
from incidentd.declare.incident import (
    IncidentStatus,
    add_followup,
    followup_overdue,
    set_status,
    view,
)
from incidentd.declare.timeline import TimelineEntry, person
from tests.fakes.incident import LINKS, declared
from tests.unit.alerts import at

FOLLOWUPS = (
    ("F1", "Alert on replica lag", "bob", 24 * 60),
    ("F2", "Runbook for orders-db failover", None, 24 * 60),
)
"""(id, title, owner, due minute): both due the next day at 09:00; F2 has no owner."""


def overdue_requests(target: str = "test") -> tuple[ActionRequest, ActionRequest]:
    """One request per overdue follow-up, each for the timeline entry that recorded it."""
    step = declared()
    incident, entries = step.incident, list(step.entries)
    done = set_status(incident, IncidentStatus.RESOLVED, actor=person("alice"), now=at(50))
    incident, entries = done.incident, entries + list(done.entries)
    for _, title, owner, due in FOLLOWUPS:
        edit = FollowUpEdit(
            frozenset({"title", "owner", "due"}), title=title, owner=owner, due=at(due)
        )
        added = add_followup(incident, edit, actor=person("alice"), now=at(55))
        incident, entries = added.incident, entries + list(added.entries)
    late: list[TimelineEntry] = []
    for fid, *_ in FOLLOWUPS:
        marked = followup_overdue(incident, fid, now=at(24 * 60))
        incident, late = marked.incident, late + list(marked.entries)
    shown = view(incident, entries + late)
    people = (Person("alice", slack="U0ALICE01"),)
    first, second = (
        ActionRequest.of(
            shown,
            ActionEvent.FOLLOWUP_OVERDUE,
            target=target,
            seq=entry.seq,
            links=LINKS,
            people=people,
            note=f"follow-up {entry.details['followup']} overdue",
        )
        for entry in late
    )
    return first, second
