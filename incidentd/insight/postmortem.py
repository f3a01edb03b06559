"""The post-incident review draft: Markdown written from an incident record, its timeline and
its outbox actions, for the incident manager to complete.

`draft(incident, timeline, actions=..., spec=..., now=...)` returns the whole document: summary,
impact (from the score at the incident's worst, `Incident.peak`), detection and response
figures and each SLA clock (`declarer.sla_view`), the alert-volume chart (a link; the PNG is
chart.py's), the timeline (runs of alert entries folded into one line), the contributing
alerts by service (from the `alert_attached` entries), the root-cause candidates and why,
the actions taken (the outbox, and the outcomes on the timeline), the follow-ups, and empty
sections for the people's analysis. Bounded: a storm incident's thousands of entries give a
document of a few hundred lines. Pure: no clock (`now`), no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from incidentd.act.outbox import Action
from incidentd.declare.declarer import sla_view
from incidentd.declare.followup import overdue
from incidentd.declare.incident import Incident
from incidentd.declare.scoring import Factor, Score
from incidentd.declare.timeline import EntryKind, TimelineEntry
from incidentd.insight.entries import FOLDED, alerts_line, describe, listed
from incidentd.insight.entries import runs as entry_runs
from incidentd.insight.prose import cell, clock, day, number, span
from incidentd.model import Severity
from incidentd.rules.schema import DeclarationFile

TIMELINE_ROWS = 200
SERVICES_SHOWN = 40
ALERTS_PER_SERVICE = 25
ACTIONS_SHOWN = 100
ANALYSIS = ("Root cause", "Contributing factors", "Lessons learned")
_RANKS = {s.value: s.rank for s in Severity}


# --- figures -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """When the failure was felt: from the first alert to the mitigation (else the
    resolution); `ongoing` when neither happened yet (it ends at `now`)."""

    start: datetime
    end: datetime
    ongoing: bool

    @property
    def minutes(self) -> float:
        return max(0.0, (self.end - self.start).total_seconds() / 60)


def window(incident: Incident, now: datetime) -> Window:
    start = incident.started_at or incident.declared_at
    end = incident.mitigated_at or incident.resolved_at
    return Window(start, end or now, end is None)


@dataclass(frozen=True, slots=True)
class Stakes:
    users_per_minute: float | None
    revenue_per_minute: float | None
    customer_facing: bool | None
    customers: str


def _factor(score: Score, name: str) -> Factor | None:
    return next((f for f in score.factors if f.name == name), None)


def _rate(score: Score, name: str) -> float | None:
    found = _factor(score, name)
    if found is None or isinstance(found.value, bool | str):
        return None
    return float(found.value)


def stakes(incident: Incident) -> Stakes:
    """Users and revenue a minute and customer exposure, from the impact factors of the
    incident's peak score; None where the score does not say (declared by hand)."""
    peak = incident.peak
    facing = _factor(peak, "impact.customer_facing")
    return Stakes(
        users_per_minute=_rate(peak, "impact.users"),
        revenue_per_minute=_rate(peak, "impact.revenue"),
        customer_facing=None if facing is None else bool(facing.value),
        customers=facing.note if facing is not None else "",
    )


def milestones(incident: Incident) -> list[tuple[str, datetime | None]]:
    return [
        ("First alert", incident.started_at),
        ("Declared", incident.declared_at),
        ("Acknowledged", incident.acknowledged_at),
        ("Mitigated", incident.mitigated_at),
        ("Resolved", incident.resolved_at),
        *([("Reopened", incident.reopened_at)] if incident.reopened_at else []),
    ]


# --- sections ----------------------------------------------------------------------------------


def _summary(incident: Incident, timeline: Sequence[TimelineEntry], now: datetime) -> list[str]:
    first = next((e for e in timeline if e.kind is EntryKind.DECLARED), None)
    by = "incidentd" if first is None or not first.actor.is_person else first.actor.name
    w = window(incident, now)
    end = "ongoing" if w.ongoing else clock(w.end)
    calmer = incident.open and incident.assessed != incident.priority
    escalated = f" (assessed {incident.assessed} now)" if calmer else ""
    return [
        "## Summary",
        "",
        f"- **Incident:** {incident.id}, {incident.priority}{escalated}, {incident.status}"
        + (" (an alert storm)" if incident.storm else ""),
        f"- **Declared:** {day(incident.declared_at)} by {cell(by)}",
        f"- **Commander:** {cell(incident.commander or 'nobody took the role')}",
        f"- **Root-cause candidates:** {cell(', '.join(incident.root_causes) or 'none found')}",
        f"- **Impact window:** {day(w.start)} to {end} ({span(w.minutes * 60)})",
        f"- **Alerts:** {len(incident.alerts)} attached, {len(incident.firing)} firing now",
        f"- **Rules version:** `{incident.rules_version}`",
        "",
        "Why it was declared:",
        "",
        *[f"- {cell(r)}" for r in incident.reasons or ("no reason recorded",)],
    ]


def _money(rate: float | None, minutes: float, what: str) -> str:
    if rate is None:
        return "not scored"
    if not rate:
        return f"none on the service map ({what})"
    return f"{number(rate)} a minute; about {number(rate * minutes)} over the impact window"


def _impact(incident: Incident, now: datetime) -> list[str]:
    at = stakes(incident)
    w = window(incident, now)
    if at.customer_facing is None:
        customers = "not scored"
    elif at.customer_facing:
        customers = f"affected: {cell(at.customers)}"
    else:
        customers = "no customer-facing service reached"
    shown = incident.services[:SERVICES_SHOWN]
    more = len(incident.services) - len(shown)
    return [
        "## Impact",
        "",
        f"- **Services impacted:** {cell(', '.join(shown)) or 'none on the map'}"
        + (f" and {more} more" if more > 0 else "")
        + f" ({len(incident.services)})",
        f"- **Capabilities:** {cell(', '.join(incident.capabilities)) or 'none touched'}",
        f"- **Customers:** {customers}",
        f"- **Users at stake:** {_money(at.users_per_minute, w.minutes, 'users')}",
        f"- **Revenue at stake:** {_money(at.revenue_per_minute, w.minutes, 'revenue')}",
        f"- **At its worst:** {incident.peak.summary()}",
        "",
        "_Users and revenue are the score's figures for the blast radius at the incident's "
        "worst (services.yaml), times the impact window: an upper bound, not a measured loss._",
    ]


def _response(incident: Incident, spec: DeclarationFile, now: datetime) -> list[str]:
    start = incident.started_at or incident.declared_at
    rows = [
        "## Detection and response",
        "",
        "| Milestone | At (UTC) | After the first alert | After the declaration |",
        "|---|---|---|---|",
    ]
    for name, at in milestones(incident):
        if at is None:
            rows.append(f"| {name} | not yet | | |")
            continue
        after_declared = "" if at < incident.declared_at else span(at - incident.declared_at)
        rows.append(f"| {name} | {day(at)} | {span(at - start)} | {after_declared} |")
    clocks = sla_view(incident, spec, now)
    rows += ["", f"SLA clocks of {incident.priority} (declaration.yaml):", ""]
    if not clocks:
        return [*rows, f"No SLA target is set for {incident.priority}."]
    rows += ["| Clock | Target | Due | Took | State |", "|---|---|---|---|---|"]
    for name, c in clocks.items():
        took = "" if c["took_seconds"] is None else span(c["took_seconds"])
        state = f"**{c['state']}**" if c["state"] == "breached" else c["state"]
        due = day(datetime.fromisoformat(c["due"]))
        rows.append(f"| {name} | {span(c['target_seconds'])} | {due} | {took} | {state} |")
    return rows


def _chart(chart: str | None) -> list[str]:
    if not chart:
        return []
    return [
        "## Alert volume",
        "",
        f"![Alerts attached to the incident over time]({chart})",
        "",
        "_Bars: alerts attached per interval (new ones, and attached ones firing again); line: "
        "alerts firing; vertical lines: first alert, declared, acknowledged, mitigated, "
        "resolved._",
    ]


# --- the timeline --------------------------------------------------------------------------------


def _note(text: object) -> str:
    return f": {text}" if text else ""


def _timeline(incident: Incident, timeline: Sequence[TimelineEntry]) -> list[str]:
    rows = ["## Timeline", "", "| At (UTC) | Who | What |", "|---|---|---|"]
    runs = list(entry_runs(timeline))
    for run in runs[:TIMELINE_ROWS]:
        first = run[0]
        what = alerts_line(run) if first.kind in FOLDED else describe(first)
        rows.append(f"| {day(first.at)} | {cell(first.actor.name)} | {cell(what)} |")
    if len(runs) > TIMELINE_ROWS:
        rows += [
            "",
            f"_{len(runs) - TIMELINE_ROWS} more lines: the whole timeline is in "
            f"`GET /api/v1/incidents/{incident.id}`._",
        ]
    return rows


# --- alerts and root causes ----------------------------------------------------------------------


@dataclass(slots=True)
class _Seen:
    """One alert name on one service, as the timeline saw it attached."""

    severity: str = ""
    instances: set[str] | None = None
    firings: int = 0
    first: datetime | None = None
    last: datetime | None = None


def contributing(timeline: Sequence[TimelineEntry]) -> dict[str, dict[str, _Seen]]:
    """Service (or `""` for none) -> alert name -> what was seen, from `alert_attached`."""
    out: dict[str, dict[str, _Seen]] = {}
    for entry in timeline:
        if entry.kind is not EntryKind.ALERT_ATTACHED:
            continue
        d = entry.details
        seen = out.setdefault(str(d.get("service") or ""), {}).setdefault(
            str(d.get("name") or "?"), _Seen(instances=set())
        )
        severity = str(d.get("severity") or "")
        if _RANKS.get(severity, 0) > _RANKS.get(seen.severity, 0):
            seen.severity = severity
        if seen.instances is not None:
            seen.instances.add(str(d.get("fingerprint")))
        seen.firings += 1
        seen.first = seen.first or entry.at
        seen.last = entry.at
    return out


def _alerts(timeline: Sequence[TimelineEntry]) -> list[str]:
    found = contributing(timeline)
    rows = ["## Contributing alerts", ""]
    if not found:
        return [*rows, "No alert was attached to this incident."]
    order = sorted(found, key=lambda s: (-sum(x.firings for x in found[s].values()), s))
    for service in order[:SERVICES_SHOWN]:
        names = found[service]
        count = sum(len(s.instances or ()) for s in names.values())
        rows += [
            f"### {cell(service or 'no service on the map')} ({count} alert"
            f"{'s' if count != 1 else ''})",
            "",
            "| Alert | Severity | Instances | Attached | First | Last |",
            "|---|---|---|---|---|---|",
        ]
        ranked = sorted(
            names.items(), key=lambda kv: (-_RANKS.get(kv[1].severity, 0), -kv[1].firings, kv[0])
        )
        for name, s in ranked[:ALERTS_PER_SERVICE]:
            first = day(s.first) if s.first else ""
            last = day(s.last) if s.last else ""
            severity = s.severity or "?"
            rows.append(
                f"| {cell(name)} | {severity} | {len(s.instances or ())} | {s.firings} "
                f"| {first} | {last} |"
            )
        if len(ranked) > ALERTS_PER_SERVICE:
            rows.append(f"| and {len(ranked) - ALERTS_PER_SERVICE} more alert names | | | | | |")
        rows.append("")
    if len(order) > SERVICES_SHOWN:
        rows.append(f"_And {len(order) - SERVICES_SHOWN} more services._")
    return rows


def _root_causes(incident: Incident, timeline: Sequence[TimelineEntry]) -> list[str]:
    rows = ["## Root-cause candidates", ""]
    if not incident.root_causes:
        return [
            *rows,
            "The engine found none: no failing alert is on a service of the map. Name the "
            "root cause in the analysis below.",
        ]
    found = contributing(timeline)
    by_hand = any(e.kind is EntryKind.DECLARED and e.actor.is_person for e in timeline)
    for name in incident.root_causes:
        alerts = sorted(found.get(name, {}))
        why = f"its alerts: {', '.join(alerts[:6])}" if alerts else "no alert of its own"
        if not alerts and by_hand:
            why = "named as failing when the incident was declared by hand"
        rows.append(f"- **{cell(name)}**: {cell(why)}")
    joined = [e for e in timeline if e.kind is EntryKind.GROUP_JOINED]
    rows += [
        "",
        "Why: incidentd takes as candidates the failing services none of whose dependencies "
        "(`depends_on` in services.yaml, direct or through others) also fails; the failing "
        "services above them are counted as consequences (their blast radius). Candidates are "
        "listed most critical first.",
    ]
    above = [name for name in incident.services if name not in incident.root_causes]
    if above:
        shown = ", ".join(above[:SERVICES_SHOWN])
        rows += ["", f"Counted as consequences (their blast radius): {cell(shown)}."]
    if joined:
        rows += ["", "Groups that joined the incident later, with their root-cause candidates:", ""]
    for entry in joined[:20]:
        causes = listed(entry.details.get("root_causes"))
        rows.append(
            f"- {day(entry.at)}: group {cell(str(entry.details.get('group')))} joined, "
            f"root causes {cell(causes or 'none')}"
        )
    return rows


# --- actions and follow-ups ----------------------------------------------------------------------


def _actions(actions: Sequence[Action], timeline: Sequence[TimelineEntry]) -> list[str]:
    rows = ["## Actions taken", ""]
    if actions:
        rows += [
            "| Created (UTC) | Target | Event | State | Attempts | Last outcome |",
            "|---|---|---|---|---|---|",
        ]
        ordered = sorted(actions, key=lambda a: (a.created_at, a.seq, a.target))
        for a in ordered[:ACTIONS_SHOWN]:
            outcome = f"{a.last_outcome}{_note(a.last_reason)}" if a.last_outcome else ""
            sends = f" ({a.sends} sent)" if a.recurring else ""
            rows.append(
                f"| {day(a.created_at)} | {cell(a.target)} | {a.event.value}{sends} | "
                f"{a.state.value} | {a.attempts} | {cell(outcome)} |"
            )
        if len(actions) > ACTIONS_SHOWN:
            rows.append(f"| and {len(actions) - ACTIONS_SHOWN} more | | | | | |")
    else:
        rows.append("The outbox holds no action for this incident (none routed, or purged).")
    outcomes = [e for e in timeline if e.kind is EntryKind.ACTION_OUTCOME]
    tally = Counter((str(e.details.get("target")), str(e.details.get("outcome"))) for e in outcomes)
    if tally:
        rows += ["", "Outcomes recorded on the timeline:", ""]
        rows += [
            f"- {cell(target)}: {count} {outcome}"
            for (target, outcome), count in sorted(tally.items())
        ]
    return rows


def _followups(incident: Incident, now: datetime) -> list[str]:
    rows = ["## Follow-up actions", ""]
    if not incident.followups:
        return [
            *rows,
            "None yet: add them with `POST /api/v1/incidents/"
            f"{incident.id}/followups` (title, owner, due).",
        ]
    late = sum(1 for f in incident.followups if overdue(f, now))
    rows += [
        f"{len(incident.followups)} follow-up{'s' if len(incident.followups) > 1 else ''}, "
        f"{sum(1 for f in incident.followups if f.open)} open, {late} overdue.",
        "",
        "| ID | Action | Owner | Due (UTC) | Status |",
        "|---|---|---|---|---|",
    ]
    for f in incident.followups:
        status = "**overdue**" if overdue(f, now) else f.status.value
        due = day(f.due) if f.due else "no date"
        owner = cell(f.owner or "nobody yet")
        rows.append(f"| {f.id} | {cell(f.title)} | {owner} | {due} | {status} |")
    return rows


def _analysis() -> list[str]:
    rows = ["## Analysis", "", "_For the people who handled the incident to write._"]
    for title in ANALYSIS:
        rows += ["", f"### {title}", "", "_To be written._"]
    return rows


def draft(
    incident: Incident,
    timeline: Sequence[TimelineEntry],
    *,
    actions: Sequence[Action],
    spec: DeclarationFile,
    now: datetime,
    chart: str | None = None,
) -> str:
    """The Markdown draft. `spec` gives the SLA targets (declaration.yaml); `chart` is the
    link to the alert-volume PNG (none: no chart section)."""
    sections = [
        [
            f"# Post-incident review: {incident.id}",
            "",
            f"**{cell(incident.title)}**",
            "",
            f"_Draft written by incidentd on {day(now)} from the incident record, its timeline "
            "and its actions. Check the figures, then write the analysis at the end._",
        ],
        _summary(incident, timeline, now),
        _impact(incident, now),
        _response(incident, spec, now),
        _chart(chart),
        _timeline(incident, timeline),
        _alerts(timeline),
        _root_causes(incident, timeline),
        _actions(actions, timeline),
        _followups(incident, now),
        _analysis(),
    ]
    return "\n\n".join("\n".join(s).rstrip() for s in sections if s) + "\n"
