"""Scoring as a pure function over real-looking groups of config/example: levels, priority,
and the explanation a person reads."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentd.declare.scoring import Score, facts_of, score
from incidentd.model import Priority, Severity
from incidentd.rules.schema import DEFAULT_MATRIX, ImpactLevel, Matrix, UrgencyLevel
from tests.unit.alerts import alert, at
from tests.unit.declare_groups import (
    IMPACT,
    SPEC,
    Fired,
    add,
    app_errors,
    build,
    checkout_db_outage,
    facts,
    gateway_5xx,
    postgres_down,
    recommendations_warning,
    scored,
    unmapped,
)

IMPACT_FACTORS = {
    "impact.criticality",
    "impact.blast_radius",
    "impact.customer_facing",
    "impact.users",
    "impact.revenue",
    "impact.capabilities",
}
URGENCY_FACTORS = {
    "urgency.severity",
    "urgency.signals",
    "urgency.hosts",
    "urgency.regions",
    "urgency.duration",
    "urgency.growth",
    "urgency.flapping",
    "urgency.silenced",
}


def factor(result: Score, name: str) -> tuple[object, float, str]:
    (found,) = [f for f in result.factors if f.name == name]
    return found.value, found.contribution, found.note


def side(result: Score, prefix: str) -> float:
    return sum(f.contribution for f in result.factors if f.name.startswith(prefix))


# --- the two reference cases of config/example ---------------------------------------------


def test_checkout_database_outage_is_p1_and_the_factors_say_why() -> None:
    group, result = scored(checkout_db_outage(), minute=6)
    assert group.root_causes == ("orders-db",)
    assert result.priority is Priority.P1
    assert result.impact is ImpactLevel.EXTENSIVE
    assert result.urgency in (UrgencyLevel.CRITICAL, UrgencyLevel.HIGH)
    assert {f.name for f in result.factors} == IMPACT_FACTORS | URGENCY_FACTORS
    assert factor(result, "impact.criticality")[0] == "critical"
    assert "orders-db" in factor(result, "impact.criticality")[2]
    assert factor(result, "impact.customer_facing")[0] is True
    assert factor(result, "impact.users")[0] == 9400  # checkout 400 + browse 9000, each once
    assert factor(result, "impact.revenue")[0] == 5200
    assert factor(result, "impact.capabilities")[0] == 2
    assert factor(result, "urgency.severity")[0] == "critical"
    assert factor(result, "urgency.signals")[0] == 5
    assert factor(result, "urgency.hosts")[0] == 5
    assert factor(result, "urgency.regions")[0] == 1
    assert set(result.capabilities) == {"checkout", "browse"}
    assert {"orders-db", "checkout", "api-gateway", "frontend"} == set(result.services)


def test_contributions_add_up_to_the_points_and_the_score() -> None:
    _, result = scored(checkout_db_outage(), minute=6)
    assert side(result, "impact.") == pytest.approx(result.impact_points, abs=0.05)
    assert side(result, "urgency.") == pytest.approx(result.urgency_points, abs=0.05)
    share = SPEC.scoring.impact_share
    expected = share * result.impact_points + (1 - share) * result.urgency_points
    assert result.value == round(expected)
    assert result.summary().startswith("P1: impact extensive (")
    assert all(line.split(":")[0] for line in result.explanation())


def test_one_warning_on_an_internal_low_service_is_p5() -> None:
    group, result = scored([recommendations_warning()], minute=1)
    assert group.driving_services == {"recommendations"}
    assert result.impact is ImpactLevel.MINOR
    assert result.urgency is UrgencyLevel.LOW
    assert result.priority in (Priority.P4, Priority.P5)
    assert factor(result, "impact.customer_facing")[0] is False
    assert factor(result, "impact.criticality")[0] == "low"


def test_a_lone_critical_database_alert_is_p2_before_the_cascade() -> None:
    _, result = scored([postgres_down()], minute=1)
    assert (result.impact, result.urgency, result.priority) == (
        ImpactLevel.EXTENSIVE,
        UrgencyLevel.MEDIUM,
        Priority.P2,
    )


# --- what must not raise a score -----------------------------------------------------------


def test_silenced_alerts_do_not_count_at_all() -> None:
    _, alone = scored([recommendations_warning()], minute=5)
    silenced_outage = [postgres_down(0, silenced=True), postgres_down(1, 2, silenced=True)]
    group, with_silenced = scored([recommendations_warning(), *silenced_outage], minute=5)
    assert group.silenced == 2
    assert with_silenced.value == alone.value
    assert with_silenced.priority is alone.priority
    value, contribution, note = factor(with_silenced, "urgency.silenced")
    assert (value, contribution) == (2, 0)
    assert "do not count" in note


def test_flapping_alerts_weigh_urgency_down() -> None:
    steady = [recommendations_warning(), app_errors("recommendations", 0, namespace="ml")]
    _, before = scored(steady, minute=5)
    flapping = [postgres_down(0, flapping=True), postgres_down(0, 2, flapping=True)]
    group, after = scored([*steady, *flapping], minute=5)
    assert group.flapping == 2
    value, contribution, note = factor(after, "urgency.flapping")
    assert value == 2
    assert contribution < 0
    assert "2 of 4" in note
    assert after.urgency_points < before.urgency_points
    assert after.impact_points == before.impact_points  # the flapping database adds no impact


def test_urgency_never_falls_below_zero_and_the_explanation_still_adds_up() -> None:
    info = Fired(alert("Chatty", severity=Severity.INFO, labels={"instance": "x:1"}))
    flapping = [postgres_down(0, n, flapping=True) for n in range(1, 6)]
    _, result = scored([info, *flapping], minute=1)
    assert result.urgency_points == 0
    _, contribution, note = factor(result, "urgency.floor")
    assert contribution > 0
    assert note == "urgency cannot fall below 0"
    assert side(result, "urgency.") == pytest.approx(0, abs=0.05)


def test_only_silenced_and_flapping_alerts_score_nothing_but_say_so() -> None:
    group, result = scored(
        [postgres_down(0, silenced=True), postgres_down(0, 2, flapping=True)], minute=5
    )
    assert group.signals == ()
    assert result.impact is ImpactLevel.MINOR
    assert result.urgency is UrgencyLevel.LOW
    assert result.value == 0
    assert "no driving alert" in factor(result, "urgency.severity")[2]


def test_unmapped_group_is_scored_on_urgency_with_the_lowest_impact_explained() -> None:
    members = [unmapped("BatchJobFailed", 0), unmapped("DiskFull", 1), unmapped("OOMKilled", 2)]
    group, result = scored(members, minute=3)
    assert group.driving_services == frozenset()
    assert result.impact is ImpactLevel.MINOR
    assert result.impact_points == 0
    value, contribution, note = factor(result, "impact.unmapped")
    assert (value, contribution) == (3, 0)
    assert "services.yaml" in note
    assert result.urgency_points > 40  # three critical alerts on three hosts
    assert result.priority is DEFAULT_MATRIX.priority(ImpactLevel.MINOR, result.urgency)


# --- single factors ------------------------------------------------------------------------


def test_hosts_drop_the_port_and_regions_take_the_first_label_present() -> None:
    group = facts(
        [
            Fired(alert("A", labels={"instance": "db-1:9187", "region": "eu", "zone": "eu-a"})),
            Fired(alert("B", labels={"instance": "db-1:9100", "zone": "us-b"})),
            Fired(alert("C", labels={"host": "db-2", "node": "ignored"})),
        ]
    )
    assert sorted((s.host, s.region) for s in group.signals) == [
        ("db-1", "eu"),
        ("db-1", "us-b"),
        ("db-2", None),
    ]


def test_growth_compares_new_alerts_with_earlier_ones() -> None:
    early = [postgres_down(0), app_errors("checkout", 1)]
    late = [app_errors("checkout", 20, pod=2), gateway_5xx(21), app_errors("frontend", 22)]
    _, steady = scored(early, minute=22)
    _, growing = scored([*early, *late], minute=22)
    assert factor(steady, "urgency.growth")[0] == 0
    value, contribution, note = factor(growing, "urgency.growth")
    assert value == 1.5
    assert contribution > 0
    assert "3 new in the last 5m" in note


def test_duration_counts_from_the_first_driving_alert() -> None:
    _, fresh = scored([postgres_down(0)], minute=1)
    _, old = scored([postgres_down(0)], minute=90)
    assert factor(fresh, "urgency.duration")[1] == 0
    assert factor(old, "urgency.duration")[0] == 90 * 60
    assert old.urgency_points > fresh.urgency_points


def test_a_configured_matrix_decides_the_priority() -> None:
    row = {"critical": "P3", "high": "P3", "medium": "P3", "low": "P3"}
    flat = Matrix.model_validate({level: row for level in ImpactLevel})
    spec = SPEC.scoring.model_copy(update={"matrix": flat})
    found = facts(checkout_db_outage())
    assert score(found, IMPACT, spec=spec, now=at(6)).priority is Priority.P3


def test_score_view_is_json_ready() -> None:
    _, result = scored(checkout_db_outage(), minute=6)
    view = orjson.loads(orjson.dumps(result.view()))
    assert view["priority"] == "P1"
    assert view["impact"]["level"] == "extensive"
    assert {f["name"] for f in view["factors"]} == IMPACT_FACTORS | URGENCY_FACTORS
    assert view["summary"] == result.summary()


def test_members_without_an_alert_state_are_left_out_and_counted() -> None:
    built = build(checkout_db_outage())
    missing = next(iter(built.alerts))
    del built.alerts[missing]
    found = facts_of(built.group, built.alerts, spec=SPEC.scoring)
    assert (len(found.signals), found.unknown) == (4, 1)


# --- properties ----------------------------------------------------------------------------

SERVICE_ALERTS: list[Callable[[int], Fired]] = [
    lambda m: postgres_down(m),
    lambda m: app_errors("checkout", m),
    lambda m: app_errors("frontend", m),
    lambda m: app_errors("inventory", m),
    lambda m: app_errors("mailer", m, namespace="notifications"),
    lambda m: recommendations_warning(m),
    lambda m: unmapped("Lost", m),
]


def _member(
    make: Callable[[int], Fired],
    minute: int,
    pod: int,
    severity: Severity,
    silenced: bool,
    flapping: bool,
) -> Fired:
    """A variation of one of the alerts above: its own host, zone, severity and marks."""
    base = make(minute).alert
    labels = {**base.labels, "instance": f"h{pod}", "zone": f"z{pod % 3}"}
    changed = base.model_copy(
        update={"severity": severity, "labels": labels, "fingerprint": f"{base.fingerprint}{pod}"}
    )
    return Fired(changed, silenced=silenced, flapping=flapping)


members = st.lists(
    st.builds(
        _member,
        st.sampled_from(SERVICE_ALERTS),
        st.integers(0, 120),
        st.integers(0, 30),
        st.sampled_from(list(Severity)),
        st.booleans(),
        st.booleans(),
    ),
    max_size=12,
)

PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTIES
@given(members, st.integers(0, 180))
def test_score_is_0_to_100_and_priority_p1_to_p5(group: list[Fired], now: int) -> None:
    _, result = scored(group, minute=now)
    assert 0 <= result.value <= 100
    assert 0 <= result.impact_points <= 100
    assert 0 <= result.urgency_points <= 100
    assert result.priority in set(Priority)


@PROPERTIES
@given(members, st.integers(0, 6), st.integers(0, 60))
def test_a_critical_driving_alert_never_lowers_the_score(
    group: list[Fired], which: int, extra: int
) -> None:
    now = 180
    built = build(group, opened=0)
    before = score(facts_of(built.group, built.alerts), IMPACT, spec=SPEC.scoring, now=at(now))
    newcomer = _member(SERVICE_ALERTS[which], now, 100 + extra, Severity.CRITICAL, False, False)
    add(built, newcomer)
    after = score(facts_of(built.group, built.alerts), IMPACT, spec=SPEC.scoring, now=at(now))
    assert after.value >= before.value
    assert after.impact_points >= before.impact_points
    assert after.urgency_points >= before.urgency_points
    assert after.priority.at_least(before.priority)


@PROPERTIES
@given(members, st.integers(0, 6), st.booleans())
def test_a_silenced_or_flapping_alert_never_raises_the_score(
    group: list[Fired], which: int, silenced: bool
) -> None:
    built = build(group, opened=0)
    before = score(facts_of(built.group, built.alerts), IMPACT, spec=SPEC.scoring, now=at(150))
    newcomer = _member(SERVICE_ALERTS[which], 149, 200, Severity.CRITICAL, silenced, not silenced)
    add(built, newcomer)
    after = score(facts_of(built.group, built.alerts), IMPACT, spec=SPEC.scoring, now=at(150))
    assert after.value <= before.value
    assert after.priority.rank >= before.priority.rank
