"""Real-looking groups over config/example for the declaration tests.

Alerts carry the labels their exporters send (postgres_exporter, Envoy, Kubernetes pods); the
example map's selectors find their services, dedup makes their states, and the group's root
causes and blast radius are computed as the engine does it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from incidentd.correlate.dedup import AlertState, decide
from incidentd.correlate.grouping import Group, Member
from incidentd.correlate.impact import ImpactMap
from incidentd.declare.scoring import GroupFacts, Score, facts_of, score
from incidentd.model import Alert, Severity, Status
from incidentd.rules.loader import load
from tests.unit.alerts import alert, at

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "config" / "example"
RULES = load(EXAMPLE_DIR, env={})
IMPACT = ImpactMap.build(RULES.services)
SPEC = RULES.declaration
VERSION = RULES.version


@dataclass(frozen=True)
class Fired:
    """One member of a group: an alert and how the group sees it."""

    alert: Alert
    silenced: bool = False
    flapping: bool = False
    status: Status = Status.FIRING


def postgres_down(minute: float = 0, node: int = 1, **kw: bool) -> Fired:
    labels = {"job": "postgres", "cluster": "orders", "instance": f"orders-db-{node}:9187"}
    labels["region"] = "eu-west-1"
    return Fired(
        alert("PostgresDown", minute=minute, severity=Severity.CRITICAL, labels=labels), **kw
    )


def app_errors(app: str, minute: float, namespace: str = "shop", pod: int = 1) -> Fired:
    labels = {"namespace": namespace, "app": app, "instance": f"{app}-{pod}:8080"}
    labels["region"] = "eu-west-1"
    return Fired(alert("HighErrorRate", minute=minute, labels=labels))


def gateway_5xx(minute: float) -> Fired:
    labels = {"namespace": "edge", "app": "envoy", "instance": "envoy-1:9901"}
    labels["region"] = "eu-west-1"
    return Fired(alert("Upstream5xx", minute=minute, labels=labels))


def recommendations_warning(minute: float = 0, **kw: bool) -> Fired:
    labels = {"namespace": "ml", "app": "recommendations", "instance": "recs-1:8080"}
    return Fired(
        alert("SlowInference", minute=minute, severity=Severity.WARNING, labels=labels), **kw
    )


def search_down(minute: float = 0) -> Fired:
    labels = {"job": "elasticsearch", "cluster": "search", "instance": "es-1:9114"}
    return Fired(
        alert("ElasticsearchDown", minute=minute, severity=Severity.CRITICAL, labels=labels)
    )


def auth_down(minute: float = 0) -> Fired:
    labels = {"namespace": "identity", "app": "auth", "instance": "auth-1:8080"}
    return Fired(alert("AuthDown", minute=minute, severity=Severity.CRITICAL, labels=labels))


def unmapped(name: str, minute: float = 0, severity: Severity = Severity.CRITICAL) -> Fired:
    labels = {"instance": f"{name.lower()}-1:9100", "region": "us-east-1"}
    return Fired(alert(name, minute=minute, severity=severity, labels=labels))


def checkout_db_outage(minute: float = 0) -> list[Fired]:
    """orders-db goes down, then checkout, the gateway and the storefront fail above it."""
    return [
        postgres_down(minute),
        postgres_down(minute + 1, node=2),
        app_errors("checkout", minute + 2),
        gateway_5xx(minute + 3),
        app_errors("frontend", minute + 3),
    ]


@dataclass
class Built:
    group: Group
    alerts: dict[str, AlertState] = field(default_factory=dict)


def build(members: list[Fired], *, key: str = "", opened: float | None = None) -> Built:
    """A group holding `members`, as the engine would have built it."""
    first = min(m.alert.received_at for m in members) if members else at(0)
    opened_at = at(opened) if opened is not None else first
    built = Built(
        Group(
            id=f"G-{key or 'test'}",
            rule="service-outage",
            key=key or '["service-outage",[]]',
            rules_version=VERSION,
            opened_at=opened_at,
            last_seen=opened_at,
        )
    )
    for fired in members:
        add(built, fired)
    return built


def add(built: Built, fired: Fired) -> Built:
    """Add one member (in place) and recompute root causes and blast radius."""
    service = IMPACT.service_for(fired.alert)
    state = decide(fired.alert, None, service=service).state
    built.alerts[state.fingerprint] = state
    member = Member(fired.status, service, silenced=fired.silenced, flapping=fired.flapping)
    group = built.group
    group.set_member(state.fingerprint, member)
    group.last_seen = max(group.last_seen, fired.alert.received_at)
    group.unmapped = group.unmapped or service is None
    failing = list(group.services)
    group.root_causes = IMPACT.root_causes(failing)
    radius = IMPACT.blast_radius(failing)
    group.blast_radius = tuple(sorted(radius.services))
    group.capabilities = tuple(sorted(radius.capabilities))
    return built


def facts(members: list[Fired], *, key: str = "") -> GroupFacts:
    built = build(members, key=key)
    return facts_of(built.group, built.alerts, spec=SPEC.scoring)


def scored(members: list[Fired], *, minute: float, key: str = "") -> tuple[GroupFacts, Score]:
    found = facts(members, key=key)
    return found, score(found, IMPACT, spec=SPEC.scoring, now=at(minute))


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
