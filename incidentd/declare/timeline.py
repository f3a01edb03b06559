"""An incident's timeline: append-only entries, each with its time, kind, actor and details.

The post-incident review is written from it, so entries are never edited or removed: the
transitions of `incident` return the entries they append, numbered (`seq`) by the incident's
`timeline_size`, and the store appends them. Details are JSON-native values only (text,
numbers, booleans, None, lists of text). No I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import TypeAdapter

from incidentd.model import UtcDatetime

Detail = str | int | float | bool | None | tuple[str, ...]
Details = dict[str, Detail]


class EntryKind(StrEnum):
    DECLARED = "declared"
    GROUP_JOINED = "group_joined"
    ALERT_ATTACHED = "alert_attached"
    ALERT_RESOLVED = "alert_resolved"
    PRIORITY_CHANGED = "priority_changed"
    """An escalation: the incident's priority rose."""
    SCORE_CHANGED = "score_changed"
    """The assessed priority fell below the incident's: noted, the priority is kept."""
    STATUS_CHANGED = "status_changed"
    COMMANDER_SET = "commander_set"
    ACTION_REQUESTED = "action_requested"
    ACTION_OUTCOME = "action_outcome"
    NOTE = "note"
    SLA_BREACHED = "sla_breached"
    MERGED = "merged"
    """Another incident was merged into this one, or this one into another."""
    FOLLOWUP_ADDED = "followup_added"
    """A person attached a follow-up action (declare/followup.py)."""
    FOLLOWUP_CHANGED = "followup_changed"
    """A person changed a follow-up's status, owner, due date or title."""
    FOLLOWUP_OVERDUE = "followup_overdue"
    """An open follow-up passed its due date (recorded once per due date, by the engine)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: the engine, or a person (by the name the API authenticated)."""

    kind: Literal["engine", "person"]
    name: str

    @property
    def is_person(self) -> bool:
        return self.kind == "person"


ENGINE = Actor("engine", "incidentd")


def person(name: str) -> Actor:
    return Actor("person", name)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    seq: int
    """Position in the incident's timeline, from 0."""
    at: UtcDatetime
    kind: EntryKind
    actor: Actor
    details: Details


Event = tuple[EntryKind, Actor, Details]
"""An entry before the incident numbers it."""


_ENTRY: TypeAdapter[TimelineEntry] = TypeAdapter(TimelineEntry)


def entry_to_dict(entry: TimelineEntry) -> dict[str, Any]:
    return _ENTRY.dump_python(entry, mode="json")  # type: ignore[no-any-return]


def entry_from_dict(data: Mapping[str, Any]) -> TimelineEntry:
    return _ENTRY.validate_python(data)
