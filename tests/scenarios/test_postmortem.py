"""The post-incident draft and its chart, from the reviewed outage of tests/scenarios/review.py
(the real engine on config/example). Every figure the draft shows is worked out here again
from the scenario's own times and from the YAML files read directly, not from incidentd's
code."""

from __future__ import annotations

import io
import itertools
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml
from PIL import Image

from incidentd.declare.timeline import EntryKind
from incidentd.insight.chart import chart_png, figure, volume
from incidentd.insight.postmortem import ANALYSIS, draft
from incidentd.model import Status
from incidentd.rules.loader import load
from tests.scenarios.review import DAY, NOW, Reviewed, reviewed
from tests.scenarios.test_declaration import EXAMPLE
from tests.unit.alerts import T0, at

SERVICE_OF = {
    "PostgresDown": "orders-db",
    "CheckoutErrors": "checkout",
    "GatewayUpstream5xx": "api-gateway",
}
"""Which service each alert of the outage is on (services.yaml's selectors, by hand)."""
HELD = 5
"""Seconds: an alert of a group an open incident holds is attached at the next whole 5 s of
event time (docs/declaration.md)."""


@pytest.fixture(scope="module")
def case() -> Reviewed:
    return reviewed(load(EXAMPLE, env={}))


@pytest.fixture(scope="module")
def sections(case: Reviewed) -> dict[str, str]:
    text = draft(
        case.incident,
        case.timeline,
        actions=case.actions,
        spec=case.rules.declaration,
        now=NOW,
        chart="INC-1000-chart.png",
    )
    parts = text.split("\n## ")
    return {"head": parts[0]} | {p.split("\n", 1)[0]: p.split("\n", 1)[1] for p in parts[1:]}


def _yaml(name: str) -> Any:
    return yaml.safe_load((EXAMPLE / name).read_text())


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def _held(at: datetime) -> datetime:
    late = -(at - T0).total_seconds() % HELD
    return at + timedelta(seconds=late)


def _span_minutes(minutes: int) -> str:
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def test_the_draft_has_every_section_in_order(sections: dict[str, str]) -> None:
    assert list(sections) == [
        "head",
        "Summary",
        "Impact",
        "Detection and response",
        "Alert volume",
        "Timeline",
        "Contributing alerts",
        "Root-cause candidates",
        "Actions taken",
        "Follow-up actions",
        "Analysis",
    ]
    assert sections["head"].startswith("# Post-incident review: INC-1000\n")
    assert "**Checkout and browse degraded: orders-db failing**" in sections["head"]


def test_the_response_figures_and_sla_clocks(sections: dict[str, str]) -> None:
    """Milestones of the scenario: first alert and declaration at 0, acknowledged at 7,
    mitigated at 25, resolved at 50; P1 targets read from declaration.yaml."""
    body = sections["Detection and response"]
    for name, minute in (("Acknowledged", 7), ("Mitigated", 25), ("Resolved", 50)):
        after = _span_minutes(minute)
        assert f"| {name} | {_stamp(at(minute))} | {after} | {after} |" in body
    assert f"| First alert | {_stamp(T0)} | 0s | 0s |" in body
    p1 = _yaml("declaration.yaml")["sla"]["P1"]
    targets = {clock: _minutes(p1[clock]) for clock in ("declare", "acknowledge", "resolve")}
    took = {"declare": 0, "acknowledge": 7, "resolve": 50}
    for clock, target in targets.items():
        state = "met" if took[clock] <= target else "**breached**"
        due = _stamp(T0 + timedelta(minutes=target))
        spent = _span_minutes(took[clock]) if took[clock] else "0s"
        assert f"| {clock} | {_span_minutes(target)} | {due} | {spent} | {state} |" in body
    assert "| acknowledge | 5m |" in body
    assert "**breached**" in body


def _minutes(text: str) -> int:
    number, unit = int(text[:-1]), text[-1]
    return number * {"m": 1, "h": 60}[unit]


def _upstream(services: dict[str, Any], root: str) -> set[str]:
    """`root` and everything that depends on it, directly or not."""
    found, todo = {root}, [root]
    while todo:
        name = todo.pop()
        for other, spec in services.items():
            if name in (spec.get("depends_on") or ()) and other not in found:
                found.add(other)
                todo.append(other)
    return found


def test_the_impact_comes_from_the_blast_radius_over_the_impact_window(
    sections: dict[str, str],
) -> None:
    doc = _yaml("services.yaml")
    radius = _upstream(doc["services"], "orders-db")
    caps = {c for name in radius for c in doc["services"][name].get("capabilities") or ()}
    users = sum(doc["capabilities"][c].get("users_per_minute", 0) for c in caps)
    revenue = sum(doc["capabilities"][c].get("revenue_per_minute", 0) for c in caps)
    window = 25  # first alert to mitigation, in minutes
    body = sections["Impact"]
    assert f"- **Services impacted:** {', '.join(sorted(radius))} ({len(radius)})" in body
    assert f"**Users at stake:** {users:,} a minute; about {users * window:,} over" in body
    assert f"**Revenue at stake:** {revenue:,} a minute; about {revenue * window:,} over" in body
    assert "**Customers:** affected: customers use" in body
    assert "**At its worst:** P1" in body
    summary = sections["Summary"]
    assert f"**Impact window:** {_stamp(T0)} to 09:25:00 UTC (25m)" in summary
    assert "- **Incident:** INC-1000, P1, resolved" in summary
    assert "- **Commander:** alice" in summary
    assert "- **Root-cause candidates:** orders-db" in summary


def test_the_contributing_alerts_are_grouped_by_service(
    case: Reviewed, sections: dict[str, str]
) -> None:
    fired = [a for a in case.alerts if a.status is Status.FIRING]
    instances = Counter(SERVICE_OF[a.name] for a in fired)
    body = sections["Contributing alerts"]
    for service, count in instances.items():
        assert f"### {service} ({count} alert{'s' if count > 1 else ''})" in body
    times = [_held(a.received_at) for a in fired if a.name == "CheckoutErrors"]
    first, last = min(times), max(times)
    assert f"| CheckoutErrors | critical | 2 | 2 | {_stamp(first)} | {_stamp(last)} |" in body
    assert body.index("### checkout") < body.index("### orders-db"), "most attached first"


def test_the_root_cause_candidates_say_why(sections: dict[str, str]) -> None:
    body = sections["Root-cause candidates"]
    assert "- **orders-db**: its alerts: PostgresDown" in body
    assert "none of whose dependencies" in body
    assert "consequences (their blast radius): api-gateway, checkout, frontend." in body


def test_the_timeline_shows_every_entry_with_alert_runs_folded(
    case: Reviewed, sections: dict[str, str]
) -> None:
    rows = [r for r in sections["Timeline"].splitlines() if r.startswith("| 2026")]
    alerts = (EntryKind.ALERT_ATTACHED, EntryKind.ALERT_RESOLVED)
    runs = itertools.groupby(case.timeline, key=lambda e: (e.kind in alerts, e.at))
    expected = sum(1 if folded else len(list(group)) for (folded, _), group in runs)
    assert len(rows) == expected
    assert f"| {_stamp(at(7))} | alice | declared -> acknowledged |" in rows
    assert f"| {_stamp(at(12))} | alice | Note: failing over orders-db \\| replica |" in rows
    assert f"| {_stamp(at(5))} | incidentd | SLA breached: acknowledge (5m) |" in rows
    overdue = f"| {_stamp(at(DAY))} | incidentd | Follow-up F1 overdue (due {_stamp(at(DAY))})"
    assert any(r.startswith(overdue) for r in rows)


def test_the_actions_come_from_the_outbox_and_the_timeline(
    case: Reviewed, sections: dict[str, str]
) -> None:
    body = sections["Actions taken"]
    rows = [r for r in body.splitlines() if r.startswith("| 2026")]
    assert len(rows) == len(case.actions)
    targets = Counter(a.target for a in case.actions)
    assert targets == {"pagerduty-orders": 2, "slack-incidents": 8}
    for target, count in targets.items():
        assert f"- {target}: {count} sent" in body
    assert any("| slack-incidents | followup_overdue | sent | 1 |" in r for r in rows)


def test_the_follow_ups_and_the_analysis_to_fill(sections: dict[str, str]) -> None:
    body = sections["Follow-up actions"]
    assert "2 follow-ups, 1 open, 1 overdue." in body
    assert f"| F1 | Alert on replica lag | bob | {_stamp(at(DAY))} | **overdue** |" in body
    assert f"| F2 | Runbook for orders-db failover | carol | {_stamp(at(8 * DAY))} | done |" in body
    analysis = sections["Analysis"]
    for title in ANALYSIS:
        assert f"### {title}\n\n_To be written._" in analysis
    assert [t for t in ANALYSIS] == ["Root cause", "Contributing factors", "Lessons learned"]


def test_the_chart_links_from_the_draft(sections: dict[str, str]) -> None:
    assert (
        "![Alerts attached to the incident over time](INC-1000-chart.png)"
        in (sections["Alert volume"])
    )


def test_the_chart_counts_the_alerts_per_minute_over_the_incident(case: Reviewed) -> None:
    """From the first alert (09:00) to the resolution (09:50): one-minute bars; attached
    from the alerts' own times, firing as they fire and clear."""
    data = volume(case.incident, case.timeline, now=NOW)
    assert case.incident.resolved_at == at(50)
    minutes = 50 + 1  # 09:00 to 09:50, the bucket of the resolution included
    assert (data.start, data.step, len(data.attached)) == (T0, timedelta(minutes=1), minutes)
    attached = [0] * minutes
    resolved = [0] * minutes
    for a in case.alerts:
        bucket = int((a.received_at - T0) / timedelta(minutes=1))
        (attached if a.status is Status.FIRING else resolved)[bucket] += 1
    assert list(data.attached) == attached
    assert list(data.resolved) == resolved
    changes = [up - down for up, down in zip(attached, resolved, strict=True)]
    assert list(data.firing) == list(itertools.accumulate(changes))
    fig = figure(data, title="t")
    [bars] = fig.axes[0].containers
    assert [round(b.get_height()) for b in bars] == attached
    assert [name for name, _ in data.milestones] == [
        "first alert",
        "declared",
        "acknowledged",
        "mitigated",
        "resolved",
    ]


def test_the_chart_is_a_png_of_the_figure(case: Reviewed) -> None:
    body = chart_png(case.incident, case.timeline, now=NOW)
    image = Image.open(io.BytesIO(body))
    assert image.format == "PNG"
    assert image.size == (900, 360)
    assert chart_png(case.incident, case.timeline, now=NOW) == body, "same incident, same bytes"
