"""The declarer's per-group tallies (scoring.Tally) against the facts made from scratch.

The declarer keeps what scoring reads of each group up to date from the members the engine
marks as changed; with `verify` on (as in every test: tests/conftest.py), every assessment
also builds the facts from all members (`facts_of`) and raises when they differ. Random
report sequences drive the engine through what changes a member: fires, repeats with other
labels (the host moves) or another severity or service, resolves, re-fires, flapping, a
maintenance window that starts and ends, alerts expiring by their time to live.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentd.correlate.dedup import AlertState, decide
from incidentd.correlate.grouping import Group, Member
from incidentd.declare.scoring import Signal, Tally, facts_of
from incidentd.engine import Engine
from incidentd.model import Alert, Severity, Status
from incidentd.rules.loader import RuleSet, load
from tests.unit.alerts import T0, alert, at

CONFIG = Path(__file__).resolve().parent.parent / "scenarios" / "config"
RULES: RuleSet = load(CONFIG, env={})
SERVICES = ("orders-db", "orders-api", "checkout-web", "search", "build-farm", None)

report = st.tuples(
    st.integers(0, 7),  # which alert (its fingerprint)
    st.sampled_from([0.0, 0.01, 0.2, 1.0, 4.0, 45.0]),  # minutes since the previous report
    st.sampled_from([Status.FIRING, Status.FIRING, Status.RESOLVED]),
    st.sampled_from(list(Severity)),
    st.sampled_from(["a", "b:9100", "c", None]),  # host label
    st.sampled_from(SERVICES),
    st.booleans(),  # a time to live of 5 minutes
)


def _report(
    index: int,
    minute: float,
    status: Status,
    severity: Severity,
    host: str | None,
    service: str | None,
    ttl: bool,
) -> Alert:
    labels = {"region": "eu-west"} | ({} if host is None else {"instance": host})
    made = alert(
        f"Alert{index}",
        status=status,
        minute=minute,
        starts=max(0.0, minute - 0.1),
        service=service,
        labels=labels,
        severity=severity,
        ttl=timedelta(minutes=5) if ttl else None,
        report=f"{minute}",
    )
    # one identity whatever the labels, service and severity say (a Datadog monitor's scope)
    return made.model_copy(update={"fingerprint": f"fp-{index}"})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(report, min_size=1, max_size=60), st.integers(1, 7))
def test_tallies_match_the_facts_made_from_all_members(
    reports: list[tuple[int, float, Status, Severity, str | None, str | None, bool]],
    batch: int,
) -> None:
    engine = Engine()  # verifying (tests/conftest.py)
    assert engine.declarer.verify
    minute = 0.0
    alerts: list[Alert] = []
    for n, (index, gap, status, severity, host, service, ttl) in enumerate(reports):
        minute += gap
        status = Status.FIRING if n == 0 else status  # something to assess
        alerts.append(_report(index, minute, status, severity, host, service, ttl))
    for start in range(0, len(alerts), batch):
        engine.process(alerts[start : start + batch], rules=RULES)  # raises when a tally is off
    engine.tick(rules=RULES, now=at(minute + 180))
    assert engine.declarer.state.last_assessed, "no group was assessed: nothing was checked"


def test_a_tally_follows_members_in_and_out() -> None:
    group = Group("G-1", "rule", "k", "v1", opened_at=T0, last_seen=T0)
    state = _state("fp-1", host="web-1:9100")
    tally = Tally()
    tally.put("fp-1", Member(Status.FIRING, "search"), state)
    tally.put("fp-2", Member(Status.FIRING, "search", silenced=True), None)
    tally.put("fp-3", Member(Status.FIRING, "search"), None)  # no alert state: unknown
    facts = tally.facts(group)
    assert (facts.drivers.count, facts.silenced, facts.unknown, tally.firing) == (1, 1, 1, 3)
    assert (facts.drivers.hosts, facts.drivers.host_names) == (1, "web-1")
    assert facts.drivers.severity is Severity.CRITICAL
    assert facts.driving_services == {"search"}

    tally.put("fp-1", Member(Status.RESOLVED, "search"), state)
    tally.put("fp-2", None, None)
    after = tally.facts(group)
    assert (after.drivers.count, after.silenced, after.unknown, tally.firing) == (0, 0, 1, 1)
    assert (after.drivers.hosts, after.drivers.first_seen, after.driving_services) == (
        0,
        (),
        frozenset(),
    )
    assert after.drivers.severity is None
    assert facts.drivers.count == 1, "facts taken before do not change with the tally"


def test_a_tally_counts_one_host_once_and_names_the_most_severe_alerts() -> None:
    tally = Tally()
    for n, (name, severity) in enumerate(
        [("DiskFull", Severity.WARNING), ("Down", Severity.CRITICAL), ("Slow", Severity.CRITICAL)]
    ):
        tally.add(Signal(f"fp-{n}", name, "search", severity, "web-1", None, at(n)))
    drivers = tally.drivers()
    assert (drivers.hosts, drivers.count) == (1, 3)
    assert (drivers.severity, drivers.severity_names) == (Severity.CRITICAL, "Down, Slow")
    assert drivers.first_seen == (at(0), at(1), at(2))


def test_facts_of_and_the_tally_agree_on_a_group_built_by_hand() -> None:
    group = Group("G-1", "rule", "k", "v1", opened_at=T0, last_seen=T0)
    alerts = {"fp-1": _state("fp-1", host="db-1"), "fp-2": _state("fp-2", host="db-2")}
    for fp in alerts:
        group.set_member(fp, Member(Status.FIRING, "orders-db"))
    group.set_member("fp-3", Member(Status.FIRING, "orders-db", flapping=True))
    tally = Tally()
    for fp, member in group.members.items():
        tally.put(fp, member, alerts.get(fp))
    assert tally.facts(group) == facts_of(group, alerts)
    assert facts_of(group, alerts).flapping == 1


def _state(fingerprint: str, *, host: str) -> AlertState:
    made = alert("Down", service="search", labels={"instance": host}, severity=Severity.CRITICAL)
    return decide(
        made.model_copy(update={"fingerprint": fingerprint}), None, service="search"
    ).state


def test_uncopied_facts_are_the_tallys_own_and_read_as_the_copied_ones() -> None:
    group = Group("G-1", "rule", "k", "v1", opened_at=T0, last_seen=T0)
    tally = Tally()
    tally.put("fp-1", Member(Status.FIRING, "search"), _state("fp-1", host="web-1:9100"))
    tally.put("fp-2", Member(Status.FIRING, "search"), _state("fp-2", host="web-2:9100"))
    copied, live = tally.facts(group), tally.facts(group, copy=False)
    assert live.driving == copied.driving
    assert live.signals == copied.signals
    assert tuple(live.drivers.first_seen) == copied.drivers.first_seen
    assert (live.drivers.count, live.drivers.hosts) == (copied.drivers.count, 2)

    tally.put("fp-2", None, None)  # the uncopied facts follow the tally; the copy does not
    assert set(live.driving) == {"fp-1"}
    assert len(live.drivers.first_seen) == 1
    assert set(copied.driving) == {"fp-1", "fp-2"}
    assert len(copied.drivers.first_seen) == 2
    with pytest.raises(TypeError):
        live.driving["fp-3"] = copied.driving["fp-2"]  # type: ignore[index]
