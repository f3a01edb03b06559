"""In-process measurements of the engine benchmark: replay, the engine with each state store,
and the cost per alert as the state and the service map grow.

Every function returns one record per run; bench/engine.py takes the medians. Rates are
given against wall time and against this process's CPU time (`time.process_time`): on a
small shared machine, time spent waiting for a core is not the code's cost, and the CPU
figure is the steadier one. The cyclic garbage collector stays on, as in the daemon; a full
collection runs before each measured part so that garbage of the setup is not charged to it.
"""

from __future__ import annotations

import asyncio
import gc
import pickle
import random
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from engine_storm import NEW_ONLY, START, Catalogue, make_storm, to_alerts

from incidentd.correlate.grouping import GroupState
from incidentd.declare.declarer import Declarer
from incidentd.engine import Engine
from incidentd.model import Alert, Status
from incidentd.replay import replay
from incidentd.rules.loader import RuleSet
from incidentd.store.keys import Keys
from incidentd.store.memory_state import MemoryState
from incidentd.store.redis_state import RedisState

REPO = Path(__file__).resolve().parent.parent
OWNER = "bench-engine"
CONSUMER_BATCH = 200
"""Alerts per Engine.process call where the benchmark plays the consumer."""
PRELOAD_RATE = 1000.0
"""Virtual alerts per second of a preload: 100,000 alerts span 100 s, well inside a window."""

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReplayInput:
    name: str
    config: Path
    rules: RuleSet
    lines: list[bytes]
    file: Path
    """The same lines on disk, for the CLI."""


def _batches(alerts: Sequence[Alert], size: int) -> list[Sequence[Alert]]:
    return [alerts[i : i + size] for i in range(0, len(alerts), size)]


# -- replay -----------------------------------------------------------------------------------


def replay_run(source: ReplayInput) -> Json:
    """`incidentd.replay.replay()` over the lines, in process (the lines are in memory)."""
    gc.collect()
    cpu = time.process_time()
    engine, summary = replay(source.lines, source.rules)
    cpu = time.process_time() - cpu
    return {
        "alerts": summary.alerts,
        "seconds": summary.seconds,
        "cpu_s": cpu,
        "alerts_per_s": summary.alerts / summary.seconds,
        "alerts_per_cpu_s": summary.alerts / cpu,
        "groups": len(engine.state.groups),
        "decisions": dict(sorted(summary.decisions.items())),
    }


_CLI_RATE = re.compile(r"replayed (\d+) alerts .* in ([\d.]+) s \(([\d,]+) alerts/s\)")


def replay_cli(source: ReplayInput) -> Json:
    """`python -m incidentd replay --config DIR FILE` once, groups to /dev/null: the rate the
    CLI reports (its replay loop) and the wall time of the whole process (start-up, config
    load and output included)."""
    argv = [sys.executable, "-m", "incidentd", "replay", "--config", str(source.config)]
    started = time.perf_counter()
    out = subprocess.run(
        [*argv, str(source.file)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        timeout=600,
    )
    wall = time.perf_counter() - started
    found = _CLI_RATE.search(out.stderr)
    if out.returncode != 0 or found is None:
        raise RuntimeError(f"incidentd replay failed ({out.returncode}): {out.stderr[-500:]}")
    alerts = int(found.group(1))
    return {
        "alerts": alerts,
        "reported_seconds": float(found.group(2)),
        "reported_alerts_per_s": float(found.group(3).replace(",", "")),
        "process_seconds": wall,
        "process_alerts_per_s": alerts / wall,
        "summary": out.stderr.strip().splitlines()[0],
    }


class _Undeclared(Declarer):
    """A declarer to which no group change is ever reported: nothing is scored, assessed or
    declared. Not a mode of incidentd: it measures what correlation alone costs."""

    def mark(self, group_id: str, at: datetime, fingerprint: str | None = None) -> None:
        return None

    def refresh(self, group_id: str, at: datetime) -> None:
        return None


def engine_only(
    alerts: Sequence[Alert], rules: RuleSet, *, batch: int = 512, declare: bool = True
) -> Json:
    """Engine.process over already-parsed alerts, as replay batches them: the engine's share.
    `declare=False`: with the declaration stage cut off (`_Undeclared`): dedup, flapping,
    silences, mapping and grouping alone, the floor under any replay of the same alerts."""
    engine = Engine()
    if not declare:
        engine.declarer = _Undeclared(engine.state.declare)
    parts = _batches(alerts, batch)
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    for part in parts:
        engine.process(part, rules=rules)
        engine.take_changes()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "alerts": len(alerts),
        "alerts_per_s": len(alerts) / wall,
        "alerts_per_cpu_s": len(alerts) / cpu,
        "us_per_alert_cpu": cpu / len(alerts) * 1e6,
    }


# -- the engine with a state store ------------------------------------------------------------


def _redis_counts(client: redis.Redis) -> tuple[float, dict[str, int]]:
    """Redis server CPU seconds, and calls per command so far."""
    cpu = client.info("cpu")
    stats = client.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), calls


async def _drive(
    store: MemoryState | RedisState, alerts: Sequence[Alert], rules: RuleSet, batch: int
) -> tuple[float, float, int]:
    """Play the consumer: process a batch, commit its changes and decisions. Returns the wall
    seconds spent in the engine, in the commits, and the decisions committed."""
    if not await store.acquire(OWNER, ttl_ms=600_000):
        raise RuntimeError("the engine lease of the benchmark's prefix is taken")
    engine = Engine()
    in_engine = in_commit = 0.0
    decisions = 0
    for part in _batches(alerts, batch):
        started = time.perf_counter()
        found = engine.process(part, rules=rules)
        changes = engine.take_changes()
        middle = time.perf_counter()
        await store.commit(OWNER, changes, found)
        in_engine += middle - started
        in_commit += time.perf_counter() - middle
        decisions += len(found)
    return in_engine, in_commit, decisions


def store_run(
    alerts: Sequence[Alert], rules: RuleSet, *, redis_url: str | None, batch: int = CONSUMER_BATCH
) -> Json:
    """The engine in batches of `batch` alerts, each batch committed to the memory store
    (`redis_url` None) or to RedisState on a real Redis under a prefix of its own (deleted
    afterwards)."""
    prefix = f"{OWNER}-{secrets.token_hex(4)}"
    client = redis.Redis.from_url(redis_url) if redis_url else None
    store: MemoryState | RedisState = (
        RedisState.from_url(redis_url, prefix=prefix) if redis_url else MemoryState()
    )
    before = _redis_counts(client) if client else (0.0, {})

    async def run() -> tuple[float, float, int]:
        try:
            return await _drive(store, alerts, rules, batch)
        finally:
            await store.close()

    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    in_engine, in_commit, decisions = asyncio.run(run())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    record: Json = {
        "store": "redis" if client else "memory",
        "batch": batch,
        "alerts": len(alerts),
        "decisions": decisions,
        "alerts_per_s": len(alerts) / wall,
        "alerts_per_cpu_s": len(alerts) / cpu,
        "engine_share": in_engine / wall,
        "commit_share": in_commit / wall,
        "us_per_alert_engine": in_engine / len(alerts) * 1e6,
        "us_per_alert_commit": in_commit / len(alerts) * 1e6,
    }
    if client is not None:
        record.update(_redis_usage(client, before, len(alerts), wall))
        keys = list(client.scan_iter(match=Keys(prefix).pattern, count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    return record


def _redis_usage(
    client: redis.Redis, before: tuple[float, dict[str, int]], alerts: int, wall: float
) -> Json:
    cpu, calls = _redis_counts(client)
    spent = {k: n - before[1].get(k, 0) for k, n in calls.items() if n > before[1].get(k, 0)}
    total = sum(spent.values())
    top = dict(sorted(spent.items(), key=lambda kv: -kv[1])[:6])
    return {
        "redis_cpu_cores": (cpu - before[0]) / wall,
        "redis_commands_per_alert": total / alerts,
        "redis_commands": top,
    }


# -- flatness ---------------------------------------------------------------------------------


def churn(
    alerts: Sequence[Alert], count: int, *, start: datetime, step: timedelta, seed: int
) -> list[Alert]:
    """`count` reports about `alerts` (all firing), one per `step` from `start`: a firing
    alert repeats (60%) or resolves (40%), a resolved one fires again."""
    rng = random.Random(seed)
    state = {a.fingerprint: a for a in alerts}
    pool = list(state)
    at = start - step
    out = []
    for k in range(count):
        at += step
        prior = state[pool[rng.randrange(len(pool))]]
        report = f"{prior.event_id}:{k}"
        if prior.status is Status.RESOLVED:
            update: Json = {"status": Status.FIRING, "starts_at": at, "ends_at": None}
        elif rng.random() < 0.6:
            update = {}
        else:
            update = {"status": Status.RESOLVED, "ends_at": at}
        alert = prior.model_copy(update={**update, "event_id": report, "received_at": at})
        state[alert.fingerprint] = alert
        out.append(alert)
    return out


@dataclass(frozen=True, slots=True)
class FlatCase:
    """One point of a curve: preload `preload` alerts, then time `batch` and `churn`. The
    biggest group reported is the one with the most services (the costly kind)."""

    label: str
    rules: RuleSet
    preload: list[Alert]
    batch: list[Alert]
    churn: list[Alert]


def flat_case(
    label: str, rules: RuleSet, catalogue: Catalogue, *, preload: int, batch: int
) -> FlatCase:
    """Preload: `preload` new alerts. Batch: `batch` new alerts after them. Churn: `batch`
    repeats, resolves and re-fires of preloaded alerts after that."""
    step = timedelta(seconds=1 / PRELOAD_RATE)
    loaded = to_alerts(make_storm(preload, catalogue, mix=NEW_ONLY, rate=PRELOAD_RATE, seed=11))
    after = START + preload * step + timedelta(seconds=1)
    fresh = make_storm(
        batch, catalogue, mix=NEW_ONLY, rate=PRELOAD_RATE, start=after, seed=12, first_ident=preload
    )
    new = to_alerts(fresh, first_ident=preload)
    again = churn(loaded, batch, start=new[-1].received_at + step, step=step, seed=13)
    return FlatCase(label, rules, loaded, new, again)


def _timed(engine: Engine, alerts: Sequence[Alert], rules: RuleSet) -> float:
    """Microseconds of CPU per alert of Engine.process over `alerts`, in consumer batches."""
    gc.collect()
    cpu = time.process_time()
    for part in _batches(alerts, CONSUMER_BATCH):
        engine.process(part, rules=rules)
    spent = time.process_time() - cpu
    engine.take_changes()
    return spent / len(alerts) * 1e6


def preloaded(case: FlatCase) -> tuple[bytes, float]:
    """The engine after the preload, pickled (each run starts from an identical copy, warm
    caches included, without paying the preload again), and the preload's CPU us per alert
    (the config is compiled first: building the map of 10,000 services is not an alert's)."""
    engine = Engine()
    engine.compiled(case.rules)
    gc.collect()
    cpu = time.process_time()
    for part in _batches(case.preload, 512):
        engine.process(part, rules=case.rules)
    spent = time.process_time() - cpu
    engine.take_changes()
    return pickle.dumps(engine, protocol=pickle.HIGHEST_PROTOCOL), spent / len(case.preload) * 1e6


def flat_run(case: FlatCase, snapshot: bytes) -> Json:
    """Time the new batch, then the churn, on a fresh copy of the preloaded engine."""
    engine: Engine = pickle.loads(snapshot)  # noqa: S301 (our own bytes, from preloaded())
    new = _timed(engine, case.batch, case.rules)
    again = _timed(engine, case.churn, case.rules)
    groups = [g for g in engine.state.groups.values() if g.state is GroupState.OPEN]
    biggest = max(groups, key=lambda g: len(g.services), default=None)
    return {
        "point": case.label,
        "us_per_new_alert": new,
        "us_per_churn_alert": again,
        "open_alerts": sum(1 for a in engine.state.alerts.values() if a.status is Status.FIRING),
        "open_groups": len(groups),
        "biggest_group_members": biggest.size if biggest else 0,
        "biggest_group_services": len(biggest.services) if biggest else 0,
    }
