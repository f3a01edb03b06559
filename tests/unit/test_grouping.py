"""Grouping as pure functions: rules in order, keys, which group accepts, member counts."""

from __future__ import annotations

from incidentd.correlate.grouping import (
    DEFAULT_RULE,
    Group,
    Member,
    compile_rules,
    group_key,
    pick,
    resolve_due,
    rule_for,
)
from incidentd.model import Severity, Status
from incidentd.rules.schema import RulesFile
from tests.unit.alerts import alert, at

RULES = compile_rules(
    RulesFile.model_validate(
        {
            "defaults": {"window": "10m", "max_age": "1h", "quiet_period": "5m"},
            "rules": [
                {
                    "name": "disks",
                    "match": ['name=~"Disk.*"'],
                    "group_by": ["host"],
                    "window": "30m",
                },
                {"name": "critical", "match": ['severity="critical"'], "group_by": ["service"]},
            ],
        }
    )
)


def _group(rule: str, key: str, opened: float, last: float) -> Group:
    return Group(
        id=f"G-{rule}-{opened}",
        rule=rule,
        key=key,
        rules_version="v",
        opened_at=at(opened),
        last_seen=at(last),
    )


def test_first_matching_rule_wins_and_the_default_takes_the_rest() -> None:
    disk = alert("DiskFull", severity=Severity.CRITICAL, labels={"host": "a"})
    assert rule_for(disk, None, RULES).name == "disks"
    assert rule_for(alert("Down", severity=Severity.CRITICAL), "db", RULES).name == "critical"
    assert rule_for(alert("Slow"), "db", RULES).name == DEFAULT_RULE


def test_rules_see_the_mapped_service() -> None:
    rules = compile_rules(
        RulesFile.model_validate({"rules": [{"name": "db", "match": ['service="orders-db"']}]})
    )
    sent_as_alias = alert("Down", service="pg-orders")
    assert rule_for(sent_as_alias, "orders-db", rules).name == "db"
    assert rule_for(sent_as_alias, None, rules).name == DEFAULT_RULE


def test_defaults_apply_where_a_rule_says_nothing() -> None:
    disks, critical, default = RULES
    assert disks.window.total_seconds() == 1800
    assert critical.window.total_seconds() == 600
    assert default.max_age.total_seconds() == 3600


def test_group_key_uses_the_values_and_the_unmapped_bucket() -> None:
    default = RULES[-1]
    assert group_key(default, alert("A"), "db") == group_key(default, alert("B"), "db")
    assert group_key(default, alert("A"), None) != group_key(default, alert("B"), None)
    disks = RULES[0]
    assert group_key(disks, alert("DiskFull", labels={"host": "a"}), None) != group_key(
        disks, alert("DiskFull", labels={"host": "b"}), None
    )


def test_pick_prefers_the_exact_key_then_the_most_recent_and_respects_windows() -> None:
    rule = RULES[-1]
    exact = _group(rule.name, "k", 0, 1)
    related = _group(rule.name, "other", 0, 4)
    stale = _group(rule.name, "k2", 0, 0)
    assert pick([related, exact], key="k", at=at(5), rule=rule) is exact
    assert pick([stale, related], key="k", at=at(5), rule=rule) is related
    assert pick([exact], key="k", at=at(12), rule=rule) is None, "window (10m) passed"
    assert pick([_group(rule.name, "k", 0, 59)], key="k", at=at(61), rule=rule) is None, "max_age"
    assert pick([_group("disks", "k", 0, 1)], key="k", at=at(2), rule=rule) is None


def test_pick_breaks_ties_the_same_way_whatever_the_order_of_the_candidates() -> None:
    """Candidates come from sets, whose order changes from process to process (hash seed):
    two groups seen at the same instant (one webhook's alerts) must not be picked by it."""
    rule = RULES[-1]
    older = _group(rule.name, "a", 1, 4)
    newer = _group(rule.name, "b", 2, 4)
    twin = Group(
        id="G-0", rule=rule.name, key="c", rules_version="v", opened_at=at(1), last_seen=at(4)
    )
    for order in ([older, newer, twin], [newer, twin, older], [twin, older, newer]):
        assert pick(order, key="k", at=at(5), rule=rule) is twin, "oldest, then smallest id"
    assert pick([newer, older], key="k", at=at(5), rule=rule) is older


def test_members_count_firing_driving_and_services() -> None:
    group = _group("x", "k", 0, 0)
    assert group.set_member("a", Member(Status.FIRING, "db"))
    assert not group.set_member("b", Member(Status.FIRING, "db", silenced=True))
    assert (group.firing, group.driving, group.services) == (2, 1, {"db": 2})
    assert not group.set_member("a", Member(Status.RESOLVED, "db"))
    assert group.set_member("b", Member(Status.RESOLVED, "db"))
    assert (group.firing, group.driving, group.services, group.size) == (0, 0, {}, 2)
    group.quiet_since = at(3)
    assert resolve_due(group, RULES[-1]) == at(8)
