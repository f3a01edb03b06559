"""A sample incident, as `incident.view()` shows it, to try SRE-written templates on when the
configuration loads.

Two shapes: `full` has every optional value (a commander with a Slack id, a note, a bridge,
links, root causes, capabilities, stakes, the timeline with each kind of entry a message
reads, an SLA breach, an overdue follow-up), `bare` has none of them (an unmapped incident
nobody has touched yet, no timeline). A template that renders both for every event only fails
later on a value it tests for and then misuses. The shapes follow `incident.view()`; a unit
test keeps their keys equal to a real view's. Constants only: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

from incidentd.act.target import ActionEvent, ActionRequest, Link, Person

_FACTORS = [
    ("impact.criticality", "critical", 30.0, "critical: checkout, orders-db"),
    ("impact.blast_radius", "critical", 15.0, "reaches 3 services (checkout, frontend, orders-db)"),
    ("impact.customer_facing", True, 15.0, "customers use checkout, frontend"),
    ("impact.users", 9400.0, 15.0, "users a minute at stake: 9400, extensive (>= 5000)"),
    ("impact.revenue", 5200.0, 15.0, "revenue a minute at stake: 5200, extensive (>= 2000)"),
    ("impact.capabilities", 2, 6.7, "capabilities touched (browse, checkout): 2"),
    ("urgency.severity", "critical", 40.0, "most severe driving alert: critical (PostgresDown)"),
    ("urgency.signals", 5, 10.0, "5 alerts: high (>= 5)"),
]


def _entry(seq: int, minute: int, kind: str, details: dict[str, Any], by: str = "") -> Any:
    actor = {"kind": "person", "name": by} if by else {"kind": "engine", "name": "incidentd"}
    return {
        "seq": seq,
        "at": f"2026-03-02T09:{minute:02d}:00Z",
        "kind": kind,
        "actor": actor,
        "details": details,
    }


_TIMELINE = [
    _entry(0, 6, "declared", {"title": "Checkout degraded", "priority": "P2", "score": 70}),
    _entry(1, 6, "alert_attached", {"fingerprint": "a93f", "name": "PostgresDown"}),
    _entry(2, 8, "commander_set", {"from": None, "to": "alice"}, "alice"),
    _entry(3, 10, "priority_changed", {"from": "P2", "to": "P1", "summary": "P1: ..."}),
    _entry(4, 21, "sla_breached", {"clock": "acknowledge", "priority": "P1",
                                   "target_seconds": 900.0, "due": "2026-03-02T09:21:00Z"}),
    _entry(5, 22, "status_changed", {"from": "declared", "to": "acknowledged",
                                     "note": "on it"}, "alice"),
    _entry(6, 30, "note", {"text": "orders-db primary lost its disk; failing over"}, "alice"),
    _entry(7, 40, "status_changed", {"from": "acknowledged", "to": "mitigated",
                                     "note": "failover done"}, "alice"),
    _entry(8, 50, "status_changed", {"from": "mitigated", "to": "resolved",
                                     "note": "replica rebuilt"}, "alice"),
    _entry(9, 55, "status_changed", {"from": "resolved", "to": "declared",
                                     "note": "errors are back"}, "bob"),
    _entry(10, 57, "followup_added", {"followup": "F1", "title": "Alert on replica lag",
                                      "owner": "bob", "due": "2026-03-02T09:58:00+00:00",
                                      "note": ""}, "alice"),
    _entry(11, 58, "followup_overdue", {"followup": "F1", "title": "Alert on replica lag",
                                        "owner": "bob", "due": "2026-03-02T09:58:00+00:00"}),
]  # fmt: skip

_FOLLOWUP = {
    "id": "F1",
    "title": "Alert on replica lag",
    "owner": "bob",
    "due": "2026-03-02T09:58:00Z",
    "status": "open",
    "created_at": "2026-03-02T09:57:00Z",
    "created_by": "alice",
    "updated_at": "2026-03-02T09:57:00Z",
    "closed_at": None,
    "overdue_at": "2026-03-02T09:58:00Z",
}


def _view(*, full: bool) -> dict[str, Any]:
    factors = [
        {"name": n, "value": v, "contribution": c, "note": note} for n, v, c, note in _FACTORS
    ]
    services = ["checkout", "frontend", "orders-db"] if full else []
    capabilities = ["checkout", "browse"] if full else []
    summary = "P1: impact extensive (96.7/100) x urgency high (65/100), score 84/100"
    view: dict[str, Any] = {
        "id": "INC-1001",
        "number": 1001,
        "title": "Checkout degraded: orders-db failing",
        "status": "declared",
        "priority": "P1",
        "assessed": "P1",
        "score": {
            "value": 84,
            "priority": "P1",
            "summary": summary,
            "impact": {"level": "extensive", "points": 96.7},
            "urgency": {"level": "high", "points": 65.0},
            "factors": factors if full else [],
            "services": services,
            "capabilities": capabilities,
        },
        "services": services,
        "capabilities": capabilities,
        "root_causes": ["orders-db"] if full else [],
        "groups": ["G-orders"],
        "group_keys": ["orders"],
        "alerts": ["a93f"],
        "firing": ["a93f"],
        "rules_version": "000000000000",
        "declared_at": "2026-03-02T09:06:00Z",
        "reasons": ["P1 reaches the declaration threshold P2"] if full else [],
        "acknowledged_at": "2026-03-02T09:22:00Z" if full else None,
        "mitigated_at": "2026-03-02T09:40:00Z" if full else None,
        "resolved_at": "2026-03-02T09:50:00Z" if full else None,
        "reopened_at": "2026-03-02T09:55:00Z" if full else None,
        "quiet_since": None,
        "commander": "alice" if full else None,
        "status_owner": "bob" if full else None,
        "storm": full,
        "timeline_size": len(_TIMELINE) if full else 1,
        "started_at": "2026-03-02T09:00:00Z" if full else None,
        "breached": ["acknowledge"] if full else [],
        "followups": [_FOLLOWUP] if full else [],
        "open": True,
    }
    view["peak_score"] = view["score"]
    if full:
        view["timeline"] = _TIMELINE
    return view


def requests(event: ActionEvent) -> tuple[ActionRequest, ActionRequest]:
    """The full and the bare sample request for `event`. A bare SLA breach still names its
    clock (the record says which one ran out)."""
    full = ActionRequest.of(
        _view(full=True),
        event,
        target="sample",
        seq=len(_TIMELINE) - 1,
        bridge_url="https://meet.example.com/inc-1001",
        links=(Link("https://incidentd.example.com/incidents/INC-1001", "Incident"),),
        responders=("U0SAMPLE1",),
        people=(Person("alice", slack="U0ALICE01", email="alice@example.com"), Person("bob")),
        note="Failover to the replica is done; error rates are back to normal.",
    )
    bare_view = _view(full=False)
    if event is ActionEvent.SLA_BREACHED:
        bare_view["breached"] = ["acknowledge"]
    bare = ActionRequest.of(bare_view, event, target="sample", seq=0)
    return full, bare
