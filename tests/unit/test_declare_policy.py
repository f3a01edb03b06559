"""The declaration policy as a pure function: every rule, and the reasons it gives.

The policy is config/example's (sustain 2m; checkout is declared at once; payments at P3)
unless a test says otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from incidentd.declare.incident import (
    Incident,
    IncidentStatus,
    declare,
    declare_storm,
    set_status,
)
from incidentd.declare.policy import Action, PolicyDecision, evaluate, thresholds
from incidentd.declare.scoring import GroupFacts, Score
from incidentd.declare.timeline import ENGINE, person
from incidentd.model import Priority
from incidentd.rules.schema import PolicySpec
from tests.unit.alerts import alert, at
from tests.unit.declare_groups import (
    SPEC,
    VERSION,
    Fired,
    app_errors,
    auth_down,
    checkout_db_outage,
    gateway_5xx,
    postgres_down,
    recommendations_warning,
    scored,
    search_down,
    unmapped,
)

POLICY = SPEC.policy


def decide(
    facts: GroupFacts,
    score: Score,
    *,
    minute: float,
    incident: Incident | None = None,
    open_incidents: Sequence[Incident] = (),
    resolved: Sequence[Incident] = (),
    pending_since: datetime | None = None,
    alert_rate: float = 0,
    policy: PolicySpec = POLICY,
) -> PolicyDecision:
    decision = evaluate(
        facts,
        score,
        incident=incident,
        open_incidents=open_incidents,
        resolved=resolved,
        pending_since=pending_since,
        alert_rate=alert_rate,
        policy=policy,
        rules_version=VERSION,
        now=at(minute),
    )
    # every decision, whatever the test, says why (the score first) and under which rules
    assert decision.reasons[0] == score.summary()
    assert len(decision.reasons) >= 2
    assert all(reason.strip() for reason in decision.reasons)
    assert decision.rules_version == VERSION
    assert decision.view()["reasons"] == list(decision.reasons)
    return decision


def incident_of(members: list[Fired], *, minute: float, key: str, number: int = 1000) -> Incident:
    facts, score = scored(members, minute=minute, key=key)
    step = declare(
        facts, score, number=number, reasons=("test",), rules_version=VERSION, now=at(minute)
    )
    return step.incident


def with_priority(score: Score, priority: Priority) -> Score:
    return dataclasses.replace(score, priority=priority)


# --- declaring -------------------------------------------------------------------------------


def test_the_checkout_database_outage_is_declared_at_once() -> None:
    facts, score = scored(checkout_db_outage(), minute=6)
    decision = decide(facts, score, minute=6)
    assert decision.action is Action.DECLARE
    assert decision.priority is Priority.P1
    assert decision.reasons[0] == score.summary()
    assert (
        "P1 reaches the declaration threshold P2 with 5 distinct driving alerts" in decision.reasons
    )
    assert "sustain 0s (capability checkout override)" in decision.reasons
    assert decision.rules_version == VERSION
    assert decision.pending_since is None


def test_below_the_threshold_nothing_is_declared_and_the_reason_says_so() -> None:
    facts, score = scored([recommendations_warning()], minute=1)
    decision = decide(facts, score, minute=1)
    assert decision.action is Action.NONE
    assert decision.reasons[-1] == "P5 is below the declaration threshold P2"


@pytest.mark.parametrize("mark", ["silenced", "flapping"])
def test_only_silenced_or_flapping_alerts_never_declare(mark: str) -> None:
    members = [postgres_down(0, **{mark: True}), postgres_down(1, 2, **{mark: True})]
    facts, score = scored(members, minute=6)
    # even a score forced to P1 does not declare: the policy guards on its own
    for forced in (score, with_priority(score, Priority.P1)):
        decision = decide(facts, forced, minute=6, pending_since=at(0))
        assert decision.action is Action.NONE
        assert (
            f"only silenced ({facts.silenced}) or flapping ({facts.flapping})"
            in decision.reasons[-1]
        )
        assert decision.pending_since is None


def test_min_signals() -> None:
    policy = POLICY.model_copy(update={"min_signals": 3, "capabilities": {}})
    facts, score = scored([postgres_down(0), postgres_down(0, 2)], minute=1)
    decision = decide(facts, score, minute=1, policy=policy)
    assert decision.action is Action.NONE
    assert decision.reasons[-1] == "2 distinct driving alerts, 3 needed"


# --- sustain ---------------------------------------------------------------------------------


def test_sustain_holds_then_declares() -> None:
    facts, score = scored([search_down(0)], minute=0)
    assert score.priority is Priority.P2
    first = decide(facts, score, minute=0)
    assert first.action is Action.HOLD
    assert (first.pending_since, first.until) == (at(0), at(2))
    assert "sustain: holds since 09:00:00, declared at 09:02:00 if it still does" in first.reasons
    facts, score = scored([search_down(0)], minute=1)
    second = decide(facts, score, minute=1, pending_since=first.pending_since)
    assert (second.action, second.until, second.pending_since) == (Action.HOLD, at(2), at(0))
    facts, score = scored([search_down(0)], minute=2)
    third = decide(facts, score, minute=2, pending_since=second.pending_since)
    assert third.action is Action.DECLARE
    assert "held for 2m (sustain 2m)" in third.reasons


def test_a_spike_shorter_than_the_sustain_time_is_forgotten() -> None:
    facts, score = scored([search_down(0)], minute=0)
    held = decide(facts, score, minute=0)
    calmer = with_priority(score, Priority.P3)
    decision = decide(facts, calmer, minute=1, pending_since=held.pending_since)
    assert decision.action is Action.NONE
    assert decision.pending_since is None


# --- overrides -------------------------------------------------------------------------------


def test_a_service_override_declares_the_payment_provider_at_p3() -> None:
    provider = Fired(alert("AdyenAuthoriseFailing", labels={"synthetics_test": "adyen-authorise"}))
    facts, score = scored([provider], minute=0)
    limits = thresholds(facts, score, POLICY)
    assert limits.declare_at is Priority.P3
    assert "declare at P3 (service payments override)" in limits.notes
    decision = decide(facts, with_priority(score, Priority.P3), minute=0)
    assert decision.action is not Action.NONE


def test_the_most_eager_override_wins_and_unmapped_groups_take_the_defaults() -> None:
    facts, score = scored([unmapped("Lost")], minute=0)
    limits = thresholds(facts, score, POLICY)
    assert (limits.declare_at, limits.min_signals, limits.sustain) == (
        POLICY.declare_at,
        POLICY.min_signals,
        POLICY.sustain,
    )
    strict = PolicySpec.model_validate(
        {**POLICY.model_dump(), "services": {"search": {"declare_at": "P1"}}, "capabilities": {}}
    )
    facts, score = scored([search_down(0)], minute=0)
    assert thresholds(facts, score, strict).declare_at is Priority.P1
    facts, score = scored([search_down(0), auth_down(0)], minute=0)
    assert thresholds(facts, score, strict).declare_at is Priority.P2  # auth brings the default


# --- cool-down -------------------------------------------------------------------------------


def resolved_incident(minute: float) -> Incident:
    inc = incident_of([search_down(0)], minute=2, key="search")
    return set_status(inc, IncidentStatus.RESOLVED, actor=ENGINE, now=at(minute)).incident


def test_cool_down_blocks_a_re_declaration_then_lets_it_through() -> None:
    old = resolved_incident(10)
    facts, score = scored([search_down(15)], minute=15, key="search-again")
    blocked = decide(facts, score, minute=15, resolved=[old])
    assert blocked.action is Action.NONE
    assert blocked.reasons[-1].startswith(f"cool-down: {old.id} (same root cause search)")
    assert "not declared again before 09:40:00 (30m)" in blocked.reasons[-1]
    assert blocked.pending_since == at(15)  # the condition keeps counting
    facts, score = scored([search_down(15)], minute=40, key="search-again")
    through = decide(facts, score, minute=40, resolved=[old], pending_since=blocked.pending_since)
    assert through.action is Action.DECLARE


def test_cool_down_only_for_the_same_failure() -> None:
    old = resolved_incident(10)
    facts, score = scored([auth_down(12)], minute=12, key="auth")
    decision = decide(facts, score, minute=12, resolved=[old])
    assert decision.action is Action.HOLD


def test_a_group_tied_to_a_resolved_incident_is_in_cool_down() -> None:
    old = resolved_incident(10)
    facts, score = scored([search_down(15)], minute=15, key="search")
    assert decide(facts, score, minute=15, incident=old).reasons[-1].startswith("cool-down")


# --- an incident's group changing ------------------------------------------------------------


def test_escalation_p2_to_p1() -> None:
    p2 = incident_of([postgres_down(0)], minute=1, key="orders")
    assert p2.priority is Priority.P2
    facts, score = scored(checkout_db_outage(), minute=6, key="orders")
    decision = decide(facts, score, minute=6, incident=p2, open_incidents=[p2])
    assert decision.action is Action.ESCALATE
    assert (decision.previous, decision.priority, decision.incident_id) == (
        Priority.P2,
        Priority.P1,
        p2.id,
    )
    assert f"{p2.id} escalates from P2 to P1" in decision.reasons


def test_a_downgrade_is_noted_once_and_never_applied() -> None:
    p1 = incident_of(checkout_db_outage(), minute=6, key="orders")
    facts, score = scored([postgres_down(0)], minute=30, key="orders")
    calmer = with_priority(score, Priority.P3)
    decision = decide(facts, calmer, minute=30, incident=p1, open_incidents=[p1])
    assert decision.action is Action.NOTE_DOWNGRADE
    assert (decision.previous, decision.priority) == (Priority.P1, Priority.P3)
    assert "automation never lowers a priority" in decision.reasons[-1]
    noted = dataclasses.replace(p1, assessed=Priority.P3)
    again = decide(facts, calmer, minute=31, incident=noted, open_incidents=[noted])
    assert again.action is Action.NONE
    assert again.reasons[-1] == f"{p1.id} stays P1 (assessed P3)"


def test_silenced_alerts_do_not_escalate() -> None:
    p2 = incident_of([postgres_down(0)], minute=1, key="orders")
    facts, score = scored([postgres_down(0, silenced=True)], minute=6, key="orders")
    decision = decide(facts, with_priority(score, Priority.P1), minute=6, incident=p2)
    assert decision.action is Action.NONE


# --- joining ---------------------------------------------------------------------------------


def test_a_new_group_with_the_same_root_cause_joins_the_open_incident() -> None:
    open_ = incident_of([postgres_down(0)], minute=1, key="orders-db")
    facts, score = scored([postgres_down(3, 3), app_errors("checkout", 3)], minute=4, key="other")
    assert facts.root_causes == ("orders-db",)
    decision = decide(facts, score, minute=4, open_incidents=[open_])
    assert decision.action is Action.JOIN
    assert decision.incident_id == open_.id
    assert decision.reasons[-1] == f"joins {open_.id} (same root cause orders-db)"


def test_a_consequence_in_the_blast_radius_joins_whatever_its_priority() -> None:
    open_ = incident_of([postgres_down(0)], minute=1, key="orders-db")
    facts, score = scored([gateway_5xx(2)], minute=3, key="gateway")
    decision = decide(facts, with_priority(score, Priority.P5), minute=3, open_incidents=[open_])
    assert decision.action is Action.JOIN
    assert "root cause api-gateway is in its blast radius" in decision.reasons[-1]


def test_a_quiet_incident_takes_in_no_consequence_after_quiet_for() -> None:
    """Every alert of the database incident resolved 20 minutes ago (quiet_for is 15m): a
    gateway failure now is not taken in as its consequence; 5 minutes after, it would be."""
    open_ = incident_of([postgres_down(0)], minute=1, key="orders-db")
    quiet = dataclasses.replace(open_, firing=(), quiet_since=at(10))
    facts, score = scored([gateway_5xx(30)], minute=30, key="gateway")
    late = decide(facts, with_priority(score, Priority.P5), minute=30, open_incidents=[quiet])
    assert late.action is not Action.JOIN
    facts, score = scored([gateway_5xx(14)], minute=14, key="gateway")
    soon = decide(facts, with_priority(score, Priority.P5), minute=14, open_incidents=[quiet])
    assert soon.action is Action.JOIN


def test_a_possible_cause_joins_only_when_it_began_near_the_incident() -> None:
    """The gateway incident began at minute 0; a database failure beneath it joins as the
    likely cause at minute 5, not at minute 40 (cause_within is 10m): by then it is its own
    failure."""
    gateway = incident_of([gateway_5xx(0)], minute=1, key="gateway")
    facts, score = scored([postgres_down(5)], minute=5, key="orders-db")
    assert gateway.root_causes == ("api-gateway",)
    near = decide(facts, score, minute=5, open_incidents=[gateway])
    assert near.action is Action.JOIN
    assert "in this group's blast radius" in near.reasons[-1]
    facts, score = scored([postgres_down(40)], minute=40, key="orders-db")
    later = decide(facts, score, minute=40, open_incidents=[gateway])
    assert later.action is not Action.JOIN


def test_independent_failures_do_not_join() -> None:
    search = incident_of([search_down(0)], minute=2, key="search")
    facts, score = scored([auth_down(3)], minute=3, key="auth")
    decision = decide(facts, score, minute=3, open_incidents=[search])
    assert decision.action is Action.HOLD


def test_join_switched_off_declares_separately() -> None:
    open_ = incident_of([postgres_down(0)], minute=1, key="orders-db")
    off = POLICY.model_copy(
        update={
            "join": POLICY.join.model_copy(
                update={"same_root_cause": False, "within_blast_radius": False}
            )
        }
    )
    facts, score = scored([postgres_down(3, 3)], minute=4, key="other")
    assert (
        decide(facts, score, minute=4, open_incidents=[open_], policy=off).action is Action.DECLARE
    )


# --- storm -----------------------------------------------------------------------------------


def test_in_a_storm_groups_that_fit_no_incident_are_absorbed() -> None:
    facts, score = scored(checkout_db_outage(), minute=6, key="orders")
    first = decide(facts, score, minute=6, alert_rate=340)
    assert first.action is Action.ABSORB_INTO_STORM
    assert first.incident_id is None
    assert "alert storm: 340 alerts a minute (threshold 100)" in first.reasons[-1]
    storm = declare_storm(
        facts, score, number=1001, alert_rate=340, storm=POLICY.storm, reasons=first.reasons,
        rules_version=VERSION, now=at(6),
    ).incident  # fmt: skip
    facts, score = scored([search_down(5), search_down(6)], minute=8, key="search")
    second = decide(
        facts, score, minute=8, alert_rate=400, open_incidents=[storm], pending_since=at(5)
    )
    assert (second.action, second.incident_id) == (Action.ABSORB_INTO_STORM, storm.id)


def test_in_a_storm_a_group_that_fits_an_open_incident_still_joins_it() -> None:
    open_ = incident_of([postgres_down(0)], minute=1, key="orders-db")
    facts, score = scored([postgres_down(3, 3)], minute=4, key="other")
    decision = decide(facts, score, minute=4, alert_rate=500, open_incidents=[open_])
    assert decision.action is Action.JOIN


def test_below_the_storm_rate_or_switched_off_groups_are_declared() -> None:
    facts, score = scored(checkout_db_outage(), minute=6)
    assert decide(facts, score, minute=6, alert_rate=99).action is Action.DECLARE
    off = POLICY.model_copy(update={"storm": POLICY.storm.model_copy(update={"enabled": False})})
    assert decide(facts, score, minute=6, alert_rate=10_000, policy=off).action is Action.DECLARE


# --- every decision --------------------------------------------------------------------------


def test_a_person_s_status_does_not_stop_escalation() -> None:
    p2 = incident_of([postgres_down(0)], minute=1, key="orders")
    owned = set_status(p2, IncidentStatus.MITIGATED, actor=person("alice"), now=at(2)).incident
    facts, score = scored(checkout_db_outage(), minute=6, key="orders")
    assert decide(facts, score, minute=6, incident=owned).action is Action.ESCALATE


def test_every_action_comes_with_its_reasons() -> None:
    p2 = incident_of([postgres_down(0)], minute=1, key="orders")
    p1 = incident_of(checkout_db_outage(), minute=6, key="orders")
    outage, outage_score = scored(checkout_db_outage(), minute=6, key="orders")
    search, search_score = scored([search_down(0)], minute=0, key="search")
    same_cause, same_cause_score = scored([postgres_down(3, 3)], minute=4, key="x")
    quiet, quiet_score = scored([recommendations_warning()], minute=1)
    decisions = [
        decide(outage, outage_score, minute=6),
        decide(search, search_score, minute=0),
        decide(same_cause, same_cause_score, minute=4, open_incidents=[p2]),
        decide(outage, outage_score, minute=6, incident=p2),
        decide(outage, with_priority(outage_score, Priority.P3), minute=6, incident=p1),
        decide(outage, outage_score, minute=6, alert_rate=500),
        decide(quiet, quiet_score, minute=1),
    ]
    assert [d.action for d in decisions] == list(Action)


def test_thresholds_are_the_defaults_without_a_declaration_file() -> None:
    facts, score = scored([search_down(0)], minute=0)
    limits = thresholds(facts, score, PolicySpec())
    assert (limits.declare_at, limits.min_signals, limits.sustain, limits.notes) == (
        Priority.P2,
        1,
        timedelta(0),
        (),
    )
