"""Alert storms for the engine benchmark: one event stream, rendered in every input format.

A storm is a sequence of reports about a growing population of alerts, each report one of:

- `new`: the first report of an alert (an alert identity never seen before);
- `repeat`: a firing alert reported again, as a new report (a new event id: a Datadog
  re-notification, a generic sender's next run);
- `duplicate`: the very same report delivered again (sender retry, HA peer, Alertmanager's
  re-send of an unchanged group): the same event id;
- `resolve`: a firing alert resolves;
- `refire`: a resolved alert fires again (a new occurrence).

The mix (`Mix`) picks the kind of each report; a kind that is not possible at that point
(nothing firing yet) falls back to `new`. Alerts are spread over the services of a catalogue
(`Catalogue`): mapped services reached either by their name (the `app` label, which the
Alertmanager parser takes as the alert's service) or only through a selector of the map, and
unmapped alerts (batch jobs, node-level alerts). Severities are mixed so that every rule of
the config takes its share. Report k is received at `start + k / rate` (virtual time).

Renderers: normalized `Alert`s (what the engine takes), the JSON Lines `incidentd replay`
reads (normalized alerts, or raw Alertmanager webhook records), and request bodies for the
live daemon (Alertmanager notifications of N alerts, generic one-alert bodies). An
Alertmanager alert has no report id of its own (its event id is fingerprint, status and
times), so a `repeat` rendered for Alertmanager is a re-send: the engine counts it as a
duplicate, as it does with real Alertmanager traffic.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from incidentd.correlate.fingerprint import event_id, fingerprint
from incidentd.ingest.alertmanager import service_of
from incidentd.model import Alert, Severity, Status

REPO = Path(__file__).resolve().parent.parent
AM_TEMPLATE = REPO / "tests" / "payloads" / "alertmanager" / "group_firing.json"
START = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
"""A Tuesday morning: no silence of config/example is active or starts during a storm."""
SENDER = "http://alertmanager.example:9093"
GENERATOR_URL = "http://prometheus.example:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
KINDS = ("new", "repeat", "duplicate", "resolve", "refire")
SEVERITIES = (("critical", 0.15), ("error", 0.25), ("warning", 0.45), ("info", 0.15))
NAMES = {
    "critical": ("ServiceDown", "HighErrorRate"),
    "error": ("HighLatency", "PodCrashLooping"),
    "warning": ("HighMemoryUsage", "SlowRequests", "QueueBacklog"),
    "info": ("DeploymentRolledOut", "ConfigReloaded"),
}
NODE_NAMES = ("DiskFull", "NodeNotReady", "HostOutOfMemory")

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of each kind of report (normalised: they need not add up to 1)."""

    new: float = 0.30
    repeat: float = 0.20
    duplicate: float = 0.15
    resolve: float = 0.22
    refire: float = 0.13

    def weights(self) -> list[float]:
        return [self.new, self.repeat, self.duplicate, self.resolve, self.refire]


NEW_ONLY = Mix(new=1, repeat=0, duplicate=0, resolve=0, refire=0)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Where alerts come from: label sets that reach services, and some that reach none.

    `by_name[i]` gives labels that name service i (its `app` label), `by_selector[i]` labels
    that only a selector of the map ties to it; `unmapped` label sets match no service.
    `hot` concentrates alerts on the first services (an outage is never uniform).
    """

    name: str
    by_name: tuple[dict[str, str], ...]
    by_selector: tuple[dict[str, str], ...]
    unmapped: tuple[dict[str, str], ...]
    mapped_share: float = 0.8
    node_share: float = 0.1
    hot: float = 2.0

    def labels(self, rng: random.Random) -> dict[str, str]:
        roll = rng.random()
        if roll < self.node_share:
            return {"job": "node", "alertname": rng.choice(NODE_NAMES)}
        if roll < self.node_share + (1 - self.node_share) * (1 - self.mapped_share):
            return dict(rng.choice(self.unmapped))
        count = len(self.by_name)
        index = min(count - 1, int(count * rng.random() ** self.hot))
        pool = self.by_name if rng.random() < 0.5 else self.by_selector
        return dict(pool[index])


def example_catalogue() -> Catalogue:
    """The services of config/example/services.yaml, by name and by their selectors."""
    services = {
        "frontend": {"namespace": "shop", "app": "frontend"},
        "api-gateway": {"namespace": "edge", "app": "envoy"},
        "checkout": {"namespace": "shop", "app": "checkout"},
        "orders-db": {"job": "postgres", "cluster": "orders"},
        "inventory": {"namespace": "shop", "app": "inventory"},
        "catalog-db": {"job": "postgres", "cluster": "catalog"},
        "search": {"job": "elasticsearch", "cluster": "search"},
        "recommendations": {"namespace": "ml", "app": "recommendations"},
        "auth": {"namespace": "identity", "app": "auth"},
        "sessions-redis": {"job": "redis", "redis_cluster": "sessions"},
        "kafka": {"job": "kafka", "kafka_cluster": "events"},
        "email": {"namespace": "notifications", "app": "mailer"},
        "payments": {"job": "blackbox", "synthetics_test": "adyen-authorise"},
    }
    unmapped = tuple({"namespace": "batch", "app": f"etl-{k}"} for k in range(7))
    return Catalogue(
        name="example",
        by_name=tuple({"app": name} for name in services),
        by_selector=tuple(services.values()),
        unmapped=unmapped,
    )


def generated_catalogue(services: int, *, only: int | None = None) -> Catalogue:
    """The services of `engine_config.services_spec(services)`; `only`: alerts on the first
    `only` of them (the same services whatever the size of the map)."""
    used = range(min(services, only or services))
    return Catalogue(
        name=f"generated-{services}" + (f"-on-{only}" if only else ""),
        by_name=tuple({"app": f"svc-{i}"} for i in used),
        by_selector=tuple(
            {"job": "kubernetes-pods", "namespace": f"ns-{i % 20}", "workload": f"svc-{i}"}
            for i in used
        ),
        unmapped=tuple(
            {"job": "kubernetes-pods", "namespace": "ns-x", "workload": f"other-{k}"}
            for k in range(50)
        ),
    )


@dataclass(frozen=True, slots=True)
class Identity:
    """One alert (one fingerprint): its name, severity and labels never change."""

    name: str
    severity: str
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    ident: int
    status: str
    starts_at: datetime
    ends_at: datetime | None
    received_at: datetime
    report: int
    """Serial of this report among the alert's reports (a duplicate repeats its original's)."""


def _identity(index: int, catalogue: Catalogue, rng: random.Random) -> Identity:
    labels = catalogue.labels(rng)
    if labels.get("job") == "node":
        name = labels.pop("alertname")
        severity = "critical" if name == "NodeNotReady" else "warning"
        labels.update(instance=f"node-{index % 500}:9100", device=f"/dev/sd{index}")
    else:
        severity = rng.choices([s for s, _ in SEVERITIES], [w for _, w in SEVERITIES])[0]
        name = rng.choice(NAMES[severity])
        labels["pod"] = f"pod-{index}"
    labels.update(alertname=name, severity=severity)
    return Identity(name, severity, dict(sorted(labels.items())))


class _Bag:
    """A set with O(1) random choice and removal."""

    def __init__(self) -> None:
        self.items: list[int] = []
        self.where: dict[int, int] = {}

    def add(self, item: int) -> None:
        self.where[item] = len(self.items)
        self.items.append(item)

    def remove(self, item: int) -> None:
        at = self.where.pop(item)
        last = self.items.pop()
        if last != item:
            self.items[at] = last
            self.where[last] = at

    def choice(self, rng: random.Random) -> int:
        return self.items[int(rng.random() * len(self.items))]


@dataclass
class Storm:
    """The events of a storm and the identities they are about."""

    catalogue: Catalogue
    identities: list[Identity] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(KINDS, 0)
        for event in self.events:
            out[event.kind] += 1
        return out


@dataclass
class _State:
    firing: _Bag = field(default_factory=_Bag)
    resolved: _Bag = field(default_factory=_Bag)
    last: dict[int, Event] = field(default_factory=dict)
    reported: list[int] = field(default_factory=list)


def make_storm(
    count: int,
    catalogue: Catalogue,
    *,
    mix: Mix = Mix(),
    rate: float = 200.0,
    start: datetime = START,
    seed: int = 1,
    first_ident: int = 0,
) -> Storm:
    """`count` reports, `rate` per virtual second from `start`; deterministic for a seed.

    `first_ident` numbers the storm's alerts from there (a storm after another one, about
    alerts the first has not seen)."""
    rng = random.Random(seed)
    storm = Storm(catalogue)
    state = _State()
    weights = mix.weights()
    step = timedelta(seconds=1 / rate)
    for k in range(count):
        at = start + k * step
        kind = rng.choices(KINDS, weights)[0]
        storm.events.append(_next(kind, at, storm, state, rng, first_ident))
    return storm


def _next(
    kind: str, at: datetime, storm: Storm, state: _State, rng: random.Random, first: int
) -> Event:
    if kind == "repeat" and state.firing.items:
        ident = state.firing.choice(rng)
        prior = state.last[ident]
        event = Event(kind, ident, "firing", prior.starts_at, None, at, prior.report + 1)
    elif kind == "duplicate" and state.reported:
        prior = state.last[state.reported[int(rng.random() * len(state.reported))]]
        return Event(
            kind, prior.ident, prior.status, prior.starts_at, prior.ends_at, at, prior.report
        )
    elif kind == "resolve" and state.firing.items:
        ident = state.firing.choice(rng)
        prior = state.last[ident]
        state.firing.remove(ident)
        state.resolved.add(ident)
        event = Event(kind, ident, "resolved", prior.starts_at, at, at, prior.report + 1)
    elif kind == "refire" and state.resolved.items:
        ident = state.resolved.choice(rng)
        state.resolved.remove(ident)
        state.firing.add(ident)
        event = Event(kind, ident, "firing", at, None, at, state.last[ident].report + 1)
    else:
        ident = first + len(storm.identities)
        storm.identities.append(_identity(ident, storm.catalogue, rng))
        state.firing.add(ident)
        state.reported.append(ident)
        event = Event("new", ident, "firing", at, None, at, 0)
    state.last[event.ident] = event
    return event


# -- renderers ------------------------------------------------------------------------------


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _annotations(ident: Identity) -> dict[str, str]:
    where = ident.labels.get("pod") or ident.labels.get("instance", "")
    return {
        "summary": f"{ident.name} on {where}",
        "description": f"{ident.name} has been firing on {where}.\nRunbook: see the wiki.",
    }


def _identity_of(storm: Storm, ident: int, first: int) -> Identity:
    return storm.identities[ident - first]


def to_alerts(storm: Storm, *, first_ident: int = 0) -> list[Alert]:
    """The normalized alerts of the storm, as an Alertmanager-like sender's reports with a
    report id of their own (so that a `repeat` is a repeat, not a duplicate)."""
    out = []
    for event in storm.events:
        ident = _identity_of(storm, event.ident, first_ident)
        fp = fingerprint("alertmanager", SENDER, ident.labels)
        out.append(
            Alert(
                source="alertmanager",
                fingerprint=fp,
                event_id=event_id(fp, event.status, _iso(event.starts_at), str(event.report)),
                status=Status(event.status),
                severity=Severity(ident.severity),
                name=ident.name,
                title=_annotations(ident)["summary"],
                service=service_of(ident.labels),
                labels=ident.labels,
                annotations=_annotations(ident),
                starts_at=event.starts_at,
                ends_at=event.ends_at,
                received_at=event.received_at,
                url=GENERATOR_URL,
            )
        )
    return out


def alert_lines(alerts: Sequence[Alert]) -> list[bytes]:
    """JSON Lines of normalized alerts, as `incidentd normalize` prints them."""
    return [alert.model_dump_json().encode() + b"\n" for alert in alerts]


def _wire_alert(ident: Identity, event: Event) -> Json:
    return {
        "status": event.status,
        "labels": ident.labels,
        "annotations": _annotations(ident),
        "startsAt": _iso(event.starts_at),
        "endsAt": _iso(event.ends_at) if event.ends_at else "0001-01-01T00:00:00Z",
        "generatorURL": GENERATOR_URL,
        "fingerprint": fingerprint("am", ident.labels)[:16],
    }


def _am_bodies(storm: Storm, size: int, first: int) -> Iterator[tuple[datetime, Json]]:
    """Alertmanager notifications (version 4) of `size` consecutive reports each."""
    template: Json = json.loads(AM_TEMPLATE.read_bytes())
    for i in range(0, len(storm.events), size):
        events = storm.events[i : i + size]
        alerts = [_wire_alert(_identity_of(storm, e.ident, first), e) for e in events]
        name = alerts[0]["labels"]["alertname"]
        firing = any(a["status"] == "firing" for a in alerts)
        note = {
            **template,
            "status": "firing" if firing else "resolved",
            "alerts": alerts,
            "groupLabels": {"alertname": name},
            "commonLabels": {"alertname": name} if size > 1 else alerts[0]["labels"],
            "commonAnnotations": {},
            "externalURL": SENDER,
            "groupKey": f'{{}}:{{alertname="{name}"}}',
        }
        yield events[-1].received_at, note


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def webhook_records(storm: Storm, *, size: int, first_ident: int = 0) -> list[bytes]:
    """JSON Lines of raw webhook records (as the daemon records them) of Alertmanager
    notifications of `size` reports each."""
    return [
        _dumps({"source": "alertmanager", "received_at": _iso(at), "body": _dumps(note)}).encode()
        + b"\n"
        for at, note in _am_bodies(storm, size, first_ident)
    ]


def am_bodies(storm: Storm, *, size: int, first_ident: int = 0) -> list[bytes]:
    """Request bodies for POST /webhooks/alertmanager."""
    return [_dumps(note).encode() for _, note in _am_bodies(storm, size, first_ident)]


def generic_bodies(storm: Storm, *, first_ident: int = 0) -> list[bytes]:
    """One-alert request bodies for POST /webhooks/generic, each report with its own `id`."""
    out = []
    for event in storm.events:
        ident = _identity_of(storm, event.ident, first_ident)
        body: Json = {
            "name": ident.name,
            "status": event.status,
            "severity": ident.severity,
            "title": _annotations(ident)["summary"],
            "labels": ident.labels,
            "annotations": _annotations(ident),
            "starts_at": _iso(event.starts_at),
            "url": GENERATOR_URL,
            "sender": "bench-engine",
            "id": f"{event.ident}-{event.report}",
        }
        service = service_of(ident.labels)
        if service is not None:
            body["service"] = service
        if event.ends_at is not None:
            body["ends_at"] = _iso(event.ends_at)
        out.append(_dumps(body).encode())
    return out
