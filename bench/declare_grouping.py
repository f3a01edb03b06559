"""One storm, two ways of telling people about it: incidentd's incidents and an
Alertmanager-style grouping.

- incidentd: `incidentd.replay.replay()` in process over the storm's normalized alerts
  (bench/engine_storm.py) with config/example; what a person receives is an incident (the
  declaration pages; an escalation pages again), so we count incidents and the alerts each
  one holds (`Incident.alerts`: every alert ever attached).
- Alertmanager: its dispatcher simulated in Python on the same reports, in the same virtual
  time: one route, `group_by` the service label, `group_wait` 30s, `group_interval` 5m,
  `repeat_interval` 4h (its defaults), a webhook receiver (`send_resolved` true). A group is
  created by its first alert and flushed `group_wait` later, then every `group_interval`;
  a flush sends a notification when `needsUpdate` (notify/notify.go) says so: the first
  time when something fires, then when a firing alert is not in the last notification,
  when all alerts resolved after some were notified firing, when a resolved one was not
  notified yet, or after `repeat_interval`. A notification holds every alert of the group
  (firing and resolved); after each flush the resolved alerts leave the group and an empty
  group is deleted (the notification log stays, per group key).

The service label: the storm's alerts carry their service as Alertmanager labels do (`app`,
or `job` for exporters); the group key is the first of `service`, `app`,
`app_kubernetes_io_name`, `job` that the alert has (`ingest/alertmanager.py:service_of`,
what incidentd reads as the service), "" when none (Alertmanager groups alerts without the
label together). A report sets the alert's state as it says (firing or resolved): a firing
alert stays firing until a resolve, as while Prometheus keeps re-sending it; Alertmanager's
`resolve_timeout` is not simulated, nor is it in replay.
"""

from __future__ import annotations

import heapq
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import engine_storm as storms

from incidentd.ingest.alertmanager import service_of
from incidentd.replay import replay
from incidentd.rules.loader import RuleSet

GROUP_WAIT = timedelta(seconds=30)
GROUP_INTERVAL = timedelta(minutes=5)
REPEAT_INTERVAL = timedelta(hours=4)
SETTLE = timedelta(hours=1)
"""After the last report, both sides run their timers this long (replay's default)."""
PAGING = frozenset({"critical", "error"})

Json = dict[str, Any]


def _spread(values: Sequence[float]) -> Json:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "mean": round(statistics.fmean(values), 2),
        "median": float(statistics.median(values)),
        "max": max(values),
        "min": min(values),
    }


# -- incidentd ----------------------------------------------------------------------------------


def incidentd_side(storm: storms.Storm, rules: RuleSet) -> Json:
    """Replay the storm's normalized alerts; the incidents and what they hold."""
    lines = storms.alert_lines(storms.to_alerts(storm))
    started = time.perf_counter()
    engine, summary = replay(lines, rules, settle=SETTLE)
    seconds = time.perf_counter() - started
    state = engine.state
    incidents = sorted(state.declare.incidents.values(), key=lambda i: i.number)
    in_incidents = {fp for i in incidents for fp in i.alerts}
    firsts = []
    for incident in incidents:
        opened = [g.opened_at for gid in incident.groups if (g := state.groups.get(gid))]
        if opened:
            firsts.append((incident.declared_at - min(opened)).total_seconds())
    decisions = summary.decisions
    return {
        "replay_seconds": round(seconds, 2),
        "alerts": len(state.alerts),
        "reports": summary.alerts,
        "groups": decisions.get("group.opened", 0),
        "incidents": len(incidents),
        "storm_incidents": sum(1 for i in incidents if i.storm),
        "priorities": dict(Counter(i.priority.value for i in incidents)),
        "escalations": decisions.get("incident.escalate", 0),
        "groups_joined_to_incidents": decisions.get("incident.join", 0),
        "alerts_per_incident": _spread([len(i.alerts) for i in incidents]),
        "groups_per_incident": _spread([len(i.groups) for i in incidents]),
        "alerts_in_an_incident": len(in_incidents),
        "seconds_first_alert_to_declaration": _spread(firsts),
        "incident_list": [
            {
                "id": i.id,
                "priority": i.priority.value,
                "storm": i.storm,
                "alerts": len(i.alerts),
                "groups": len(i.groups),
                "title": i.title,
            }
            for i in incidents
        ],
        "decisions": decisions,
    }


# -- Alertmanager ----------------------------------------------------------------------------------


@dataclass
class _Entry:
    """The notification log's entry of one group key: what the last notification held."""

    firing: frozenset[int]
    resolved: frozenset[int]
    at: datetime


@dataclass
class _Group:
    key: str
    created: datetime
    alerts: dict[int, bool] = field(default_factory=dict)
    """Alert (identity) -> firing."""


@dataclass
class _Dispatcher:
    send_resolved: bool = True
    groups: dict[str, _Group] = field(default_factory=dict)
    log: dict[str, _Entry] = field(default_factory=dict)
    due: list[tuple[datetime, int, str]] = field(default_factory=list)
    serial: int = 0
    created: int = 0
    notifications: list[Json] = field(default_factory=list)
    notified: set[int] = field(default_factory=set)

    def receive(self, key: str, ident: int, firing: bool, at: datetime) -> None:
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = _Group(key, at)
            self.created += 1
            self._schedule(key, at + GROUP_WAIT)
        group.alerts[ident] = firing

    def run_until(self, until: datetime) -> None:
        while self.due and self.due[0][0] <= until:
            when, _, key = heapq.heappop(self.due)
            self._flush(key, when)

    def _schedule(self, key: str, when: datetime) -> None:
        self.serial += 1
        heapq.heappush(self.due, (when, self.serial, key))

    def _flush(self, key: str, now: datetime) -> None:
        group = self.groups[key]
        firing = frozenset(i for i, f in group.alerts.items() if f)
        resolved = frozenset(i for i, f in group.alerts.items() if not f)
        before = self.log.get(key)
        if self._needs_update(before, firing, resolved, now):
            self.log[key] = _Entry(firing, resolved, now)
            self.notified |= firing | resolved
            self.notifications.append(
                {
                    "at": now,
                    "key": key,
                    "firing": len(firing),
                    "resolved": len(resolved),
                    "first": before is None,
                    "since_group_created_s": (now - group.created).total_seconds(),
                }
            )
        for ident in resolved:  # notified (or not worth notifying): they leave the group
            del group.alerts[ident]
        if group.alerts:
            self._schedule(key, now + GROUP_INTERVAL)
        else:
            del self.groups[key]

    def _needs_update(
        self, entry: _Entry | None, firing: frozenset[int], resolved: frozenset[int], now: datetime
    ) -> bool:
        """Alertmanager's DedupStage.needsUpdate, line by line."""
        if entry is None:
            return bool(firing)
        if not firing <= entry.firing:
            return True
        if not firing:
            return bool(entry.firing)
        if self.send_resolved and not resolved <= entry.resolved:
            return True
        return entry.at < now - REPEAT_INTERVAL


def alertmanager_side(
    storm: storms.Storm, *, routed: Callable[[storms.Identity], bool] = lambda _: True
) -> Json:
    """The storm through the simulated dispatcher (only the alerts `routed` selects)."""
    dispatcher = _Dispatcher()
    routed_alerts: set[int] = set()
    last = storm.events[-1].received_at if storm.events else None
    for event in storm.events:
        dispatcher.run_until(event.received_at)
        ident = storm.identities[event.ident]
        if not routed(ident):
            continue
        routed_alerts.add(event.ident)
        key = service_of(ident.labels) or ""
        dispatcher.receive(key, event.ident, event.status == "firing", event.received_at)
    if last is not None:
        dispatcher.run_until(last + SETTLE)
    sent = dispatcher.notifications
    return {
        "alerts": len(routed_alerts),
        "groups_created": dispatcher.created,
        "group_keys": len(dispatcher.log),
        "notifications": len(sent),
        "alerts_per_notification": _spread([n["firing"] + n["resolved"] for n in sent]),
        "firing_alerts_per_notification": _spread([n["firing"] for n in sent]),
        "notifications_per_group_key": _spread(list(Counter(n["key"] for n in sent).values())),
        "seconds_first_alert_to_first_notification": _spread(
            [n["since_group_created_s"] for n in sent if n["first"]]
        ),
        "notified_alerts": len(dispatcher.notified),
    }


def compare(storm: storms.Storm, rules: RuleSet) -> Json:
    """Both sides on one storm; Alertmanager twice: every alert routed to the receiver, and
    only critical and error alerts (a paging route), to set beside incidents."""
    return {
        "storm": {"reports": len(storm.events), "alerts": len(storm.identities), **storm.counts()},
        "incidentd": incidentd_side(storm, rules),
        "alertmanager_all": alertmanager_side(storm),
        "alertmanager_paging": alertmanager_side(storm, routed=lambda i: i.severity in PAGING),
    }
