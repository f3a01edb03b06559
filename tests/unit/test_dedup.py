"""Dedup as a pure function: repeats, resolves, reopens, redeliveries, out-of-order reports."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from incidentd.correlate.dedup import Outcome, decide, expire
from incidentd.model import Severity, Status
from tests.unit.alerts import alert, at


def test_first_firing_is_new_and_repeat_updates_count_and_last_seen() -> None:
    first = decide(alert(minute=0), None, service="api")
    assert first.outcome is Outcome.NEW
    assert first.state.count == 1
    again = decide(alert(minute=1, starts=0, report="r2"), first.state, service="api")
    assert again.outcome is Outcome.REPEAT
    assert again.state.count == 2
    assert again.state.last_seen == at(1)
    assert again.state.first_seen == at(0)
    assert again.state.starts_at == at(0)


def test_redelivered_report_changes_nothing() -> None:
    first = decide(alert(minute=0), None, service=None)
    redelivered = decide(alert(minute=0), first.state, service=None)
    assert redelivered.outcome is Outcome.DUPLICATE
    assert redelivered.state is first.state


def test_resolve_closes_and_a_later_fire_is_a_new_occurrence() -> None:
    fired = decide(alert(minute=0), None, service=None).state
    resolved = decide(alert(status=Status.RESOLVED, minute=5, starts=0), fired, service=None)
    assert resolved.outcome is Outcome.RESOLVE
    assert resolved.state.ends_at == at(5)
    assert resolved.state.resolved_by == "sender"
    again = decide(alert(minute=9), resolved.state, service=None)
    assert again.outcome is Outcome.REOPEN
    assert again.state.occurrences == 2
    assert again.state.count == 1
    assert again.state.starts_at == at(9)
    assert again.state.ends_at is None
    assert len(again.state.transitions) == 3


def test_resolve_before_its_firing_leaves_the_alert_resolved() -> None:
    early = decide(alert(status=Status.RESOLVED, minute=5, starts=0), None, service=None)
    assert early.outcome is Outcome.EARLY_RESOLVE
    assert early.state.status is Status.RESOLVED
    late_firing = decide(alert(minute=6, starts=0), early.state, service=None)
    assert late_firing.outcome is Outcome.STALE
    assert late_firing.state.status is Status.RESOLVED


def test_late_firing_after_resolve_is_stale_not_a_reopen() -> None:
    fired = decide(alert(minute=0, report="a"), None, service=None).state
    resolved = decide(alert(status=Status.RESOLVED, minute=5, starts=0), fired, service=None)
    stale = decide(alert(minute=6, starts=0, report="retry"), resolved.state, service=None)
    assert stale.outcome is Outcome.STALE
    assert stale.state.status is Status.RESOLVED


def test_late_resolve_of_an_earlier_occurrence_does_not_close_the_current_one() -> None:
    fired = decide(alert(minute=0), None, service=None).state
    resolved = decide(alert(status=Status.RESOLVED, minute=2, starts=0), fired, service=None)
    reopened = decide(alert(minute=10), resolved.state, service=None).state
    old_resolve = decide(
        alert(status=Status.RESOLVED, minute=11, starts=0, ends=2, report="late"),
        reopened,
        service=None,
    )
    assert old_resolve.outcome is Outcome.STALE
    assert old_resolve.state.status is Status.FIRING


def test_older_repeat_after_newer_one_keeps_the_newest_fields() -> None:
    first = decide(alert(minute=0), None, service=None).state
    newer = decide(
        alert(minute=3, starts=0, severity=Severity.CRITICAL, report="n"), first, service=None
    ).state
    older = decide(
        alert(minute=2, starts=0, severity=Severity.WARNING, report="o"), newer, service=None
    )
    assert older.outcome is Outcome.REPEAT
    assert older.state.severity is Severity.CRITICAL
    assert older.state.last_seen == at(3)


def test_time_to_live_expires_an_alert_nobody_resolves() -> None:
    fired = decide(alert(minute=0, ttl=timedelta(minutes=30)), None, service=None).state
    assert expire(fired, now=at(29)) is None
    repeat = decide(
        alert(minute=20, ttl=timedelta(minutes=30), report="run2"), fired, service=None
    ).state
    assert expire(repeat, now=at(45)) is None, "the repeat moved the expiry"
    closed = expire(repeat, now=at(51))
    assert closed is not None
    assert closed.outcome is Outcome.EXPIRE
    assert closed.state.resolved_by == "ttl"
    assert closed.state.ends_at == at(50)


def test_after_a_ttl_expiry_any_new_report_reopens() -> None:
    """Splunk reports carry the event's own time, which may be older than our expiry."""
    fired = decide(alert(minute=0, ttl=timedelta(minutes=10)), None, service=None).state
    closed = expire(fired, now=at(11))
    assert closed is not None
    old_event_new_run = decide(
        alert(minute=12, starts=1, ttl=timedelta(minutes=10), report="run3"),
        closed.state,
        service=None,
    )
    assert old_event_new_run.outcome is Outcome.REOPEN


def test_rule_ttl_applies_when_the_alert_has_none() -> None:
    fired = decide(alert(minute=0), None, service=None, ttl=timedelta(minutes=5)).state
    assert fired.expires_at() == at(5)
    own = decide(alert(minute=0, ttl=timedelta(minutes=2)), None, service=None, ttl=None).state
    assert own.expires_at() == at(2)


def test_decide_and_expire_return_new_states_and_leave_the_given_one_as_it_was() -> None:
    """The declarer knows a state by its identity: a change must come as a new object."""
    ttl = timedelta(minutes=10)
    fired = decide(alert(minute=0, ttl=ttl), None, service="api").state
    resolved = decide(
        alert(status=Status.RESOLVED, minute=5, starts=0, ttl=ttl), fired, service="api"
    ).state
    repeated = decide(alert(minute=2, starts=0, report="r2", ttl=ttl), fired, service="api").state
    reports = [
        (alert(minute=1, starts=0, report="r1", ttl=ttl), fired),  # repeat
        (alert(minute=1, starts=0, report="r1", ttl=ttl), repeated),  # an older repeat
        (alert(status=Status.RESOLVED, minute=5, starts=0, ttl=ttl), fired),  # resolve
        (alert(status=Status.RESOLVED, minute=3, ends=-1, ttl=ttl), fired),  # stale resolve
        (alert(minute=9, ttl=ttl), resolved),  # reopen
        (alert(minute=6, starts=4, report="late", ttl=ttl), resolved),  # stale firing
        (alert(status=Status.RESOLVED, minute=7, starts=0, report="x", ttl=ttl), resolved),
    ]
    for report, prior in reports:
        before = dataclasses.astuple(prior)
        result = decide(report, prior, service="api")
        assert result.state is not prior, result.outcome
        assert dataclasses.astuple(prior) == before, result.outcome
    before = dataclasses.astuple(fired)
    closed = expire(fired, now=at(30))
    assert closed is not None
    assert closed.state is not fired
    assert dataclasses.astuple(fired) == before
