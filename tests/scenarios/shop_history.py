"""A fixed history of the example shop (config/example) for the report tests and the docs.

Three weeks, Monday 2026-03-02 to Monday 2026-03-23 (the report period), with one outage
before it and one after it. Webhooks are generic-source bodies, recorded as the daemon
records them; people acknowledge and resolve through engine commands at fixed times. What
each episode must produce (declared at, priority, root cause) is asserted by the tests that
use it, so that their expected figures can be worked out by hand from the times below.

- E0 2026-02-25 (before the period): orders-db outage, INC-1000.
- E1 Mon 03-02 09:00: orders-db outage (PostgresDown, repeated twice, then CheckoutErrors at
  +30 s, declared then): INC-1001, P1. alice acknowledges at +3 min, resolves at +50 min.
- E2 Tue 03-03 09:00: auth fails on three pods (one a minute); held for the 2-minute sustain,
  declared at 09:02: INC-1002, P1. bob acknowledges at 09:12, resolves at 10:02.
- E3 Tue 03-10 09:00: orders-db again: INC-1003, P1. Acknowledged at +8 min, resolved +5 h.
- E4 Wed 03-11 14:00: carol declares by hand "Card payments failing", P3, payments: INC-1004.
  Nobody acknowledges; she resolves it at 16:00.
- E5 Tue 03-17 09:00: orders-db a third time: INC-1005, P1. Acknowledged at +4 min; its
  alerts clear at +2 h and the engine mitigates it 15 minutes later; nobody resolves it.
- E6 Tue 03-24 (after the period): auth fails again, INC-1006, still firing at the end.
- Noise, never declared: RecommendationsSlow (warning, recommendations) on pod a four times
  and pod b twice, 3 minutes each; CertExpiringSoon (warning, unmapped host) three times.
- Reviews: INC-1001 gets two follow-up actions (replica-lag alert, due 03-06, done 03-05;
  automated failover, due 03-16, still open: overdue at the end), INC-1002 one (due 04-30).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from incidentd.declare.declarer import Command
from incidentd.declare.followup import FollowUpEdit, FollowUpStatus
from incidentd.declare.incident import IncidentStatus
from incidentd.declare.timeline import person
from incidentd.engine import Decision, Engine
from incidentd.model import Priority
from incidentd.replay import Summary, read_alerts
from incidentd.rules.loader import RuleSet
from incidentd.store.base import StateStore

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"
SINCE = datetime(2026, 3, 2, tzinfo=UTC)
UNTIL = datetime(2026, 3, 23, tzinfo=UTC)
END = datetime(2026, 3, 25, tzinfo=UTC)
"""The engine's last tick (and the reports' `as_of`)."""

POSTGRES: dict[str, Any] = {
    "name": "PostgresDown",
    "severity": "critical",
    "labels": {"job": "postgres", "cluster": "orders", "instance": "orders-db-1:9187"},
}
CHECKOUT: dict[str, Any] = {
    "name": "CheckoutErrors",
    "severity": "critical",
    "labels": {"namespace": "shop", "app": "checkout", "pod": "checkout-7d9f-a"},
}


def auth(pod: int) -> dict[str, Any]:
    labels = {"namespace": "identity", "app": "auth", "pod": f"auth-{pod}"}
    return {"name": "AuthErrors", "severity": "critical", "labels": labels}


def recommendations(pod: str) -> dict[str, Any]:
    labels = {"namespace": "ml", "app": "recommendations", "pod": f"recs-{pod}"}
    return {"name": "RecommendationsSlow", "severity": "warning", "labels": labels}


CERT: dict[str, Any] = {
    "name": "CertExpiringSoon",
    "severity": "warning",
    "labels": {"host": "build-7"},
}


@dataclass(frozen=True, slots=True)
class Webhook:
    at: datetime
    body: dict[str, Any]
    source: str = "generic"

    def raw(self) -> bytes:
        """The body as the sender posts it."""
        return orjson.dumps(self.body)

    def record(self) -> bytes:
        """The line the daemon's recorder writes for this webhook (incidentd/recorder.py)."""
        body = self.raw().decode()
        return orjson.dumps({"source": self.source, "received_at": self.at, "body": body})


@dataclass(frozen=True, slots=True)
class Act:
    at: datetime
    command: Command


Event = Webhook | Act


def day(d: int, hour: int = 9, minute: float = 0) -> datetime:
    """`d` days after Monday 2026-03-02 (negative: before), at hour:minute UTC."""
    return SINCE + timedelta(days=d, hours=hour, minutes=minute)


def _resolved(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "status": "resolved"}


def _status(incident: str, who: str, status: IncidentStatus) -> Command:
    return Command(incident, "status", person(who), status=status)


def db_outage(start: datetime, *, repeats: int = 0, clears: float | None) -> list[Event]:
    """PostgresDown at `start` (and `repeats` repeats a minute apart), CheckoutErrors 30 s
    later; both clear `clears` minutes after `start` (None: they keep firing)."""
    out: list[Event] = [Webhook(start, POSTGRES), Webhook(start + timedelta(seconds=30), CHECKOUT)]
    out += [Webhook(start + timedelta(minutes=1 + i), POSTGRES) for i in range(repeats)]
    if clears is not None:
        end = start + timedelta(minutes=clears)
        out += [Webhook(end, _resolved(POSTGRES)), Webhook(end, _resolved(CHECKOUT))]
    return out


def flap(body: dict[str, Any], starts: list[datetime], minutes: float = 3) -> list[Event]:
    out: list[Event] = []
    for start in starts:
        out += [Webhook(start, body), Webhook(start + timedelta(minutes=minutes), _resolved(body))]
    return out


ACKNOWLEDGED, RESOLVED = IncidentStatus.ACKNOWLEDGED, IncidentStatus.RESOLVED


def shop_history() -> list[Event]:
    """Every event, in time order."""
    e0 = [
        *db_outage(day(-5), clears=20),
        Act(day(-5, minute=2), _status("INC-1000", "alice", ACKNOWLEDGED)),
        Act(day(-5, minute=30), _status("INC-1000", "alice", RESOLVED)),
    ]
    e1 = [
        *db_outage(day(0), repeats=2, clears=40),
        Act(day(0, minute=3), _status("INC-1001", "alice", ACKNOWLEDGED)),
        Act(day(0, minute=50), _status("INC-1001", "alice", RESOLVED)),
    ]
    e2: list[Event] = [Webhook(day(1, minute=i), auth(i)) for i in range(3)]
    e2 += [Webhook(day(1, minute=50), _resolved(auth(i))) for i in range(3)]
    e2 += [
        Act(day(1, minute=12), _status("INC-1002", "bob", ACKNOWLEDGED)),
        Act(day(1, hour=10, minute=2), _status("INC-1002", "bob", RESOLVED)),
    ]
    e3 = [
        *db_outage(day(8), clears=290),
        Act(day(8, minute=8), _status("INC-1003", "alice", ACKNOWLEDGED)),
        Act(day(8, minute=300), _status("INC-1003", "alice", RESOLVED)),
    ]
    by_hand = Command(
        "",
        "declare",
        person("carol"),
        text="customers report failed card payments",
        title="Card payments failing",
        priority=Priority.P3,
        services=("payments",),
    )
    e4 = [
        Act(day(9, hour=14), by_hand),
        Act(day(9, hour=16), _status("INC-1004", "carol", RESOLVED)),
    ]
    e5 = [
        *db_outage(day(15), clears=120),
        Act(day(15, minute=4), _status("INC-1005", "dave", ACKNOWLEDGED)),
    ]
    e6: list[Event] = [Webhook(day(22, minute=i), auth(i)) for i in range(3)]
    noise = [
        *flap(recommendations("a"), [day(d, 16, 30) for d in (2, 4, 9, 16)]),
        *flap(recommendations("b"), [day(d, 17, 30) for d in (4, 16)]),
        *flap(CERT, [day(d, 20) for d in (1, 8, 15)]),
    ]
    events = [*e0, *e1, *e2, *e3, *e4, *e5, *e6, *noise, *reviews()]
    # Stable: at one instant, the order written above (a command after the alerts before it).
    return sorted(events, key=lambda e: e.at)


def _followup(incident: str, who: str, title: str, owner: str, due: datetime) -> Command:
    edit = FollowUpEdit(frozenset({"title", "owner", "due"}), title=title, owner=owner, due=due)
    return Command(incident, "followup", person(who), edit=edit)


def reviews() -> list[Event]:
    """Follow-up actions from the reviews of E1 and E2: one done, one overdue at the end,
    one not due yet."""
    done = FollowUpEdit(frozenset({"status"}), status=FollowUpStatus.DONE)
    return [
        Act(
            day(0, hour=15),
            _followup("INC-1001", "alice", "Alert on orders-db replica lag", "dba", day(4, 17)),
        ),
        Act(
            day(0, hour=15, minute=1),
            _followup("INC-1001", "alice", "Automate orders-db failover", "dba", day(14, 17)),
        ),
        Act(
            day(1, hour=16),
            _followup("INC-1002", "bob", "Rate-limit login retries", "identity", day(59, 17)),
        ),
        Act(
            day(3, hour=10),
            Command("INC-1001", "followup_update", person("erin"), followup="F1", edit=done),
        ),
    ]


def recording(events: list[Event]) -> bytes:
    """The webhooks of `events` as the daemon records them (JSON Lines)."""
    return b"".join(e.record() + b"\n" for e in events if isinstance(e, Webhook))


def run(events: list[Event], rules: RuleSet) -> Iterator[tuple[Engine, list[Decision]]]:
    """Drive the engine through `events` as the daemon would (commands in order with the
    alerts, timers run up to each event), ending with a tick at END. Yields after each step
    so that the caller commits the engine's changes (`engine.take_changes()`)."""
    engine = Engine()
    for event in events:
        if isinstance(event, Webhook):
            alerts = list(read_alerts([event.record()], rules, Summary(), strict=True))
            yield engine, engine.process(alerts, rules=rules)
        else:
            decisions = engine.tick(rules=rules, now=event.at)
            engine.command(event.command, rules=rules, now=event.at)
            yield engine, decisions
    yield engine, engine.tick(rules=rules, now=END)


async def store_history(store: StateStore, events: list[Event], rules: RuleSet) -> None:
    """Commit the engine's changes of every step to `store`, as the daemon's consumer does."""
    owner = "shop-history"
    assert await store.acquire(owner, ttl_ms=60_000)
    for engine, decisions in run(events, rules):
        await store.commit(owner, engine.take_changes(), decisions)
    await store.release(owner)


# --- what the history gives, worked out by hand from the times above ----------------------------

IN_PERIOD = ("INC-1001", "INC-1002", "INC-1003", "INC-1004", "INC-1005")
PRIORITY = {
    "INC-1001": "P1",
    "INC-1002": "P1",
    "INC-1003": "P1",
    "INC-1004": "P3",
    "INC-1005": "P1",
}
MINUTES_TO: dict[str, dict[str, float]] = {
    # First alert -> declared: the database outages are declared at their first alert's
    # assessment (checkout's sustain is 0 s); auth waits for the 2-minute sustain; a person's
    # declaration starts when it is made.
    "declare": {"INC-1001": 0, "INC-1002": 2, "INC-1003": 0, "INC-1004": 0, "INC-1005": 0},
    # Declared -> acknowledged; INC-1004 was never acknowledged: its clock stopped when carol
    # resolved it, 2 hours after declaring it.
    "acknowledge": {"INC-1001": 3, "INC-1002": 10, "INC-1003": 8, "INC-1004": 120, "INC-1005": 4},
    # Declared -> resolved; INC-1005 was mitigated by the engine, never resolved.
    "resolve": {"INC-1001": 50, "INC-1002": 60, "INC-1003": 300, "INC-1004": 120},
}
ALERT_REPORTS = 6 + 6 + 4 + 4 + 8 + 4 + 6
"""In the period: E1 (PostgresDown, two repeats, CheckoutErrors, two resolves), E2 (three
firing, three resolved), E3 and E5 (two firing, two resolved), RecommendationsSlow a (4 x 2)
and b (2 x 2), CertExpiringSoon (3 x 2)."""
ALERT_FIRINGS = 2 + 3 + 2 + 2 + 4 + 2 + 3
DISTINCT_ALERTS = 8
"""PostgresDown, CheckoutErrors, AuthErrors on three pods, RecommendationsSlow on two, the
certificate."""


def example_report(directory: Path) -> None:
    """Write the report of this history (Markdown and its charts) into `directory`: the
    example of docs/reports.md. `python -m tests.scenarios.shop_history DIR`."""
    import asyncio

    from incidentd.insight import history, records, report, report_render
    from incidentd.rules.loader import load
    from incidentd.store.memory_state import MemoryState

    rules = load(EXAMPLE, env={})
    store = MemoryState()
    events = shop_history()
    asyncio.run(store_history(store, events, rules))
    directory.mkdir(parents=True, exist_ok=True)
    recorded = directory / "webhooks.jsonl"
    recorded.write_bytes(recording(events))
    period = records.Period(SINCE, UNTIL)
    incidents = asyncio.run(
        history.incidents_from_store(store, period, declaration=rules.declaration, as_of=END)
    )
    owners = {name: s.owner for name, s in rules.services.services.items()}
    found = history.History(
        period,
        END,
        tuple(incidents),
        history.read_recordings([recorded], rules, as_of=END),
        owners,
        ("incidents: the store the example daemon kept", "alerts: webhooks.jsonl"),
    )
    for name, data in report_render.outputs(report.build(found), "md").items():
        (directory / name).write_bytes(data)


if __name__ == "__main__":
    import sys

    example_report(Path(sys.argv[1]))
