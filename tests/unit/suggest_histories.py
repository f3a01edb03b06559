"""Synthetic alert histories whose structure is known, for the learned suggestions' tests.

Every history is made from a numpy generator with a fixed seed: independent background alert
types (Poisson arrivals while the type is quiet, log-normal durations), to which a test adds
one known structure: two types that always fire together, or one type that always clears
within two minutes. Histories are normalized alerts, in the order received, as `incidentd
replay` and `incidentd suggest` read them (`lines`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from incidentd.correlate.fingerprint import event_id, fingerprint
from incidentd.model import Alert, Severity, Status

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Kind:
    """One alert type: what a monitoring rule on one service raises."""

    name: str
    service: str | None
    severity: Severity
    title: str
    source: str = "generic"


BACKGROUND: tuple[Kind, ...] = (
    Kind("HighLatency", "frontend", Severity.WARNING, "p99 latency above 800 ms on the storefront"),
    Kind("PodRestarting", "checkout", Severity.WARNING, "checkout pods restart repeatedly"),
    Kind("ReplicationLag", "orders-db", Severity.WARNING, "replica lag above 30 s"),
    Kind("KafkaUnderReplicated", "kafka", Severity.ERROR, "under-replicated partitions"),
    Kind("StockSyncDelayed", "inventory", Severity.WARNING, "stock sync behind by 10 minutes"),
    Kind("IndexingBacklog", "search", Severity.WARNING, "search indexing backlog growing"),
    Kind("ModelStale", "recommendations", Severity.INFO, "recommendation model older than a day"),
    Kind("BounceRateHigh", "email", Severity.WARNING, "e-mail bounce rate above 5 percent"),
    Kind("EvictionsHigh", "sessions-redis", Severity.WARNING, "redis evicts session keys"),
    Kind("CertExpiresSoon", None, Severity.WARNING, "a TLS certificate expires within 14 days"),
    Kind("GatewayErrors", "api-gateway", Severity.ERROR, "5xx above 2 percent at the edge"),
    Kind("CatalogSlowQueries", "catalog-db", Severity.WARNING, "slow queries on the catalog"),
)

PAIR = (
    Kind("LoginErrorsHigh", "auth", Severity.CRITICAL, "login error ratio above 20 percent"),
    Kind("SearchTimeouts", "search", Severity.ERROR, "search API requests time out"),
)
"""Two types on services that the example rules never put in one group (auth and search are
not within three hops of each other, and neither's root cause is in the other's blast radius)."""

TRANSIENT = Kind("SearchProbeFailed", "search", Severity.ERROR, "synthetic search probe failed")


def alerts_of(
    kind: Kind, onset: datetime, duration: timedelta, *, instance: str = "a"
) -> list[Alert]:
    """A firing report at `onset` and its resolve `duration` later."""
    labels = {"instance": instance}
    fp = fingerprint(kind.source, kind.name, kind.service, labels)
    end = onset + duration
    common = {
        "source": kind.source,
        "fingerprint": fp,
        "severity": kind.severity,
        "name": kind.name,
        "title": kind.title,
        "service": kind.service,
        "labels": labels,
        "starts_at": onset,
    }
    firing = Alert(
        **common,
        event_id=event_id(fp, "firing", onset.isoformat()),
        status=Status.FIRING,
        received_at=onset,
    )
    resolved = Alert(
        **common,
        event_id=event_id(fp, "resolved", onset.isoformat(), end.isoformat()),
        status=Status.RESOLVED,
        ends_at=end,
        received_at=end,
    )
    return [firing, resolved]


def poisson_episodes(
    rng: np.random.Generator,
    *,
    days: float,
    mean_gap: timedelta,
    median_duration: timedelta,
    sigma: float = 1.0,
) -> list[tuple[datetime, timedelta]]:
    """Onsets of one type: exponential gaps while it is quiet (a Poisson process that cannot
    fire while already firing), log-normal durations between 30 s and 12 h."""
    out: list[tuple[datetime, timedelta]] = []
    at = rng.exponential(mean_gap.total_seconds())
    horizon = days * 86400
    while at < horizon:
        seconds = rng.lognormal(np.log(median_duration.total_seconds()), sigma)
        duration = timedelta(seconds=float(np.clip(seconds, 30, 12 * 3600)))
        out.append((T0 + timedelta(seconds=float(at)), duration))
        at += duration.total_seconds() + rng.exponential(mean_gap.total_seconds())
    return out


def background(
    rng: np.random.Generator,
    *,
    days: float = 7,
    kinds: Sequence[Kind] = BACKGROUND,
    mean_gap: timedelta = timedelta(hours=6),
    median_duration: timedelta = timedelta(minutes=20),
) -> list[Alert]:
    out: list[Alert] = []
    for kind in kinds:
        for onset, duration in poisson_episodes(
            rng, days=days, mean_gap=mean_gap, median_duration=median_duration
        ):
            out.extend(alerts_of(kind, onset, duration))
    return out


def random_kinds(
    rng: np.random.Generator, count: int, *, weights: Sequence[float] | None = None
) -> list[Kind]:
    """`count` distinct types on the example map's services, of random severity (info,
    warning, error, critical: equally likely, or by `weights`)."""
    services = [k.service for k in BACKGROUND if k.service] + ["auth", "payments", None]
    severities = list(Severity)
    return [
        Kind(
            f"Condition{i:02d}",
            services[int(rng.integers(len(services)))],
            severities[int(rng.choice(len(severities), p=weights))],
            f"condition {i} on its service",
        )
        for i in range(count)
    ]


def independent_history(seed: int, *, days: float = 7, kinds: int = 24) -> list[Alert]:
    """Nothing to find: independent types, Poisson arrivals, random durations (the mean gap
    and the median duration of each history are drawn too)."""
    rng = np.random.default_rng(seed)
    mean_gap = timedelta(hours=float(rng.uniform(1, 8)))
    median = timedelta(minutes=float(rng.uniform(10, 40)))
    alerts = background(
        rng, days=days, kinds=random_kinds(rng, kinds), mean_gap=mean_gap, median_duration=median
    )
    return ordered(alerts)


def pair_history(seed: int, *, days: float = 7, together: int = 20) -> list[Alert]:
    """Background + PAIR: B starts within 20 s of A, `together` times, each lasting long
    enough to be declared (10-40 minutes); episodes at least 3 hours apart."""
    rng = np.random.default_rng(seed)
    alerts = background(rng, days=days)
    slots = np.sort(rng.choice(int(days * 24 / 3) - 1, size=together, replace=False))
    first, second = PAIR
    for slot in slots:
        onset = T0 + timedelta(hours=3 * float(slot) + float(rng.uniform(0, 1.5)))
        lag = timedelta(seconds=float(rng.uniform(1, 20)))
        alerts += alerts_of(first, onset, timedelta(minutes=float(rng.uniform(10, 40))))
        alerts += alerts_of(second, onset + lag, timedelta(minutes=float(rng.uniform(10, 40))))
    return ordered(alerts)


def transient_history(seed: int, *, days: float = 7, episodes: int = 30) -> list[Alert]:
    """Background + TRANSIENT: `episodes` firings that each clear within two minutes
    (20-110 s), at random times at least an hour apart."""
    rng = np.random.default_rng(seed)
    alerts = background(rng, days=days)
    slots = np.sort(rng.choice(int(days * 24) - 1, size=episodes, replace=False))
    for slot in slots:
        onset = T0 + timedelta(hours=float(slot) + float(rng.uniform(0, 0.5)))
        alerts += alerts_of(TRANSIENT, onset, timedelta(seconds=float(rng.uniform(20, 110))))
    return ordered(alerts)


def ordered(alerts: Iterable[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: a.received_at)


def lines(alerts: Iterable[Alert]) -> list[bytes]:
    return [a.model_dump_json().encode() for a in alerts]


def jsonl(alerts: Iterable[Alert]) -> bytes:
    return b"".join(line + b"\n" for line in lines(alerts))


EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"


def example_config(directory: Path, *, sustain: str | None = None) -> Path:
    """A copy of config/example in `directory`; `sustain` replaces the policy's 2m."""
    shutil.copytree(EXAMPLE, directory, dirs_exist_ok=True)
    if sustain is not None:
        path = directory / "declaration.yaml"
        text = path.read_text(encoding="utf-8")
        assert "  sustain: 2m " in text
        path.write_text(text.replace("  sustain: 2m ", f"  sustain: {sustain} "), encoding="utf-8")
    return directory


def write(path: Path, alerts: Iterable[Alert]) -> Path:
    path.write_bytes(jsonl(alerts))
    return path
