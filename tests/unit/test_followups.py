"""Follow-up actions on the incident record: added, changed and reported overdue by the pure
transitions, stored losslessly, and carried to the engine as commands."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from incidentd.declare.declarer import Command
from incidentd.declare.followup import (
    FOLLOWUPS_LIMIT,
    FollowUpEdit,
    FollowUpStatus,
    UnknownFollowUp,
    followup_view,
    overdue,
    watch_at,
)
from incidentd.declare.incident import (
    Incident,
    Transition,
    add_followup,
    change_followup,
    followup_overdue,
    from_dict,
    to_dict,
    update_score,
    view,
)
from incidentd.declare.timeline import ENGINE, EntryKind, person
from incidentd.errors import InvalidTransition, WrongShape
from incidentd.store.commands import decode_command, encode_command
from tests.fakes.incident import declared
from tests.unit.alerts import at

ALICE = person("alice")
NEW = frozenset({"title", "owner", "due"})


def _added(
    title: str = "Alert on replica lag", owner: str | None = "bob", due: float = 120
) -> Transition:
    incident = declared().incident
    edit = FollowUpEdit(NEW, title=title, owner=owner, due=at(due))
    return add_followup(incident, edit, actor=ALICE, now=at(60), note="from the review")


def test_a_follow_up_is_added_open_numbered_and_on_the_timeline() -> None:
    before = declared().incident
    step = _added()
    [made] = step.incident.followups
    assert (made.id, made.title, made.owner, made.due) == (
        "F1",
        "Alert on replica lag",
        "bob",
        at(120),
    )
    assert (made.status, made.created_by, made.created_at) == (FollowUpStatus.OPEN, "alice", at(60))
    [entry] = step.entries
    assert entry.seq == before.timeline_size
    assert (entry.kind, entry.actor, entry.at) == (EntryKind.FOLLOWUP_ADDED, ALICE, at(60))
    assert entry.details == {
        "followup": "F1",
        "title": "Alert on replica lag",
        "owner": "bob",
        "due": at(120).isoformat(),
        "note": "from the review",
    }
    second = add_followup(
        step.incident, FollowUpEdit(NEW, title="Runbook"), actor=ALICE, now=at(61)
    ).incident
    assert [f.id for f in second.followups] == ["F1", "F2"]
    assert second.followups[1].owner is None
    assert second.followups[1].due is None


def test_a_blank_title_is_refused_with_its_path() -> None:
    with pytest.raises(WrongShape) as refused:
        add_followup(declared().incident, FollowUpEdit(NEW, title="  "), actor=ALICE, now=at(1))
    assert refused.value.path == "$.title"


def test_an_incident_holds_a_bounded_number_of_follow_ups() -> None:
    incident = declared().incident
    for i in range(FOLLOWUPS_LIMIT):
        incident = add_followup(
            incident, FollowUpEdit(NEW, title=f"t{i}"), actor=ALICE, now=at(i)
        ).incident
    with pytest.raises(InvalidTransition, match=f"holds {FOLLOWUPS_LIMIT} follow-ups"):
        add_followup(incident, FollowUpEdit(NEW, title="one more"), actor=ALICE, now=at(200))


def test_a_change_records_only_what_changed() -> None:
    incident = _added().incident
    carol = person("carol")
    edit = FollowUpEdit(frozenset({"status", "owner"}), status=FollowUpStatus.DONE, owner="carol")
    step = change_followup(incident, "F1", edit=edit, actor=carol, now=at(90), note="shipped")
    [done] = step.incident.followups
    assert (done.status, done.owner, done.closed_at, done.updated_at) == (
        FollowUpStatus.DONE,
        "carol",
        at(90),
        at(90),
    )
    assert done.due == at(120)
    assert done.title == "Alert on replica lag"
    [entry] = step.entries
    assert entry.kind is EntryKind.FOLLOWUP_CHANGED
    assert entry.details["changed"] == ("status: open -> done", "owner: bob -> carol")
    assert entry.details["note"] == "shipped"
    # the same values again: nothing to record
    again = change_followup(step.incident, "F1", edit=edit, actor=carol, now=at(91))
    assert again.entries == ()
    assert again.incident is step.incident
    # reopened: open again, closed_at cleared; owner null clears the owner
    back = FollowUpEdit(frozenset({"status", "owner"}), status=FollowUpStatus.OPEN, owner=None)
    reopened = change_followup(step.incident, "F1", edit=back, actor=carol, now=at(95)).incident
    assert reopened.followups[0].status is FollowUpStatus.OPEN
    assert reopened.followups[0].closed_at is None
    assert reopened.followups[0].owner is None


def test_changing_an_unknown_follow_up_is_a_404() -> None:
    edit = FollowUpEdit(frozenset({"status"}))
    incident = _added().incident
    with pytest.raises(UnknownFollowUp) as refused:
        change_followup(incident, "F9", edit=edit, actor=ALICE, now=at(1))
    assert refused.value.status == 404


def test_overdue_is_recorded_once_per_due_date_and_a_new_date_rearms_it() -> None:
    incident = _added(due=120).incident
    assert followup_overdue(incident, "F1", now=at(119)).entries == ()  # not due yet
    step = followup_overdue(incident, "F1", now=at(120))
    [entry] = step.entries
    assert (entry.kind, entry.actor, entry.at) == (EntryKind.FOLLOWUP_OVERDUE, ENGINE, at(120))
    assert entry.details == {
        "followup": "F1",
        "title": "Alert on replica lag",
        "owner": "bob",
        "due": at(120).isoformat(),
    }
    late = step.incident
    assert late.followups[0].overdue_at == at(120)
    assert followup_overdue(late, "F1", now=at(500)).entries == ()  # once
    assert watch_at(late.followups[0]) is None
    later = FollowUpEdit(frozenset({"due"}), due=at(300))
    moved = change_followup(late, "F1", edit=later, actor=ALICE, now=at(130)).incident
    assert moved.followups[0].overdue_at is None
    assert watch_at(moved.followups[0]) == at(300)
    assert len(followup_overdue(moved, "F1", now=at(300)).entries) == 1


def test_closed_or_undated_follow_ups_are_never_overdue() -> None:
    incident = _added(due=120).incident
    done = FollowUpEdit(frozenset({"status"}), status=FollowUpStatus.CANCELLED)
    cancelled = change_followup(incident, "F1", edit=done, actor=ALICE, now=at(100)).incident
    assert followup_overdue(cancelled, "F1", now=at(200)).entries == ()
    assert not overdue(cancelled.followups[0], at(200))
    undated = change_followup(
        incident, "F1", edit=FollowUpEdit(frozenset({"due"}), due=None), actor=ALICE, now=at(100)
    ).incident
    assert watch_at(undated.followups[0]) is None
    assert followup_overdue(undated, "F1", now=at(10_000)).entries == ()


def test_a_due_date_given_already_past_is_watched_from_the_change() -> None:
    """The timeline never goes back in time: the overdue entry comes at the change, not at
    the (earlier) due date."""
    incident = _added(due=10).incident  # added at 60, due at 10
    assert watch_at(incident.followups[0]) == at(60)
    assert overdue(incident.followups[0], at(60))


def test_follow_ups_are_stored_losslessly_and_old_records_still_load() -> None:
    incident = followup_overdue(_added().incident, "F1", now=at(120)).incident
    stored = orjson.loads(orjson.dumps(to_dict(incident)))
    assert from_dict(stored) == incident
    old = {k: v for k, v in stored.items() if k not in ("followups", "peak_score")}
    loaded = from_dict(old)
    assert loaded.followups == ()
    assert loaded.peak_score is None
    assert loaded.peak == loaded.score
    shown = view(incident)
    assert shown["followups"][0]["id"] == "F1"
    assert shown["peak_score"]["priority"] == "P1"


def test_the_view_of_a_follow_up_says_whether_it_is_overdue_now() -> None:
    [f] = _added(due=120).incident.followups
    assert followup_view(f, at(119))["overdue"] is False
    shown = followup_view(f, at(121))
    assert shown["overdue"] is True
    assert shown["due"] == at(120).isoformat()
    assert shown["status"] == "open"


def test_follow_up_commands_cross_the_bus_unchanged() -> None:
    edit = FollowUpEdit(
        frozenset({"status", "due", "owner"}), status=FollowUpStatus.DONE, owner=None, due=at(5)
    )
    command = Command("INC-1000", "followup_update", ALICE, text="n", followup="F2", edit=edit)
    assert decode_command(encode_command(command)) == command
    plain = Command("INC-1000", "note", ALICE, text="x")
    assert decode_command(encode_command(plain)) == plain
    old = orjson.loads(encode_command(plain))
    del old["followup"], old["edit"]  # a command queued by an older version
    assert decode_command(orjson.dumps(old)) == plain


def test_a_peak_score_is_kept_as_the_alerts_clear() -> None:
    incident = declared().incident
    calm = dataclasses.replace(
        incident.score, impact_points=0.0, value=1, factors=(), services=(), capabilities=()
    )
    after: Incident = update_score(incident, calm)
    assert after.score is calm
    assert after.peak is incident.score
