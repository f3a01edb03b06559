"""The incident record and its timeline: titles, transitions, ownership of the status,
auto-resolve, and the lossless storage form."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentd.declare.incident import (
    Incident,
    IncidentStatus,
    Transition,
    _union,
    add_note,
    attach_alerts,
    auto_resolve,
    auto_resolve_due,
    declare,
    declare_storm,
    escalate,
    from_dict,
    join,
    note_downgrade,
    record_action,
    reopen,
    resolve_alerts,
    set_commander,
    set_status,
    to_dict,
    view,
)
from incidentd.declare.scoring import GroupFacts, Score
from incidentd.declare.timeline import ENGINE, EntryKind, entry_from_dict, entry_to_dict, person
from incidentd.errors import InputError, InvalidTransition
from incidentd.model import Priority
from incidentd.rules.schema import AutoResolveSpec
from tests.unit.alerts import at
from tests.unit.declare_groups import (
    SPEC,
    VERSION,
    app_errors,
    checkout_db_outage,
    gateway_5xx,
    postgres_down,
    recommendations_warning,
    scored,
    search_down,
    unmapped,
)

ALICE = person("alice")


def declared(minute: float = 6, number: int = 1042) -> Transition:
    facts, score = scored(checkout_db_outage(), minute=minute, key="orders")
    return declare(
        facts,
        score,
        number=number,
        reasons=("P1 reaches the declaration threshold P2",),
        rules_version=VERSION,
        now=at(minute),
    )


def incident() -> Incident:
    return declared().incident


def kinds(step: Transition) -> list[EntryKind]:
    return [e.kind for e in step.entries]


# --- declaring -------------------------------------------------------------------------------


def test_declared_incident_reads_for_a_business_reader() -> None:
    step = declared()
    inc = step.incident
    assert inc.id == "INC-1042"
    assert inc.title == "Checkout and browse degraded: orders-db failing"
    assert (inc.status, inc.priority, inc.assessed) == (
        IncidentStatus.DECLARED,
        Priority.P1,
        Priority.P1,
    )
    assert inc.root_causes == ("orders-db",)
    assert set(inc.capabilities) == {"checkout", "browse"}
    assert {"orders-db", "checkout", "api-gateway", "frontend"} == set(inc.services)
    assert len(inc.alerts) == len(inc.firing) == 5
    assert inc.groups == ("G-orders",)
    assert inc.rules_version == VERSION
    assert inc.declared_at == at(6)
    assert inc.score.factors  # the explanation travels with the incident
    assert kinds(step) == [EntryKind.DECLARED] + [EntryKind.ALERT_ATTACHED] * 5
    assert [e.seq for e in step.entries] == list(range(6))
    assert step.entries[0].details["reasons"] == ("P1 reaches the declaration threshold P2",)
    assert inc.timeline_size == 6


def test_titles_without_capabilities_or_without_a_map() -> None:
    facts, score = scored([unmapped("BatchJobFailed"), unmapped("DiskFull")], minute=1)
    inc = declare(facts, score, number=7, reasons=(), rules_version="v", now=at(1))
    assert (
        inc.incident.title == "Alerts outside the service map: BatchJobFailed and DiskFull firing"
    )
    facts, score = scored([recommendations_warning()], minute=1)
    inc = declare(facts, score, number=8, reasons=(), rules_version="v", now=at(1))
    assert inc.incident.title == "Recommendations degraded: recommendations failing"


def test_storm_incident_takes_the_configured_priority_or_the_group_s() -> None:
    facts, score = scored([recommendations_warning()], minute=1)
    storm = SPEC.policy.storm
    step = declare_storm(
        facts, score, number=9, alert_rate=340.4, storm=storm, reasons=(), rules_version="v",
        now=at(1),
    )  # fmt: skip
    assert step.incident.storm
    assert step.incident.title == "Alert storm: 340 alerts a minute"
    assert step.incident.priority is storm.priority
    facts, score = scored(checkout_db_outage(), minute=6)
    step = declare_storm(
        facts, score, number=9, alert_rate=340, storm=storm, reasons=(), rules_version="v",
        now=at(6),
    )  # fmt: skip
    assert step.incident.priority is Priority.P1


# --- alerts and groups -----------------------------------------------------------------------


def test_attaching_a_firing_alert_twice_changes_nothing() -> None:
    inc = incident()
    facts, _ = scored(checkout_db_outage(), minute=6)
    again = attach_alerts(inc, facts.signals, now=at(7))
    assert again.incident is inc
    assert again.entries == ()


def test_last_alert_resolving_starts_the_quiet_period_and_a_refire_stops_it() -> None:
    inc = incident()
    first, *rest = inc.firing
    step = resolve_alerts(inc, [first], now=at(10))
    assert step.incident.quiet_since is None
    assert step.entries[0].details == {"fingerprint": first, "still_firing": 4}
    step = resolve_alerts(step.incident, [*rest, "not-attached"], now=at(12))
    assert step.incident.firing == ()
    assert step.incident.quiet_since == at(12)
    assert len(step.entries) == 4
    facts, _ = scored(checkout_db_outage(), minute=13)
    refired = attach_alerts(step.incident, facts.signals[:1], now=at(13))
    assert refired.incident.quiet_since is None
    assert refired.entries[0].details["again"] is True


def test_a_joining_group_adds_its_impact_and_escalates_when_more_urgent() -> None:
    facts, score = scored([app_errors("checkout", 0), gateway_5xx(0)], minute=1, key="api")
    base = declare(facts, score, number=1, reasons=(), rules_version="v", now=at(1))
    assert base.incident.priority is not Priority.P1
    facts, score = scored(checkout_db_outage(), minute=6, key="orders")
    step = join(base.incident, facts, score, reasons=("same root cause",), now=at(6))
    inc = step.incident
    assert inc.groups == ("G-api", "G-orders")
    assert "orders-db" in inc.root_causes
    assert inc.priority is Priority.P1
    assert kinds(step)[0] is EntryKind.GROUP_JOINED
    assert kinds(step)[-1] is EntryKind.PRIORITY_CHANGED
    assert [e.seq for e in step.entries] == list(
        range(base.incident.timeline_size, inc.timeline_size)
    )


# --- priority --------------------------------------------------------------------------------


def _score(priority: Priority) -> Score:
    return dataclasses.replace(incident().score, priority=priority)


def test_escalation_raises_the_priority_and_refuses_anything_else() -> None:
    facts, score = scored([postgres_down()], minute=1)
    p2 = declare(facts, score, number=2, reasons=(), rules_version="v", now=at(1))
    assert p2.incident.priority is Priority.P2
    step = escalate(p2.incident, _score(Priority.P1), reasons=("cascade",), now=at(5))
    assert step.incident.priority is Priority.P1
    assert step.entries[0].details["from"] == "P2"
    assert step.entries[0].details["to"] == "P1"
    with pytest.raises(InvalidTransition):
        escalate(step.incident, _score(Priority.P2), reasons=(), now=at(6))


def test_a_downgrade_is_noted_and_the_priority_kept() -> None:
    step = note_downgrade(incident(), _score(Priority.P3), reasons=("calmer",), now=at(20))
    assert (step.incident.priority, step.incident.assessed) == (Priority.P1, Priority.P3)
    assert kinds(step) == [EntryKind.SCORE_CHANGED]
    assert step.entries[0].details["priority"] == "P1"


# --- status ----------------------------------------------------------------------------------


def test_status_moves_forward_and_back_from_mitigated_only_to_acknowledged() -> None:
    inc = incident()
    acked = set_status(inc, IncidentStatus.ACKNOWLEDGED, actor=ALICE, now=at(8)).incident
    assert acked.acknowledged_at == at(8)
    assert acked.status_owner is None  # acknowledging is not a decision about the outcome
    with pytest.raises(InvalidTransition):
        set_status(acked, IncidentStatus.DECLARED, actor=ALICE, now=at(9))
    mitigated = set_status(acked, IncidentStatus.MITIGATED, actor=ENGINE, now=at(9)).incident
    relapsed = set_status(mitigated, IncidentStatus.ACKNOWLEDGED, actor=ALICE, now=at(10))
    assert relapsed.incident.mitigated_at is None
    assert relapsed.incident.acknowledged_at == at(8)
    same = set_status(relapsed.incident, IncidentStatus.ACKNOWLEDGED, actor=ALICE, now=at(11))
    assert same.entries == ()


def test_no_way_back_from_resolved_except_reopen() -> None:
    resolved = set_status(incident(), IncidentStatus.RESOLVED, actor=ALICE, now=at(30)).incident
    assert resolved.resolved_at == at(30)
    with pytest.raises(InvalidTransition, match="reopen it first"):
        set_status(resolved, IncidentStatus.ACKNOWLEDGED, actor=ALICE, now=at(31))
    step = reopen(resolved, actor=ALICE, now=at(40), reason="errors are back")
    assert step.incident.status is IncidentStatus.DECLARED
    assert (step.incident.resolved_at, step.incident.reopened_at) == (None, at(40))
    assert step.entries[0].actor == ALICE
    with pytest.raises(InvalidTransition):
        reopen(step.incident, actor=ALICE, now=at(41), reason="twice")


def test_a_person_s_status_decision_is_never_overridden_by_automation() -> None:
    mitigated = set_status(incident(), IncidentStatus.MITIGATED, actor=ALICE, now=at(9))
    inc = mitigated.incident
    assert inc.status_owner == "alice"
    assert mitigated.entries[0].actor == ALICE
    with pytest.raises(InvalidTransition, match="alice"):
        set_status(inc, IncidentStatus.RESOLVED, actor=ENGINE, now=at(10))
    quiet = resolve_alerts(inc, inc.firing, now=at(10)).incident
    policy = AutoResolveSpec(status="resolved", quiet_period=timedelta(minutes=5))
    assert auto_resolve_due(quiet, policy) is None
    assert auto_resolve(quiet, policy=policy, now=at(60)) is None
    assert set_status(quiet, IncidentStatus.RESOLVED, actor=ALICE, now=at(60)).incident.resolved_at


# --- auto-resolve ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["mitigated", "resolved"])
def test_auto_resolve_after_the_quiet_period_to_the_configured_status(target: str) -> None:
    policy = AutoResolveSpec(status=target, quiet_period=timedelta(minutes=15))  # type: ignore[arg-type]
    inc = set_status(incident(), IncidentStatus.ACKNOWLEDGED, actor=ALICE, now=at(7)).incident
    assert auto_resolve(inc, policy=policy, now=at(120)) is None  # alerts still firing
    quiet = resolve_alerts(inc, inc.firing, now=at(20)).incident
    assert auto_resolve_due(quiet, policy) == at(35)
    assert auto_resolve(quiet, policy=policy, now=at(34)) is None
    step = auto_resolve(quiet, policy=policy, now=at(35))
    assert step is not None
    assert step.incident.status.value == target
    assert step.entries[0].actor == ENGINE
    assert "quietly" in str(step.entries[0].details["note"])
    assert auto_resolve(step.incident, policy=policy, now=at(90)) is None


def test_auto_resolve_can_be_switched_off() -> None:
    inc = incident()
    quiet = resolve_alerts(inc, inc.firing, now=at(20)).incident
    assert auto_resolve_due(quiet, AutoResolveSpec(enabled=False)) is None


# --- people and actions ----------------------------------------------------------------------


def test_commander_notes_and_actions_are_timeline_entries_with_their_actor() -> None:
    inc = incident()
    step = set_commander(inc, "bob", actor=ALICE, now=at(8))
    assert step.incident.commander == "bob"
    assert set_commander(step.incident, "bob", actor=ALICE, now=at(9)).entries == ()
    noted = add_note(step.incident, "rolling back the 9:02 deploy", actor=person("bob"), now=at(9))
    asked = record_action(noted.incident, action="page", target="pagerduty", now=at(9))
    done = record_action(asked.incident, action="page", target="pagerduty", outcome="ok", now=at(9))
    entries = step.entries + noted.entries + asked.entries + done.entries
    assert [e.kind for e in entries] == [
        EntryKind.COMMANDER_SET,
        EntryKind.NOTE,
        EntryKind.ACTION_REQUESTED,
        EntryKind.ACTION_OUTCOME,
    ]
    assert [e.seq for e in entries] == list(range(6, 10))
    assert entries[1].actor == person("bob")
    with pytest.raises(InputError):
        add_note(inc, "  ", actor=ALICE, now=at(9))


# --- storage ---------------------------------------------------------------------------------


def _lived() -> tuple[Incident, list[object]]:
    """An incident with every optional field set and a timeline of every kind."""
    step = declared()
    timeline = list(step.entries)
    for change in (
        lambda i: set_status(i, IncidentStatus.ACKNOWLEDGED, actor=ALICE, now=at(7.5)),
        lambda i: set_commander(i, "alice", actor=ALICE, now=at(8)),
        lambda i: note_downgrade(i, _score(Priority.P2), reasons=("calmer",), now=at(9)),
        lambda i: resolve_alerts(i, i.firing, now=at(10)),
        lambda i: set_status(i, IncidentStatus.RESOLVED, actor=ALICE, now=at(11)),
        lambda i: reopen(i, actor=ALICE, now=at(12), reason="back"),
        lambda i: record_action(i, action="page", target="slack", outcome="retry", now=at(12)),
    ):
        step = change(step.incident)
        timeline += step.entries
    return step.incident, timeline


def test_incident_and_timeline_round_trip_losslessly_through_json() -> None:
    inc, timeline = _lived()
    stored = json.loads(json.dumps(to_dict(inc)))
    back = from_dict(stored)
    assert back == inc
    assert back.declared_at.tzinfo is not None
    assert back.score.factors == inc.score.factors
    assert to_dict(back) == stored
    for entry in timeline:
        assert entry_from_dict(json.loads(json.dumps(entry_to_dict(entry)))) == entry  # type: ignore[arg-type]


def test_view_is_json_ready_with_the_score_explained_and_the_timeline() -> None:
    inc, timeline = _lived()
    shown = orjson.loads(orjson.dumps(view(inc, timeline)))  # type: ignore[arg-type]
    assert shown["id"] == inc.id
    assert shown["score"]["summary"] == inc.score.summary()
    assert shown["timeline"][0]["kind"] == "declared"
    assert shown["timeline"][0]["actor"] == {"kind": "engine", "name": "incidentd"}
    assert shown["open"] is True


def test_stored_ids_are_read_as_they_are_and_checked_at_the_first_look_up() -> None:
    """A stored record's ids were written by an IdSeq, each once: reading one takes them as
    they are (no de-duplication, no index); an id held twice is caught when the index is
    built, at the first look-up or change."""
    data = to_dict(incident())
    fingerprints = list(data["alerts"])
    back = from_dict(data)
    assert list(back.alerts) == fingerprints
    assert back.alerts._log._last is None
    assert fingerprints[0] in back.alerts
    data["alerts"] = [*fingerprints, fingerprints[0]]
    broken = from_dict(data)
    assert len(broken.alerts) == len(fingerprints) + 1  # listed as stored
    with pytest.raises(RuntimeError, match="held twice"):
        _ = fingerprints[0] in broken.alerts


def test_a_group_key_or_service_is_found_among_the_sorted_ones() -> None:
    grown = dataclasses.replace(incident(), services=("a", "c", "e"), group_keys=("k1", "k3"))
    assert [grown.impacts(name) for name in ("a", "b", "c", "e", "f", "")] == [
        True,
        False,
        True,
        True,
        False,
        False,
    ]
    assert grown.has_group_key("k3")
    assert not grown.has_group_key("k2")


@given(st.sets(st.sampled_from("abcdefgh")), st.lists(st.sampled_from("abcdefghij")))
def test_a_union_is_sorted_once_each_and_the_same_tuple_when_nothing_is_new(
    base: set[str], extra: list[str]
) -> None:
    ordered = tuple(sorted(base))
    union = _union(ordered, extra)
    assert union == tuple(sorted({*base, *extra}))
    assert (union is ordered) is base.issuperset(extra)


def test_from_dict_rejects_a_record_that_is_not_an_incident() -> None:
    from pydantic import ValidationError

    data = to_dict(incident())
    data["status"] = "exploded"
    with pytest.raises(ValidationError):
        from_dict(data)


def test_other_failures_title_their_own_capability() -> None:
    facts, score = scored([search_down()], minute=1)
    step = declare(facts, score, number=3, reasons=(), rules_version="v", now=at(1))
    assert step.incident.title.endswith(": search failing")
    assert step.incident.title.startswith("Browse, search and 1 more degraded")


def test_groupfacts_signals_are_what_gets_attached() -> None:
    facts: GroupFacts
    facts, score = scored([postgres_down(0, silenced=True), app_errors("checkout", 1)], minute=2)
    step = declare(facts, score, number=4, reasons=(), rules_version="v", now=at(2))
    assert len(step.incident.alerts) == 1  # the silenced one drove nothing
