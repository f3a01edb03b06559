"""Stakeholder messages: one message (a title line and a Markdown body) per audience and
event, rendered from the shipped Jinja2 templates or from a target's own.

Audiences: `responders` (technical: the score explained, root causes, services, the bridge,
links, the commander), `business` (the impacted capabilities, customers, users and revenue a
minute at stake), `executives` (two lines). Events: every `ActionEvent`. The shipped templates
are package data, `incidentd/act/templates/<audience>/<event>.md.j2`, with shared parts in
`_*.md.j2` files that an override may include. A template's first rendered line is the title,
the rest the body; blank-line runs are folded. The Markdown is the subset that Slack (after
`targets.slack.mrkdwn`) and Teams both render: `**bold**`, `_italic_`, `[text](url)` and
`- ` lists, no headings or tables.

Templates see `context(...)`: JSON-native values only, the same keys for every event (a value
that does not apply is None or empty). A target's overrides are checked when the configuration
loads (`check_message`): parsed, then rendered for every event against a full and a bare
sample incident, so that a typo fails `incidentd check` rather than a stakeholder message.
Pure: reads only the shipped templates (lazily, once), no clock, no network.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Annotated, Any, Literal

from jinja2 import PackageLoader, Template, TemplateError, Undefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import AfterValidator

from incidentd.act import sample
from incidentd.act.render import environment
from incidentd.act.target import ActionEvent, ActionRequest, EntryView, IncidentFacts, Person
from incidentd.errors import PermanentError

Audience = Literal["responders", "business", "executives"]
AUDIENCES: tuple[Audience, ...] = ("responders", "business", "executives")
EXPLANATION_LINES = 8
_BLANKS = re.compile(r"\n{3,}")

HEADLINES: Mapping[ActionEvent, str] = {
    ActionEvent.DECLARED: "declared",
    ActionEvent.ESCALATED: "escalated to {priority}",
    ActionEvent.ACKNOWLEDGED: "acknowledged",
    ActionEvent.MITIGATED: "mitigated",
    ActionEvent.RESOLVED: "resolved",
    ActionEvent.UPDATED: "status update",
    ActionEvent.REOPENED: "reopened",
    ActionEvent.SLA_BREACHED: "SLA breached",
    ActionEvent.REMINDER: "status update due",
    ActionEvent.FOLLOWUP_OVERDUE: "follow-up overdue",
}

_CAUSES: Mapping[ActionEvent, tuple[str, str | None]] = {
    ActionEvent.DECLARED: ("declared", None),
    ActionEvent.ESCALATED: ("priority_changed", None),
    ActionEvent.ACKNOWLEDGED: ("status_changed", "acknowledged"),
    ActionEvent.MITIGATED: ("status_changed", "mitigated"),
    ActionEvent.RESOLVED: ("status_changed", "resolved"),
    ActionEvent.REOPENED: ("status_changed", "declared"),
    ActionEvent.UPDATED: ("note", None),
    ActionEvent.SLA_BREACHED: ("sla_breached", None),
    ActionEvent.FOLLOWUP_OVERDUE: ("followup_overdue", None),
}
"""The timeline entry that records each event (its kind, and the status it moved to)."""

Mention = Callable[[Person], str]
"""How a target names a person in a message (Slack: `<@U...>` when it knows their id)."""


def plain(person: Person) -> str:
    return person.name


@dataclass(frozen=True, slots=True)
class Message:
    audience: Audience
    event: ActionEvent
    title: str
    """One line of plain text: `INC-1042 declared: <title>` in the shipped templates."""
    body: str
    """Markdown (see the module docstring); may be empty."""

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.body}" if self.body else self.title

    def view(self) -> dict[str, str]:
        return {"audience": self.audience, "title": self.title, "body": self.body}


# --- the context ------------------------------------------------------------------------------


def _entry(entry: EntryView) -> dict[str, Any]:
    person = entry.actor.get("kind") == "person"
    details = entry.details
    return {
        "at": entry.at.isoformat(),
        "by": entry.actor.get("name", "incidentd"),
        "person": person,
        "note": str(details.get("note") or details.get("text") or ""),
        "details": dict(details),
    }


def _change(facts: IncidentFacts, event: ActionEvent) -> dict[str, Any] | None:
    """The latest timeline entry that records `event` (when the view carries the timeline)."""
    cause = _CAUSES.get(event)
    if cause is None:
        return None
    kind, status = cause
    for entry in reversed(facts.timeline):
        if entry.kind == kind and (status is None or entry.details.get("to") == status):
            return _entry(entry)
    return None


def _last_update(facts: IncidentFacts) -> dict[str, Any] | None:
    """The latest thing a person wrote: a note, or a status change with a note."""
    for entry in reversed(facts.timeline):
        written = entry.kind == "note" or (
            entry.kind == "status_changed"
            and entry.actor.get("kind") == "person"
            and entry.details.get("note")
        )
        if written:
            return _entry(entry)
    return None


def _sla(request: ActionRequest) -> dict[str, Any] | None:
    """The latest breached SLA clock: from the timeline when it is there, else its name."""
    for entry in reversed(request.facts.timeline):
        if entry.kind == "sla_breached":
            d = entry.details
            seconds = d.get("target_seconds")
            return {
                "clock": str(d.get("clock") or "?"),
                "target_seconds": seconds if isinstance(seconds, int | float) else None,
                "due": d.get("due") if isinstance(d.get("due"), str) else None,
                "at": entry.at.isoformat(),
            }
    breached = request.incident.get("breached") or ()
    if not breached:
        return None
    return {"clock": str(breached[-1]), "target_seconds": None, "due": None, "at": None}


def _followup(request: ActionRequest) -> dict[str, Any] | None:
    """The overdue follow-up a `followup_overdue` message is about: the timeline entry that
    caused the action (by its seq), else the latest one, else the first overdue follow-up of
    the record (a view without its timeline). None for the other events."""
    if request.event is not ActionEvent.FOLLOWUP_OVERDUE:
        return None
    entries = [e for e in request.facts.timeline if e.kind == "followup_overdue"]
    entry = next((e for e in entries if e.seq == request.seq), entries[-1] if entries else None)
    if entry is not None:
        found: Mapping[str, Any] = entry.details
    else:
        records = [f for f in request.incident.get("followups") or () if isinstance(f, dict)]
        found = next((f for f in records if f.get("overdue_at")), {})
        if not found:
            return None
    due = found.get("due")
    return {
        "id": str(found.get("followup") or found.get("id") or "?"),
        "title": str(found.get("title") or ""),
        "owner": str(found["owner"]) if found.get("owner") else None,
        "due": due if isinstance(due, str) and due else None,
    }


def _number(facts: IncidentFacts, name: str) -> float | None:
    found = next((f for f in facts.score.factors if f.name == name), None)
    if found is None or isinstance(found.value, bool | str):
        return None
    return float(found.value)


def stakes(facts: IncidentFacts) -> dict[str, Any]:
    """What the incident puts at stake, read from its score's impact factors (the view has no
    per-capability figures): users and revenue a minute summed over the blast radius, and
    whether customers use what is reached. None where the score does not say."""
    facing = next((f for f in facts.score.factors if f.name == "impact.customer_facing"), None)
    return {
        "users_per_minute": _number(facts, "impact.users"),
        "revenue_per_minute": _number(facts, "impact.revenue"),
        "customer_facing": None if facing is None else bool(facing.value),
        "customers": facing.note if facing is not None and facing.value else "",
    }


def _duration(facts: IncidentFacts, start: Any, event: ActionEvent) -> float | None:
    """Seconds from the failure's start to its mitigation or resolution, on those events."""
    end = {ActionEvent.MITIGATED: facts.mitigated_at, ActionEvent.RESOLVED: facts.resolved_at}
    until = end.get(event)
    if until is None:
        return None
    began = datetime.fromisoformat(start) if isinstance(start, str) else facts.declared_at
    return max(0.0, (until - began).total_seconds())


def _person(name: str, request: ActionRequest, mention: Mention) -> dict[str, str]:
    known = next((p for p in request.people if p.name == name), None)
    return {"name": name, "mention": mention(known) if known is not None else name}


def context(
    request: ActionRequest, *, audience: Audience, mention: Mention = plain
) -> dict[str, Any]:
    """What every message template sees (documented in docs/actions.md)."""
    facts = request.facts
    shown = {
        **request.incident,
        **facts.model_dump(mode="json", exclude={"score", "timeline"}),
        "score": dict(request.incident.get("score") or {}),
    }
    return {
        "key": request.key,
        "event": request.event.value,
        "audience": audience,
        "headline": HEADLINES[request.event].format(priority=facts.priority.value),
        "incident": shown,
        "explanation": list(facts.score.explanation()[:EXPLANATION_LINES]),
        "stakes": stakes(facts),
        "commander": None if not facts.commander else _person(facts.commander, request, mention),
        "people": [{"name": p.name, "mention": mention(p)} for p in request.people],
        "note": request.note,
        "bridge_url": request.bridge_url,
        "links": [{"href": link.href, "text": link.text} for link in request.links],
        "change": _change(facts, request.event),
        "last_update": _last_update(facts),
        "sla": _sla(request),
        "duration_seconds": _duration(facts, shown.get("started_at"), request.event),
        "followup": _followup(request),
    }


# --- filters ----------------------------------------------------------------------------------


def _defined(value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


def _thousands(value: Any) -> str:
    """`5200.0` -> `5,200`."""
    return f"{float(_defined(value)):,.0f}"


def _clock(value: Any) -> str:
    """An ISO timestamp -> `09:06 UTC`."""
    return datetime.fromisoformat(str(_defined(value))).strftime("%H:%M UTC")


def _day(value: Any) -> str:
    """An ISO timestamp -> `2026-03-02 09:06 UTC`."""
    return datetime.fromisoformat(str(_defined(value))).strftime("%Y-%m-%d %H:%M UTC")


def _span(value: Any) -> str:
    """Seconds -> `45s`, `15m`, `1h05m`."""
    seconds = int(float(_defined(value)))
    if seconds < 60:
        return f"{seconds}s"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


@cache
def _env() -> ImmutableSandboxedEnvironment:
    """Built on first use (reading package data is not an import-time side effect)."""
    env = environment(loader=PackageLoader("incidentd.act", "templates"), trim=True)
    env.filters.update(number=_thousands, time=_clock, datetime=_day, duration=_span)
    return env


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    """An override, compiled once (the sources come from the configuration: few)."""
    return _env().from_string(source)


def shipped(audience: Audience, event: ActionEvent) -> str:
    """The name of the shipped template (for includes and the docs)."""
    return f"{audience}/{event.value}.md.j2"


# --- rendering --------------------------------------------------------------------------------


def _message(audience: Audience, event: ActionEvent, rendered: str) -> Message:
    lines = [line.rstrip() for line in rendered.strip().splitlines()]
    text = _BLANKS.sub("\n\n", "\n".join(lines))
    title, _, body = text.partition("\n")
    if not title:
        raise PermanentError(f"template for {audience}/{event}: rendered no title")
    return Message(audience, event, title, body.strip("\n"))


def render_message(
    audience: Audience,
    request: ActionRequest,
    overrides: Mapping[ActionEvent, str] | None = None,
    *,
    mention: Mention = plain,
) -> Message:
    """The message for `request.event`: the override for the event when there is one, else
    the shipped template of `audience`. PermanentError when it cannot render (the same
    template and incident would fail again)."""
    event = request.event
    source = (overrides or {}).get(event)
    try:
        if source is None:
            template = _env().get_template(shipped(audience, event))
        else:
            template = _compiled(source)
        rendered = template.render(context(request, audience=audience, mention=mention))
    except (TemplateError, TypeError, ValueError) as exc:
        raise PermanentError(f"template for {event}: {type(exc).__name__}: {exc}") from exc
    return _message(audience, event, rendered)


# --- checking overrides -----------------------------------------------------------------------


def _line(exc: BaseException) -> str:
    """`line 3: ` when the error happened in a template (Jinja rewrites its traceback frames
    to the template's lines), else ``."""
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    lineno = getattr(exc, "lineno", None) or line
    return f"line {lineno}: " if lineno else ""


def check_message(source: str) -> str:
    """A configuration validator: `source` parses, and renders a title for every event with
    both sample incidents (see incidentd/act/sample.py). Raises ValueError naming the line
    and the problem."""
    try:
        template = _compiled(source)
    except TemplateError as exc:
        raise ValueError(f"not a valid Jinja2 template: {_line(exc)}{exc}") from None
    for event in ActionEvent:
        for kind, request in zip(("full", "bare"), sample.requests(event), strict=True):
            try:
                rendered = template.render(context(request, audience="responders"))
                _message("responders", event, rendered)
            except (TemplateError, TypeError, ValueError, PermanentError) as exc:
                raise ValueError(
                    f"{_line(exc)}{type(exc).__name__}: {exc} (rendering a {event} message "
                    f"for the {kind} sample incident)"
                ) from None
    return source


MessageTemplate = Annotated[str, AfterValidator(check_message)]
MessageTemplates = dict[ActionEvent, MessageTemplate]
"""A target's `templates:`: event -> Jinja2 source replacing the shipped template."""


def uses_message(source: str) -> bool:
    """Whether a (webhook body) template reads `message`."""
    return "message" in meta.find_undeclared_variables(_env().parse(source))
