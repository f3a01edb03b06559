"""Reports over the history: pure pandas computations, DataFrames in, tables out.

Each function takes the frames of insight/records.py and insight/history.py (incidents
declared in the period, alert events, follow-ups) and returns one table; `build` assembles
them, with a headline, into a `Report` that insight/report_render.py turns into Markdown, HTML
(with charts) or CSV. Times are minutes; the clocks are measured as `declarer.sla_view`
measures them, so that the response times and the SLA compliance of one report agree. No I/O,
no clock (`as_of` is given).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import pandas as pd

from incidentd.insight.history import FIRING_OUTCOMES, History, occurrences
from incidentd.insight.records import (
    CLOCKS,
    UNMAPPED_TEAM,
    Period,
    followups_frame,
    incidents_frame,
)
from incidentd.model import Priority

PRIORITIES: Final = tuple(p.value for p in Priority)
STEPS: Final = ("declare", "acknowledge", "resolve")
UNMAPPED_SERVICE: Final = "(unmapped)"
NO_FOLLOWUPS: Final = (
    "Follow-up actions: these incident records carry no follow-ups (the daemon that kept "
    "them does not record follow-up actions), so none are reported."
)


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    """File stem of its CSV and key of its chart: `by_priority`."""
    title: str
    about: str
    """What it shows and how it is counted, for the reader."""
    frame: pd.DataFrame
    empty: str = "None in this period."
    """Shown instead of an empty table."""


@dataclass(frozen=True, slots=True)
class Report:
    period: Period
    as_of: datetime
    sources: tuple[str, ...]
    notes: tuple[str, ...]
    headline: tuple[tuple[str, str], ...]
    tables: tuple[Table, ...]

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)


# --- incidents ---------------------------------------------------------------------------------


def minutes(incidents: pd.DataFrame) -> pd.DataFrame:
    """Per incident, minutes to declare (first alert -> declared), acknowledge (declared or
    reopened -> acknowledged, or mitigated or resolved if that came first) and resolve
    (declared or reopened -> resolved); NaN while not reached."""
    clock_start = incidents["reopened_at"].fillna(incidents["declared_at"])
    first_alert = incidents["started_at"].fillna(incidents["declared_at"])
    acknowledged = (
        incidents["acknowledged_at"]
        .fillna(incidents["mitigated_at"])
        .fillna(incidents["resolved_at"])
    )
    spans = {
        "declare": incidents["declared_at"] - first_alert,
        "acknowledge": acknowledged - clock_start,
        "resolve": incidents["resolved_at"] - clock_start,
    }
    return pd.DataFrame({k: v.dt.total_seconds() / 60 for k, v in spans.items()})


def by_priority(incidents: pd.DataFrame) -> pd.DataFrame:
    counts = incidents.groupby("priority").agg(incidents=("id", "size"), open=("open", "sum"))
    counts = counts.reindex([p for p in PRIORITIES if p in counts.index])
    counts["share_pct"] = 100 * counts["incidents"] / max(len(incidents), 1)
    return counts.reset_index()


def _exploded(incidents: pd.DataFrame, column: str, name: str) -> pd.DataFrame:
    out = incidents[["id", column]].explode(column).dropna(subset=[column])
    return out.rename(columns={column: name})


def _ranked(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame.sort_values(["incidents", key], ascending=[False, True], kind="stable")


def by_service(incidents: pd.DataFrame, owners: Mapping[str, str]) -> pd.DataFrame:
    """Each incident counts once for every service it impacted or had as a root-cause
    candidate: what `GET /api/v1/incidents?service=NAME` lists."""
    both = zip(incidents["services"], incidents["root_causes"], strict=True)
    service = pd.Series([sorted({*s, *r}) for s, r in both], index=incidents.index, dtype=object)
    touched = incidents[["id"]].assign(service=service)
    pairs = _exploded(touched, "service", "service")
    counts = pairs.groupby("service").agg(incidents=("id", "nunique")).reset_index()
    counts.insert(1, "team", [owners.get(s, UNMAPPED_TEAM) for s in counts["service"]])
    return _ranked(counts, "service").reset_index(drop=True)


def by_team(incidents: pd.DataFrame) -> pd.DataFrame:
    """Each incident counts once for every team owning one of its root-cause candidates."""
    pairs = _exploded(incidents, "teams", "team")
    counts = pairs.groupby("team").agg(incidents=("id", "nunique")).reset_index()
    return _ranked(counts, "team").reset_index(drop=True)


def week_of(at: pd.Series) -> pd.Series:
    """The Monday (00:00 UTC) that starts the week of each time."""
    day = at.dt.normalize()
    monday: pd.Series = day - pd.to_timedelta(day.dt.weekday, unit="D")
    return monday


def weeks(period: Period) -> pd.DatetimeIndex:
    first = week_of(pd.Series([pd.Timestamp(period.since)]))[0]
    return pd.date_range(first, pd.Timestamp(period.until), freq="7D", inclusive="left")


def by_week(
    incidents: pd.DataFrame, period: Period, events: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Incidents declared each week (Monday to Sunday, UTC), by priority; and the alert
    firings of the week when recorded alerts were read."""
    index = weeks(period)
    table = pd.DataFrame(index=index)
    table["incidents"] = incidents.groupby(week_of(incidents["declared_at"])).size()
    for priority in PRIORITIES:
        chosen = incidents[incidents["priority"] == priority]
        table[priority] = chosen.groupby(week_of(chosen["declared_at"])).size()
    if events is not None:
        fired = events[events["outcome"].isin(FIRING_OUTCOMES)]
        table["alert_firings"] = fired.groupby(week_of(fired["at"])).size()
    table = table.fillna(0).astype(int)
    table.insert(0, "week", index.date)
    return table.reset_index(drop=True)


def response_times(incidents: pd.DataFrame) -> pd.DataFrame:
    """Per step and priority (all first): how many incidents reached it, and the mean,
    median, 90th percentile (linear between ranks) and longest minutes."""
    spans = minutes(incidents).assign(priority=incidents["priority"])
    rows = []
    for step in STEPS:
        for priority in ("all", *PRIORITIES):
            chosen = spans if priority == "all" else spans[spans["priority"] == priority]
            if priority != "all" and chosen.empty:
                continue
            values = chosen[step].dropna()
            rows.append(
                {
                    "step": step,
                    "priority": priority,
                    "incidents": len(values),
                    "mean_min": values.mean(),
                    "p50_min": values.quantile(0.5),
                    "p90_min": values.quantile(0.9),
                    "max_min": values.max(),
                }
            )
    columns = ["step", "priority", "incidents", "mean_min", "p50_min", "p90_min", "max_min"]
    return pd.DataFrame(rows, columns=columns) if len(incidents) else pd.DataFrame(columns=columns)


def sla_compliance(incidents: pd.DataFrame) -> pd.DataFrame:
    """Per priority and SLA clock of declaration.yaml: met, breached, still running, and
    the share met of those decided (met / (met + breached))."""
    rows = []
    for priority in PRIORITIES:
        chosen = incidents[incidents["priority"] == priority]
        for clock in CLOCKS:
            states = chosen[f"sla_{clock}"].dropna()
            if states.empty:
                continue
            met = int((states == "met").sum())
            breached = int((states == "breached").sum())
            target = chosen[f"sla_{clock}_target"].dropna().max()
            rows.append(
                {
                    "priority": priority,
                    "clock": clock,
                    "target_min": target / 60,
                    "met": met,
                    "breached": breached,
                    "running": int((states == "running").sum()),
                    "compliance_pct": 100 * met / (met + breached) if met + breached else None,
                }
            )
    columns = ["priority", "clock", "target_min", "met", "breached", "running", "compliance_pct"]
    return pd.DataFrame(rows, columns=columns)


def recurring(
    incidents: pd.DataFrame, owners: Mapping[str, str], *, at_least: int = 2
) -> pd.DataFrame:
    """Root-cause candidates shared by `at_least` incidents: candidates for problem
    management. An incident with several candidates counts for each."""
    pairs = _exploded(incidents, "root_causes", "root_cause").merge(
        incidents[["id", "declared_at", "priority"]], on="id"
    )
    columns = ["root_cause", "team", "incidents", "ids", "first", "last", "highest_priority"]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    pairs = pairs.sort_values("declared_at", kind="stable")
    table = pairs.groupby("root_cause").agg(
        incidents=("id", "nunique"),
        ids=("id", lambda ids: ", ".join(dict.fromkeys(ids))),
        first=("declared_at", "min"),
        last=("declared_at", "max"),
        highest_priority=("priority", "min"),  # "P1" < "P2": the names sort by urgency
    )
    table = table[table["incidents"] >= at_least].reset_index()
    table.insert(1, "team", [owners.get(s, UNMAPPED_TEAM) for s in table["root_cause"]])
    return _ranked(table, "root_cause").reset_index(drop=True)[columns]


def incident_list(incidents: pd.DataFrame) -> pd.DataFrame:
    """The main table: one row per incident, oldest first, lists joined with `; `."""
    spans = minutes(incidents)
    out = incidents[["id", "priority", "status", "title", "declared_at"]].copy()
    for column in ("root_causes", "teams", "services"):
        out[column] = ["; ".join(v) for v in incidents[column]]
    for step in STEPS:
        out[f"minutes_to_{step}"] = spans[step]
    for clock in CLOCKS:
        out[f"sla_{clock}"] = incidents[f"sla_{clock}"]
    return out.sort_values("declared_at", kind="stable").reset_index(drop=True)


# --- alerts ------------------------------------------------------------------------------------


def alerts_in(events: pd.DataFrame, period: Period) -> pd.DataFrame:
    at = events["at"]
    return events[(at >= pd.Timestamp(period.since)) & (at < pd.Timestamp(period.until))]


def noise(incidents: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Alerts received in the period against incidents declared in it. Noise reduction is
    1 - incidents / firings: the share of firings nobody had to be paged for separately."""
    received = events[events["outcome"] != "expire"]
    fired = events[events["outcome"].isin(FIRING_OUTCOMES)]
    firings, declared = len(fired), len(incidents)
    rows = [
        ("alert reports received", len(received)),
        ("alert firings (new or again after resolving)", firings),
        ("distinct alerts", received["fingerprint"].nunique()),
        ("correlated groups with a firing", fired["group_id"].nunique()),
        ("incidents declared", declared),
        ("firings per incident", firings / declared if declared else None),
        ("noise reduction pct", 100 * (1 - declared / firings) if firings else None),
    ]
    return pd.DataFrame(rows, columns=["measure", "value"], dtype=object)


def noisiest(events: pd.DataFrame, attached: frozenset[str], *, top: int = 10) -> pd.DataFrame:
    """Alerts that fired most without ever being part of an incident, by name and service:
    firings, instances (fingerprints), reports, and the median minutes an occurrence fired
    (short ones are candidates for a sustain time)."""
    columns = [
        *("name", "service", "source", "firings", "instances", "reports"),
        *("median_minutes_firing", "first", "last"),
    ]
    alone = events[~events["fingerprint"].isin(attached)].copy()
    alone["service"] = alone["service"].fillna(UNMAPPED_SERVICE)
    fired = alone[alone["outcome"].isin(FIRING_OUTCOMES)]
    if fired.empty:
        return pd.DataFrame(columns=columns)
    keys = ["name", "service", "source"]
    table = fired.groupby(keys).agg(
        firings=("fingerprint", "size"),
        instances=("fingerprint", "nunique"),
        first=("at", "min"),
        last=("at", "max"),
    )
    received = alone[alone["outcome"] != "expire"]
    table["reports"] = received.groupby(keys).size()
    lasting = occurrences(alone).groupby(keys)["minutes"].median()
    table["median_minutes_firing"] = lasting
    table = table.reset_index().sort_values(
        ["firings", "name", "service"], ascending=[False, True, True], kind="stable"
    )
    return table.head(top).reset_index(drop=True)[columns]


# --- the report ----------------------------------------------------------------------------------


def _mean_p90(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "none reached"
    return f"mean {values.mean():.1f} min, p90 {values.quantile(0.9):.1f} min ({len(values)})"


def headline(
    incidents: pd.DataFrame,
    sla: pd.DataFrame,
    noise_table: pd.DataFrame | None,
    followups: pd.DataFrame | None,
) -> list[tuple[str, str]]:
    """The figures a reader wants first; `followups` None when the records keep none."""
    counts = incidents["priority"].value_counts()
    split = ", ".join(f"{p}: {counts[p]}" for p in PRIORITIES if p in counts.index)
    out = [("Incidents declared", f"{len(incidents)}" + (f" ({split})" if split else ""))]
    if incidents.empty:
        return out
    spans = minutes(incidents)
    out += [
        ("Open now", str(int(incidents["open"].sum()))),
        ("Time to acknowledge", _mean_p90(spans["acknowledge"])),
        ("Time to resolve", _mean_p90(spans["resolve"])),
    ]
    met, decided = int(sla["met"].sum()), int(sla["met"].sum() + sla["breached"].sum())
    if decided:
        out.append(("SLA clocks met", f"{met} of {decided} ({100 * met / decided:.0f}%)"))
    if noise_table is not None:
        values = dict(zip(noise_table["measure"], noise_table["value"], strict=True))
        reduction = values["noise reduction pct"]
        if isinstance(reduction, float):
            firings = values["alert firings (new or again after resolving)"]
            out.append(("Noise reduction", f"{reduction:.0f}% ({firings} alert firings)"))
    if followups is not None and len(followups):
        left = followups.loc[~followups["done"]]
        overdue = int(left["overdue"].sum())
        out.append(
            ("Follow-up actions open", f"{len(left)} of {len(followups)} ({overdue} overdue)")
        )
    return out


def open_followups(followups: pd.DataFrame) -> pd.DataFrame:
    """The follow-ups not done, overdue first, then by due time."""
    left = followups.loc[~followups["done"]]
    left = left.sort_values(["overdue", "due"], ascending=[False, True], kind="stable")
    return left.drop(columns=["done"]).reset_index(drop=True)


TITLES: Final = {
    "by_priority": "Incidents by priority",
    "by_week": "Incidents by week",
    "by_service": "Incidents by service",
    "by_team": "Incidents by team",
    "response_times": "Time to declare, acknowledge and resolve",
    "sla": "SLA compliance",
    "noise": "Alerts received and incidents declared",
    "noisiest_alerts": "Noisiest alerts (never part of an incident)",
    "recurring": "Recurring root causes",
    "followups": "Follow-up actions open",
    "incidents": "Incidents",
}
ABOUT: Final = {
    "by_priority": "Incidents declared in the period by their priority (the highest they "
    "reached), and how many are still open.",
    "by_week": "Incidents declared each week (Monday to Sunday, UTC) by priority, with the "
    "alert firings of the week when recorded alerts were read.",
    "by_service": "Each incident counts once for every service it impacted or had as a "
    "root-cause candidate (what `GET /api/v1/incidents?service=NAME` lists); the team owns "
    "the service in services.yaml.",
    "by_team": "Each incident counts once for every team that owns one of its root-cause "
    "candidates (its impacted services when it has none) in services.yaml.",
    "response_times": "Minutes from the first alert to the declaration, from the declaration "
    "(or reopening) to the acknowledgement (or mitigation or resolution, if that came first), "
    "and to the resolution, as the SLA clocks measure them. Incidents that have not reached a "
    "step are left out of it. p90: 90th percentile, linear between ranks.",
    "sla": "Each SLA clock of declaration.yaml for the incidents' priority, as the incident "
    "page shows it: met, breached, or still running; compliance is met / (met + breached).",
    "noise": "Alerts received in the period against the incidents declared in it. A firing "
    "is an alert that starts firing (new, or again after it resolved); noise reduction is "
    "1 - incidents / firings.",
    "noisiest_alerts": "Alerts that fired most in the period without ever being attached to "
    "an incident, by name and service; instances are distinct alerts (fingerprints). A short "
    "median firing suggests a sustain time; many firings, a threshold to revisit.",
    "recurring": "Root-cause candidates shared by at least two incidents of the period: "
    "candidates for problem management.",
    "followups": "Follow-up actions of the incidents of the period that are not done or "
    "cancelled, overdue ones first (overdue: past due at the report's time).",
    "incidents": "Every incident declared in the period, oldest first.",
}
EMPTY: Final = {
    "recurring": "No root-cause candidate is shared by two incidents of the period.",
    "followups": "No open follow-up actions.",
}
NO_ALERTS: Final = (
    "Alerts: no recorded webhooks were given (--alerts FILE), so noise and the noisiest "
    "alerts are not reported."
)


def _table(name: str, frame: pd.DataFrame, empty: str | None = None) -> Table:
    text = empty or EMPTY.get(name, "None in this period.")
    return Table(name, TITLES[name], ABOUT[name], frame, text)


def build(history: History, *, top: int = 10) -> Report:
    """Every table of the report, from the history of one period."""
    incidents = incidents_frame(history.incidents, history.owners)
    period, alerts, owners = history.period, history.alerts, history.owners
    events = None if alerts is None else alerts_in(alerts.events, period)
    sla = sla_compliance(incidents)
    tables = [
        _table("by_priority", by_priority(incidents)),
        _table("by_week", by_week(incidents, period, events)),
        _table("by_service", by_service(incidents, owners)),
        _table("by_team", by_team(incidents)),
        _table("response_times", response_times(incidents)),
        _table("sla", sla),
    ]
    notes = list(history.notes)
    noise_table = None
    if alerts is None or events is None:
        notes.append(NO_ALERTS)
    else:
        attached = alerts.attached | {fp for r in history.incidents for fp in r.alerts}
        noise_table = noise(incidents, events)
        tables += [
            _table("noise", noise_table),
            _table("noisiest_alerts", noisiest(events, attached, top=top)),
        ]
    tables.append(_table("recurring", recurring(incidents, owners)))
    kept = not history.incidents or any(r.followups is not None for r in history.incidents)
    followups = followups_frame(history.incidents, history.as_of)
    if not kept:
        notes.append(NO_FOLLOWUPS)
    tables += [
        _table("followups", open_followups(followups), None if kept else "Not recorded."),
        _table("incidents", incident_list(incidents)),
    ]
    return Report(
        period=period,
        as_of=history.as_of,
        sources=history.sources,
        notes=tuple(notes),
        headline=tuple(headline(incidents, sla, noise_table, followups if kept else None)),
        tables=tuple(tables),
    )
