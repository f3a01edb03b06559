"""Correlation scenarios on virtual time: the engine as replay and the daemon drive it.

The map (tests/scenarios/config): checkout-web -> orders-api -> orders-db, and search on its
own; build-farm has a weekly maintenance window (Mondays 08:00-12:00 Europe/Paris). T0 is
Monday 2026-03-02 09:00 UTC (10:00 in Paris).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from incidentd.correlate.grouping import GroupState
from incidentd.engine import Engine
from incidentd.model import Alert, Severity, Status
from incidentd.rules.loader import RuleSet, load
from tests.unit.alerts import alert, at

CONFIG = Path(__file__).resolve().parent / "config"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load(CONFIG, env={})


def run(rules: RuleSet, *alerts: Alert, until: float | None = None) -> Engine:
    engine = Engine()
    for one in sorted(alerts, key=lambda a: a.received_at):
        engine.process([one], rules=rules)
    if until is not None:
        engine.tick(rules=rules, now=at(until))
    return engine


def test_database_outage_cascading_upwards_is_one_group_with_the_db_as_root_cause(
    rules: RuleSet,
) -> None:
    engine = run(
        rules,
        alert("PostgresDown", minute=0, labels={"job": "postgres", "instance": "db-1"}),
        alert("ConnectionPoolExhausted", minute=1, labels={"app": "orders-api", "pod": "a"}),
        alert("ConnectionPoolExhausted", minute=1.5, labels={"app": "orders-api", "pod": "b"}),
        alert("CheckoutErrors", minute=2, service="checkout-web", severity=Severity.CRITICAL),
    )
    [group] = engine.state.groups.values()
    assert group.rule == "shop-cascade"
    assert len(group.members) == 4
    assert set(group.services) == {"orders-db", "orders-api", "checkout-web"}
    assert group.root_causes == ("orders-db",)
    assert set(group.blast_radius) >= {"orders-api", "checkout-web"}
    assert group.capabilities == ("checkout",)


def test_cascade_reported_top_down_still_finds_the_database(rules: RuleSet) -> None:
    engine = run(
        rules,
        alert("CheckoutErrors", minute=0, service="checkout-web"),
        alert("PostgresDown", minute=3, labels={"job": "postgres"}),
    )
    [group] = engine.state.groups.values()
    assert group.root_causes == ("orders-db",)


def test_two_unrelated_failures_in_the_same_minute_stay_two_groups(rules: RuleSet) -> None:
    engine = run(
        rules,
        alert("PostgresDown", minute=0, labels={"job": "postgres"}),
        alert("SearchLatencyHigh", minute=0.5, service="search"),
    )
    groups = sorted(engine.state.groups.values(), key=lambda g: g.rule)
    assert [g.rule for g in groups] == ["by-service", "shop-cascade"]
    assert [set(g.services) for g in groups] == [{"search"}, {"orders-db"}]


def test_a_flapping_disk_alert_is_marked_flapping_and_stays_in_its_group(
    rules: RuleSet,
) -> None:
    reports = []
    for i in range(6):  # fires and resolves every two minutes: 12 changes in 22 minutes
        start = i * 4
        reports.append(alert("DiskIOErrors", minute=start, service="search", report=str(i)))
        reports.append(
            alert(
                "DiskIOErrors",
                status=Status.RESOLVED,
                minute=start + 2,
                starts=start,
                service="search",
                report=str(i),
            )
        )
    reports.append(alert("DiskIOErrors", minute=24.5, service="search", report="last"))
    engine = run(rules, *reports)
    [group] = [g for g in engine.state.groups.values() if g.state is GroupState.OPEN]
    [member] = group.members.values()
    assert member.flapping
    assert group.firing == 1
    assert group.driving == 0, "a flapping alert does not drive decisions"


def test_quiet_alert_is_not_flapping(rules: RuleSet) -> None:
    engine = run(rules, alert("DiskIOErrors", minute=0, service="search"))
    [group] = engine.state.groups.values()
    assert group.driving == 1


def test_alerts_in_a_maintenance_window_are_silenced_and_their_resolves_close_them(
    rules: RuleSet,
) -> None:
    fired = alert("HostDown", minute=0, service="build-farm", labels={"host": "ci-3"})
    engine = run(rules, fired)
    state = engine.state.alerts[fired.fingerprint]
    assert state.silenced_by, "Monday 10:00 in Paris is inside the window"
    [group] = engine.state.groups.values()
    assert group.firing == 1
    assert group.driving == 0
    engine.process(
        [
            alert(
                "HostDown",
                status=Status.RESOLVED,
                minute=20,
                starts=0,
                service="build-farm",
                labels={"host": "ci-3"},
            )
        ],
        rules=rules,
    )
    assert engine.state.alerts[fired.fingerprint].status is Status.RESOLVED
    engine.tick(rules=rules, now=at(26))
    assert group.state is GroupState.RESOLVED


def test_the_same_alert_after_the_window_is_not_silenced(rules: RuleSet) -> None:
    late = alert("HostDown", minute=180, service="build-farm")  # 13:00 in Paris
    engine = run(rules, late)
    assert engine.state.alerts[late.fingerprint].silenced_by == ()


def test_group_resolves_after_the_quiet_period_and_a_new_failure_opens_a_new_group(
    rules: RuleSet,
) -> None:
    engine = run(
        rules,
        alert("SearchLatencyHigh", minute=0, service="search"),
        alert("SearchLatencyHigh", status=Status.RESOLVED, minute=3, starts=0, service="search"),
    )
    [first] = engine.state.groups.values()
    engine.tick(rules=rules, now=at(7.9))
    assert first.state is GroupState.OPEN, "quiet period (5m) not over yet"
    engine.process([alert("SearchLatencyHigh", minute=9, service="search")], rules=rules)
    assert first.state is GroupState.RESOLVED
    assert len(engine.state.groups) == 2


def test_refire_within_the_quiet_period_keeps_the_group_open(rules: RuleSet) -> None:
    engine = run(
        rules,
        alert("SearchLatencyHigh", minute=0, service="search"),
        alert("SearchLatencyHigh", status=Status.RESOLVED, minute=3, starts=0, service="search"),
        alert("SearchLatencyHigh", minute=5, service="search"),
        until=30,
    )
    [group] = engine.state.groups.values()
    assert group.state is GroupState.OPEN
    assert group.firing == 1


def test_alert_after_the_window_opens_a_new_group(rules: RuleSet) -> None:
    engine = run(
        rules,
        alert("SearchLatencyHigh", minute=0, service="search"),
        alert("SearchErrors", minute=11, service="search"),
    )
    assert len(engine.state.groups) == 2


def test_unmapped_alerts_land_in_a_visible_bucket_by_name(rules: RuleSet) -> None:
    engine = run(
        rules,
        alert("Watchdog", minute=0, labels={"cluster": "eu"}),
        alert("Watchdog", minute=1, labels={"cluster": "us"}),
        alert("CertExpiry", minute=1),
    )
    groups = sorted(engine.state.groups.values(), key=lambda g: len(g.members))
    assert [len(g.members) for g in groups] == [1, 2]
    assert all(g.unmapped for g in groups)


def test_redelivered_batch_changes_nothing(rules: RuleSet) -> None:
    batch = [
        alert("PostgresDown", minute=0, labels={"job": "postgres"}),
        alert("CheckoutErrors", minute=1, service="checkout-web"),
    ]
    engine = run(rules, *batch)
    engine.tick(rules=rules, now=at(1))  # what the batch left due (its last assessment)
    engine.take_changes()
    decisions = engine.process(batch, rules=rules)
    assert {d.kind for d in decisions} == {"alert.duplicate"}
    [group] = engine.state.groups.values()
    assert len(group.members) == 2
    assert not engine.take_changes()


def test_every_decision_names_its_rules_version_and_reasons(rules: RuleSet) -> None:
    engine = Engine()
    decisions = engine.process(
        [alert("PostgresDown", minute=0, labels={"job": "postgres"})], rules=rules
    )
    assert {d.kind for d in decisions} == {"alert.new", "group.opened"}
    assert all(d.rules_version == rules.version for d in decisions)
    assert all(d.reasons for d in decisions)
