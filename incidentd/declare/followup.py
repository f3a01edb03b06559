"""Follow-up actions: the preventive work a post-incident review assigns (a title, an owner, a
due date), kept on the incident record until done or cancelled.

A `FollowUp` is a frozen value stored in `Incident.followups`; the transitions that add or
change one are in incident.py (they append timeline entries). An open follow-up whose due
time has passed is **overdue**: the engine's timers notice it at its due time and record it
once (`overdue_at`), which routes a `followup_overdue` action through the outbox. Changing
the due time clears that mark, so the new date is watched in its turn. Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from incidentd.errors import InputError
from incidentd.model import OptionalUtcDatetime, UtcDatetime

TITLE_LIMIT = 200
OWNER_LIMIT = 200
FOLLOWUPS_LIMIT = 100
"""Follow-ups one incident may hold (cancelled ones count: they stay for the record)."""


class FollowUpStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class FollowUp:
    id: str
    """`F1`, `F2`, ... in the order added to the incident."""
    title: str
    owner: str | None
    due: OptionalUtcDatetime
    """None: no due date, never overdue."""
    status: FollowUpStatus
    created_at: UtcDatetime
    created_by: str
    updated_at: UtcDatetime
    closed_at: OptionalUtcDatetime = None
    """When it was done or cancelled (None while open)."""
    overdue_at: OptionalUtcDatetime = None
    """When the engine recorded it overdue (once per due time)."""

    @property
    def open(self) -> bool:
        return self.status is FollowUpStatus.OPEN


EDITABLE = frozenset({"status", "title", "owner", "due"})


@dataclass(frozen=True, slots=True)
class FollowUpEdit:
    """A person's change to a follow-up: only the fields named in `fields` change (so that
    `owner: null` clears the owner while an absent owner leaves it). Adding one uses
    `title`, `owner` and `due`."""

    fields: frozenset[str]
    status: FollowUpStatus = FollowUpStatus.OPEN
    title: str = ""
    owner: str | None = None
    due: datetime | None = None


class UnknownFollowUp(InputError):
    status = 404
    reason = "unknown_followup"


def overdue(followup: FollowUp, now: datetime) -> bool:
    """Open, with a due time that has passed."""
    return followup.open and followup.due is not None and now > followup.due


def watch_at(followup: FollowUp) -> datetime | None:
    """When the engine's timer looks at the follow-up: its due time, or its last change when
    it was given a due time already past (a timeline never goes back in time); None when
    there is nothing to watch (closed, no due time, overdue already recorded)."""
    if not followup.open or followup.due is None or followup.overdue_at is not None:
        return None
    return max(followup.due, followup.updated_at)


def followup_view(followup: FollowUp, now: datetime) -> dict[str, Any]:
    """JSON-ready, with `overdue` as of `now`."""
    return {
        "id": followup.id,
        "title": followup.title,
        "owner": followup.owner,
        "due": None if followup.due is None else followup.due.isoformat(),
        "status": followup.status.value,
        "overdue": overdue(followup, now),
        "overdue_at": None if followup.overdue_at is None else followup.overdue_at.isoformat(),
        "created_at": followup.created_at.isoformat(),
        "created_by": followup.created_by,
        "updated_at": followup.updated_at.isoformat(),
        "closed_at": None if followup.closed_at is None else followup.closed_at.isoformat(),
    }
