"""One line of text per timeline entry, for people: what the post-incident draft's timeline
shows. Runs of alert entries at one instant fold into one line (a storm attaches thousands).
Pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from incidentd.declare.timeline import Detail, Details, EntryKind, TimelineEntry
from incidentd.insight.prose import day, span

FOLDED = (EntryKind.ALERT_ATTACHED, EntryKind.ALERT_RESOLVED)


def alerts_line(run: Sequence[TimelineEntry]) -> str:
    attached = [e for e in run if e.kind is EntryKind.ALERT_ATTACHED]
    resolved = len(run) - len(attached)
    names = Counter(
        f"{e.details.get('name')} ({e.details.get('service') or 'no service'})" for e in attached
    )
    shown = ", ".join(f"{n} x{c}" if c > 1 else n for n, c in names.most_common(4))
    more = len(names) - 4
    parts = []
    if attached:
        parts.append(
            f"{len(attached)} alert{'s' if len(attached) > 1 else ''} attached: {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    if resolved:
        parts.append(f"{resolved} alert{'s' if resolved > 1 else ''} resolved")
    return "; ".join(parts)


def _note(text: object) -> str:
    return f": {text}" if text else ""


def listed(value: Detail, sep: str = ", ") -> str:
    if isinstance(value, tuple | list):
        return sep.join(str(v) for v in value)
    return "" if value is None else str(value)


def _status(d: Details) -> str:
    verb = "Reopened" if d.get("to") == "declared" else f"{d.get('from')} -> {d.get('to')}"
    return f"{verb}{_note(d.get('note'))}"


def _breach(d: Details) -> str:
    target = d.get("target_seconds")
    within = f" ({span(target)})" if isinstance(target, int | float) else ""
    return f"SLA breached: {d.get('clock')}{within}"


def _action(d: Details) -> str:
    outcome = d.get("outcome") or "requested"
    detail = f" ({d.get('detail')})" if d.get("detail") else ""
    return f"{d.get('target')}: {d.get('action')} {outcome}{detail}"


def _merged(d: Details) -> str:
    return f"Merged into {d.get('into')}" if d.get("into") else f"Merged from {d.get('from')}"


def _when(value: Detail) -> str:
    """An ISO time of the details, as `day` writes it (as given when it is not one)."""
    try:
        return day(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _followup_added(d: Details) -> str:
    owner = f"owner {d.get('owner')}" if d.get("owner") else "no owner"
    due = f"due {_when(d.get('due'))}" if d.get("due") else "no due date"
    return f"Follow-up {d.get('followup')} added ({owner}, {due}): {d.get('title')}"


def _followup_changed(d: Details) -> str:
    changed = listed(d.get("changed"), "; ")
    return f"Follow-up {d.get('followup')} changed ({changed}){_note(d.get('note'))}"


_LINES: Mapping[EntryKind, Callable[[Details], str]] = {
    EntryKind.DECLARED: lambda d: f"Declared {d.get('priority')}: {d.get('title')}",
    EntryKind.GROUP_JOINED: lambda d: (
        f"Group {d.get('group')} joined at {d.get('priority')}; root causes: "
        f"{listed(d.get('root_causes')) or 'none'}"
    ),
    EntryKind.PRIORITY_CHANGED: lambda d: f"Escalated from {d.get('from')} to {d.get('to')}",
    EntryKind.SCORE_CHANGED: lambda d: (
        f"Calmed: assessed {d.get('assessed')}, stays {d.get('priority')}"
    ),
    EntryKind.STATUS_CHANGED: _status,
    EntryKind.COMMANDER_SET: lambda d: f"Commander: {d.get('to') or 'nobody'}",
    EntryKind.NOTE: lambda d: f"Note: {d.get('text')}",
    EntryKind.SLA_BREACHED: _breach,
    EntryKind.ACTION_REQUESTED: _action,
    EntryKind.ACTION_OUTCOME: _action,
    EntryKind.MERGED: _merged,
    EntryKind.FOLLOWUP_ADDED: _followup_added,
    EntryKind.FOLLOWUP_CHANGED: _followup_changed,
    EntryKind.FOLLOWUP_OVERDUE: lambda d: (
        f"Follow-up {d.get('followup')} overdue (due {_when(d.get('due'))}): {d.get('title')}"
    ),
}


def describe(entry: TimelineEntry) -> str:
    """One line for a timeline entry, for people."""
    if entry.kind in FOLDED:
        return alerts_line([entry])
    line = _LINES.get(entry.kind)
    return str(entry.kind) if line is None else line(entry.details)


def runs(timeline: Sequence[TimelineEntry]) -> Iterable[list[TimelineEntry]]:
    """Entries one by one, with runs of alert entries at one instant folded together."""
    run: list[TimelineEntry] = []
    for entry in timeline:
        if run and (entry.kind not in FOLDED or entry.at != run[0].at):
            yield run
            run = []
        if entry.kind in FOLDED:
            run.append(entry)
        else:
            yield [entry]
    if run:
        yield run
