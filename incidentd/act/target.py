"""The contract between the outbox and the action targets.

The outbox hands a target an `ActionRequest` (what happened to which incident) and the
vendor references it kept from earlier attempts on the same incident and target (`refs`:
PagerDuty's dedup_key, Slack's channel id, Opsgenie's pending request id, ServiceNow's
sys_id); the target makes exactly one attempt and answers an `Outcome`: sent, retry (after
`retry_after` seconds when the vendor said) or failed, with the refs to keep. The outbox owns
retries, backoff, dead letters and the storage of refs (Alertmanager's single RetryStage);
a target never sleeps, never loops and never logs (so it cannot log a secret).

Multi-step flows (Slack: create the channel, invite, post) are resumable: each step records
what it made in the refs as soon as it is made, and a later attempt skips what the refs say is
done, so a failed invite followed by a retry never creates the channel twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import aiohttp
from pydantic import BaseModel, ConfigDict

from incidentd.model import Priority

REASON_LIMIT = 300
"""Outcome reasons land on the timeline and in logs: short, and never a body or a URL."""


class ActionEvent(StrEnum):
    """What happened to the incident, i.e. why the outbox asks the target to act."""

    DECLARED = "declared"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    UPDATED = "updated"
    """A person's status update (a note on the incident)."""
    REOPENED = "reopened"
    """A resolved incident fired again (or a person reopened it): page again."""
    SLA_BREACHED = "sla_breached"
    """An SLA clock (declare, acknowledge, resolve) ran out."""
    REMINDER = "reminder"
    """The commander owes a status update (a reminder at the priority's interval)."""
    FOLLOWUP_OVERDUE = "followup_overdue"
    """A follow-up action of the incident is past its due date and still open."""


TEAM_EVENTS: frozenset[ActionEvent] = frozenset(
    {ActionEvent.REMINDER, ActionEvent.FOLLOWUP_OVERDUE}
)
"""Events for the team's own chat (a status update due, a follow-up overdue): paging and
record-keeping targets send nothing for them."""


class OutcomeKind(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


def idempotency_key(incident_id: str, event: ActionEvent, target: str, seq: int) -> str:
    """`INC-1042:declared:12:pagerduty`: one key per (incident, action, target).

    `seq` is the timeline position of the entry that caused the action, so that a second
    escalation of one incident is a new action while a retry of the first is not.
    """
    return f"{incident_id}:{event.value}:{seq}:{target}"


# --- the incident as the targets read it --------------------------------------------------------


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class FactorView(_View):
    name: str
    value: bool | int | float | str
    contribution: float
    note: str


class ScoreView(_View):
    value: int
    priority: Priority
    summary: str
    factors: tuple[FactorView, ...] = ()

    def explanation(self) -> tuple[str, ...]:
        """One line per factor, as `Score.explanation` writes them."""
        return tuple(f"{f.name} {f.contribution:+g}: {f.note}" for f in self.factors)


class EntryView(_View):
    seq: int
    at: datetime
    kind: str
    actor: dict[str, str]
    details: dict[str, Any]

    def line(self) -> str:
        """One line for a ticket's journal (ServiceNow work notes, Jira comments):
        `2026-03-02 09:06:00Z declared by incidentd: title=..., priority=P1`."""
        shown = ", ".join(
            f"{k}={v}" for k, v in self.details.items() if v not in (None, "", [], ())
        )
        who = self.actor.get("name", "?")
        return f"{self.at:%Y-%m-%d %H:%M:%SZ} {self.kind} by {who}" + (
            f": {shown}" if shown else ""
        )


class IncidentFacts(_View):
    """The fields of `incident.view()` that targets use, typed. Parsed once per request; the
    raw view stays available to templates (webhook)."""

    id: str
    number: int
    title: str
    status: str
    priority: Priority
    score: ScoreView
    services: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    root_causes: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    declared_at: datetime
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    commander: str | None = None
    storm: bool = False
    timeline: tuple[EntryView, ...] = ()

    @property
    def subject(self) -> str:
        """What the incident touches first: a root cause, else a service, else `incidentd`."""
        return next(iter((*self.root_causes, *self.services)), "incidentd")

    def latest(self, kind: str) -> EntryView | None:
        """The last timeline entry of `kind` (`sla_breached`, `status_changed`, ...)."""
        return next((e for e in reversed(self.timeline) if e.kind == kind), None)

    def breach_summary(self) -> str:
        """`SLA breached: acknowledge within 5m (due 09:11Z)` for the latest breach; empty
        when the timeline shows none."""
        entry = self.latest("sla_breached")
        if entry is None:
            return ""
        clock = str(entry.details.get("clock", "?"))
        seconds = entry.details.get("target_seconds")
        within = f" within {_duration(seconds)}" if isinstance(seconds, int | float) else ""
        due = entry.details.get("due")
        try:
            when = f" (due {datetime.fromisoformat(str(due)):%H:%MZ})" if due else ""
        except ValueError:
            when = ""
        return f"SLA breached: {clock}{within}{when}"


def _duration(seconds: float) -> str:
    whole = int(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


@dataclass(frozen=True, slots=True)
class Person:
    """Someone to involve (the commander, the people on call), with their identity in each
    tool. A tool the person has no identity in does not involve them."""

    name: str
    slack: str | None = None
    """Slack member id (U...)."""
    email: str | None = None
    opsgenie: str | None = None
    """Opsgenie username (an email address)."""
    pagerduty: str | None = None
    """PagerDuty user id (P...)."""


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """One action on one incident for one target. Build it with `ActionRequest.of`.

    `incident` is `incident.view()` (JSON-native, the timeline included when the target
    should carry it); `facts` is its typed reading, validated at construction so that a bad
    view fails in the outbox, not in a vendor call.
    """

    key: str
    event: ActionEvent
    incident: Mapping[str, Any]
    bridge_url: str | None = None
    links: tuple[Link, ...] = ()
    responders: tuple[str, ...] = ()
    """Slack member ids to invite beside `people` (kept for callers that know only ids)."""
    people: tuple[Person, ...] = ()
    """The commander and the people on call for the impacted services' teams."""
    note: str = ""
    """What a person wrote with an `updated` event (a status update), if anything."""
    seq: int | None = None
    """Timeline position of the entry that caused the action (which follow-up is overdue)."""
    facts: IncidentFacts = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "facts", IncidentFacts.model_validate(self.incident))

    @classmethod
    def of(
        cls,
        incident: Mapping[str, Any],
        event: ActionEvent,
        *,
        target: str,
        seq: int,
        bridge_url: str | None = None,
        links: Sequence[Link] = (),
        responders: Sequence[str] = (),
        people: Sequence[Person] = (),
        note: str = "",
    ) -> ActionRequest:
        key = idempotency_key(str(incident.get("id", "")), event, target, seq)
        return cls(
            key=key,
            event=event,
            incident=incident,
            bridge_url=bridge_url,
            links=tuple(links),
            responders=tuple(responders),
            people=tuple(people),
            note=note,
            seq=seq,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt did. `refs` is the whole mapping to keep for the incident and target
    (what came in, plus what this attempt made, minus what it settled), also after a failure:
    a half-done flow resumes from it."""

    kind: OutcomeKind
    reason: str = ""
    retry_after: float | None = None
    """Seconds the vendor asked us to wait (Retry-After and the like); None: not said."""
    refs: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def sent(cls, reason: str = "", *, refs: Mapping[str, str]) -> Outcome:
        return cls(OutcomeKind.SENT, _short(reason), None, dict(refs))

    @classmethod
    def nothing(cls, event: ActionEvent, *, refs: Mapping[str, str]) -> Outcome:
        """Sent with nothing to send: the target has no counterpart for `event`."""
        return cls.sent(f"nothing to send for {event}", refs=refs)

    @classmethod
    def retry(
        cls, reason: str, *, refs: Mapping[str, str], retry_after: float | None = None
    ) -> Outcome:
        return cls(OutcomeKind.RETRY, _short(reason), retry_after, dict(refs))

    @classmethod
    def failed(cls, reason: str, *, refs: Mapping[str, str]) -> Outcome:
        return cls(OutcomeKind.FAILED, _short(reason), None, dict(refs))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"


class Target(Protocol):
    """One configured target (a PagerDuty service, a Slack workspace, ...)."""

    name: str

    async def send(
        self, request: ActionRequest, session: aiohttp.ClientSession, refs: Mapping[str, str]
    ) -> Outcome:
        """Exactly one attempt, each request under the target's timeout; never raises for a
        vendor or network failure (those are Outcomes)."""
        ...
