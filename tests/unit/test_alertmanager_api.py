"""Asking Alertmanager's API what is still active: reading its answers, choosing what to close,
and the notifications of resolves that close it (read back by the Alertmanager parser)."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentd.correlate.dedup import AlertState, Outcome, decide
from incidentd.ingest.alertmanager import AlertmanagerSource
from incidentd.ingest.alertmanager_api import (
    RESOLVES_PER_BODY,
    Answer,
    PeerError,
    read_answer,
    resolve_bodies,
    stale,
)
from incidentd.ingest.source import RawWebhook, SourceOptions
from incidentd.model import Status

SENDER = "http://alertmanager.example:9093"
T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
PARSER = AlertmanagerSource()


def notification(alerts: list[dict[str, Any]], *, external_url: str = SENDER) -> bytes:
    return orjson.dumps(
        {
            "version": "4",
            "status": "firing",
            "receiver": "incidentd",
            "groupKey": '{}:{alertname="X"}',
            "externalURL": external_url,
            "alerts": alerts,
        }
    )


def firing(name: str, *, minute: float = 0.0, **labels: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} fires"},
        "startsAt": (T0 + timedelta(minutes=minute)).isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example:9090/graph",
    }


def held(
    *alerts: dict[str, Any], received: datetime = T0, sender: str | None = None
) -> list[AlertState]:
    """What the engine holds after these alerts were notified to incidentd."""
    raw = RawWebhook(
        "alertmanager", notification(list(alerts)), {}, received, SourceOptions(sender=sender)
    )
    return [decide(alert, None, service=None).state for alert in PARSER.parse(raw)]


def listed(*label_sets: dict[str, str]) -> bytes:
    """`GET /api/v2/alerts` as Alertmanager answers it (gettableAlerts)."""
    return orjson.dumps(
        [
            {
                "annotations": {},
                "endsAt": "2026-11-29T10:09:00.000Z",
                "fingerprint": "6051004c729abe0e",
                "receivers": [{"name": "incidentd"}],
                "startsAt": "2026-11-29T10:00:00.000Z",
                "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
                "updatedAt": "2026-11-29T10:04:00.641Z",
                "labels": labels,
            }
            for labels in label_sets
        ]
    )


def status(up_since: str = "2026-11-29T08:00:00.123456789Z") -> bytes:
    return orjson.dumps(
        {"cluster": {"status": "disabled"}, "config": {"original": ""}, "uptime": up_since}
    )


def answer(*label_sets: dict[str, str], up_since: str = "2026-11-29T08:00:00Z") -> Answer:
    return read_answer(listed(*label_sets), status(up_since), sender=SENDER)


GRACE = timedelta(minutes=5)
ASKED = T0 + timedelta(minutes=3)


def test_an_answer_gives_the_fingerprints_incidentd_gives_the_same_alerts() -> None:
    states = held(firing("A", x="1"), firing("B"))
    got = answer(
        {"alertname": "A", "x": "1"}, {"alertname": "B"}, up_since="2026-11-29T08:00:00.123456789Z"
    )
    assert got.active == {s.fingerprint for s in states}
    assert got.up_since == datetime(2026, 11, 29, 8, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("alerts", "up"),
    [
        (b"{}", status()),  # an object, not a list
        (b'[{"labels": {"a": 1}}]', status()),  # a label value that is not a string
        (b"[", status()),  # truncated
        (b"<html>login</html>", status()),  # a proxy's page
        (listed({"alertname": "A"}), b'{"uptime": "yesterday"}'),
        (listed({"alertname": "A"}), b"{}"),
        # an unknown field nested deeper than the interpreter's stack
        (b'[{"labels": {}, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]", status()),
    ],
)
def test_an_answer_that_is_not_alertmanagers_is_a_peer_error(alerts: bytes, up: bytes) -> None:
    with pytest.raises(PeerError, match="not an Alertmanager API answer"):
        read_answer(alerts, up, sender=SENDER)


def test_firing_alerts_no_peer_lists_are_stale_and_only_those() -> None:
    states = held(firing("A"), firing("B"), firing("C"))
    # two HA peers: B is only on the second one (it still fires)
    gone = stale(
        states,
        [answer({"alertname": "A"}), answer({"alertname": "B"})],
        sender=SENDER,
        asked_at=ASKED,
        restart_grace=GRACE,
    )
    assert [s.labels["alertname"] for s in gone] == ["C"]


def test_what_is_not_this_senders_or_not_firing_or_newer_than_the_question_stays() -> None:
    other = held(firing("D"), sender="http://other-alertmanager:9093")
    resolved = decide(
        PARSER.parse(
            RawWebhook(
                "alertmanager",
                notification([firing("E") | {"status": "resolved", "endsAt": T0.isoformat()}]),
                {},
                T0,
            )
        )[0],
        None,
        service=None,
    ).state
    assert resolved.status is Status.RESOLVED
    late = held(firing("F"), received=ASKED)  # reported after the peers were asked
    gone = stale(
        [*other, resolved, *late], [answer()], sender=SENDER, asked_at=ASKED, restart_grace=GRACE
    )
    assert gone == []
    # the same alerts are this sender's and stale once asked again later
    assert [
        s.labels["alertname"]
        for s in stale(
            late,
            [answer()],
            sender=SENDER,
            asked_at=ASKED + timedelta(seconds=1),
            restart_grace=GRACE,
        )
    ] == ["F"]


def test_nothing_is_stale_while_a_peer_restarted_recently_or_without_answers() -> None:
    states = held(firing("A"))
    young = answer(up_since=(ASKED - timedelta(minutes=1)).isoformat())
    assert (
        stale(states, [answer(), young], sender=SENDER, asked_at=ASKED, restart_grace=GRACE) == []
    )
    assert stale(states, [], sender=SENDER, asked_at=ASKED, restart_grace=GRACE) == []
    assert len(stale(states, [answer()], sender=SENDER, asked_at=ASKED, restart_grace=GRACE)) == 1


def test_resolve_bodies_close_the_same_alerts_through_the_parser_and_the_engine() -> None:
    states = held(firing("A", minute=1, pod="p-1"), firing("B", minute=2))
    [body] = resolve_bodies(states, sender=SENDER, ended_at=ASKED)
    raw = RawWebhook("alertmanager", body, {}, ASKED + timedelta(milliseconds=5))
    assert PARSER.check(raw) == 2
    resolves = PARSER.parse(raw)
    for state, alert in zip(states, resolves, strict=True):
        assert alert.fingerprint == state.fingerprint
        assert alert.status is Status.RESOLVED
        assert alert.starts_at == state.starts_at
        assert alert.ends_at == ASKED
        outcome = decide(alert, state, service=None)
        assert outcome.outcome is Outcome.RESOLVE
        assert outcome.state.ends_at == ASKED
    # Alertmanager's own resolve, minutes later, then changes nothing
    late = notification(
        [
            firing("B", minute=2)
            | {"status": "resolved", "endsAt": (T0 + timedelta(minutes=2, seconds=90)).isoformat()}
        ]
    )
    [own] = PARSER.parse(RawWebhook("alertmanager", late, {}, T0 + timedelta(minutes=7)))
    closed = decide(resolves[1], states[1], service=None).state
    assert decide(own, closed, service=None).outcome is Outcome.DUPLICATE


def test_a_storm_is_resolved_in_bodies_of_bounded_size() -> None:
    many = held(*(firing("Storm", pod=f"p-{i}") for i in range(RESOLVES_PER_BODY + 1)))
    bodies = resolve_bodies(many, sender=SENDER, ended_at=ASKED)
    sizes = [len(orjson.loads(b)["alerts"]) for b in bodies]
    assert sizes == [RESOLVES_PER_BODY, 1]
    parsed = [a for b in bodies for a in PARSER.parse(RawWebhook("alertmanager", b, {}, ASKED))]
    assert {a.fingerprint for a in parsed} == {s.fingerprint for s in many}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(alerts=JSON, up=JSON)
def test_any_json_answer_is_read_or_refused_as_a_peer_error(alerts: object, up: object) -> None:
    """Whatever a peer (or a proxy in its place) answers: an Answer, or PeerError; never
    another exception (the round would be lost to a traceback)."""
    try:
        got = read_answer(json.dumps(alerts).encode(), json.dumps(up).encode(), sender=SENDER)
    except PeerError:
        return
    assert isinstance(got.active, frozenset)
    assert got.up_since.tzinfo is not None


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200))
def test_any_bytes_answer_is_read_or_refused_as_a_peer_error(raw: bytes) -> None:
    for alerts, up in ((raw, status()), (listed({"alertname": "A"}), raw)):
        with contextlib.suppress(PeerError):
            read_answer(alerts, up, sender=SENDER)
