"""Micro-benchmark of the service-impact map: cost per call as the map grows.

    .venv/bin/python bench/impact.py [--sizes 10,100,1000,10000] [--runs 7]

For each size, a random map shaped like a real service estate: five layers (edges, gateways,
services, data stores, infrastructure), each service depending on one to three services of
the layers below it (a DAG), and one in five also on one of a few shared hubs (the last 1%
of the services: a Kafka, an auth service, a big database). Each service has an equality
selector `[namespace="ns-K", app="svc-I"]`, and five services in the whole map also have a
regex-only selector (those are checked on every alert that its own service does not map).

Measured, median of `--runs` runs, in microseconds of this process's CPU time per call (not
wall time: on a shared machine, time spent waiting for a core is not the code's cost):
- service_for, for alerts that name their service (or an alias), alerts found through a
  selector's labels, and unmapped alerts (the worst case: every index bucket and every regex
  selector is looked at);
- blast_radius and root_causes of groups of ten failing services (a cascade: one service and
  nine of the services above it), cold (first call on a freshly built map: the upstream
  closures are computed) and warm (the same groups again: cached);
- related(service, 3), cold;
- the mean number of services in those blast radii: the cold cost follows it, since a
  blast radius is as big as what depends on the failing services;
- blast_radius of each of the ten biggest hubs alone, cold, and how many services such a
  radius holds: the worst case, a failure much of the map depends on;
- build, in milliseconds (once per configuration load).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from incidentd.correlate.impact import ImpactMap
from incidentd.model import Alert
from incidentd.rules.schema import ServicesFile

LAYERS = 5
REGEX_SELECTORS = 5
GROUP = 10
HUB_SHARE = 0.2
HUBS = 10
CALLS = 2000
NOW = "2026-03-01T12:00:00Z"


def random_map(size: int, rng: random.Random) -> ServicesFile:
    layer = [min(i * LAYERS // size, LAYERS - 1) for i in range(size)]
    below = {k: [i for i in range(size) if layer[i] > k] for k in range(LAYERS)}
    regex = set(rng.sample(range(size), min(REGEX_SELECTORS, size)))
    hubs = range(size - max(1, size // 100), size)
    services: dict[str, Any] = {}
    for i in range(size):
        pool = below[layer[i]]
        needs = rng.sample(pool, min(len(pool), rng.randint(1, 3))) if pool else []
        if i < hubs.start and rng.random() < HUB_SHARE:
            needs = list({*needs, rng.choice(hubs)})
        match: list[Any] = [[f'namespace="ns-{i % 20}"', f'app="svc-{i}"']]
        if i in regex:
            match.append(f'host=~"svc-{i}-[0-9]+"')
        services[f"svc-{i}"] = {
            "owner": f"team-{i % 30}",
            "criticality": rng.choice(["critical", "high", "medium", "low"]),
            "capabilities": [f"cap-{i % 50}"],
            "users_per_minute": rng.randint(0, 100),
            "depends_on": [f"svc-{j}" for j in needs],
            "aliases": [f"alias-{i}"],
            "match": match,
        }
    capabilities = {f"cap-{k}": {"users_per_minute": k, "revenue_per_minute": k} for k in range(50)}
    return ServicesFile.model_validate({"services": services, "capabilities": capabilities})


def alert(service: str | None, labels: dict[str, str]) -> Alert:
    return Alert.model_validate(
        {
            "source": "alertmanager",
            "fingerprint": "f",
            "event_id": "e",
            "status": "firing",
            "severity": "critical",
            "name": "HighErrorRate",
            "title": "high error rate",
            "service": service,
            "labels": labels,
            "starts_at": NOW,
            "received_at": NOW,
        }
    )


def alerts(size: int, rng: random.Random) -> dict[str, list[Alert]]:
    picks = [rng.randrange(size) for _ in range(CALLS)]
    return {
        "own service": [alert(f"alias-{i}" if i % 2 else f"svc-{i}", {}) for i in picks],
        "by selector": [
            alert("kubernetes-pods", {"namespace": f"ns-{i % 20}", "app": f"svc-{i}", "pod": "p"})
            for i in picks
        ],
        "unmapped": [
            alert("node", {"namespace": "ns-1", "app": "other", "host": "db-1", "job": "node"})
            for _ in picks
        ],
    }


def groups(impact: ImpactMap, count: int, rng: random.Random) -> list[list[str]]:
    """Cascades: a failing service and up to GROUP-1 of the services above it."""
    names = list(impact.services)
    found = []
    for _ in range(count):
        root = rng.choice(names[len(names) // 2 :])  # the lower layers, where outages cascade
        above = sorted(impact.upstream(root))
        found.append([root, *rng.sample(above, min(GROUP - 1, len(above)))])
    return found


def per_call(calls: Callable[[], int], runs: int) -> float:
    """Median microseconds per call over `runs` runs; `calls` runs a batch, returns its size."""
    samples = []
    for _ in range(runs):
        start = time.process_time_ns()  # CPU time: the machine is shared, wall time wanders
        n = calls()
        samples.append((time.process_time_ns() - start) / 1000 / n)
    return statistics.median(samples)


def bench(size: int, runs: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    spec = random_map(size, rng)
    started = time.perf_counter_ns()
    impact = ImpactMap.build(spec)
    result = {"build ms": (time.perf_counter_ns() - started) / 1e6}
    for kind, batch in alerts(size, rng).items():
        result[f"service_for {kind}"] = per_call(partial(_map_all, impact, batch), runs)
    cases = [groups(impact, 200, random.Random(seed + run)) for run in range(runs)]
    cold = iter([(ImpactMap.build(spec), g) for g in cases])
    result["blast_radius cold"] = per_call(lambda: _radius(*next(cold)), runs)
    cold = iter([(ImpactMap.build(spec), g) for g in cases])
    result["root_causes cold"] = per_call(lambda: _roots(*next(cold)), runs)
    sizes = [len(impact.blast_radius(failing).services) for failing in cases[0]]
    result["(services in a radius)"] = statistics.mean(sizes)
    biggest = sorted(impact.services, key=lambda name: -len(impact.upstream(name)))[:HUBS]
    hubs = [[hub] for hub in biggest]
    fresh = iter([ImpactMap.build(spec) for _ in range(runs)])
    result["hub blast_radius cold"] = per_call(lambda: _radius(next(fresh), hubs), runs)
    hub_sizes = [len(impact.blast_radius(hub).services) for hub in hubs]
    result["(services in its radius)"] = statistics.mean(hub_sizes)
    result["blast_radius warm"] = per_call(lambda: _radius(impact, cases[0]), runs)
    result["root_causes warm"] = per_call(lambda: _roots(impact, cases[0]), runs)
    cold = iter([(ImpactMap.build(spec), g) for g in cases])
    result["related(3) cold"] = per_call(lambda: _related(*next(cold)), runs)
    return result


def _map_all(impact: ImpactMap, batch: Sequence[Alert]) -> int:
    for one in batch:
        impact.service_for(one)
    return len(batch)


def _radius(impact: ImpactMap, cases: list[list[str]]) -> int:
    for failing in cases:
        impact.blast_radius(failing)
    return len(cases)


def _roots(impact: ImpactMap, cases: list[list[str]]) -> int:
    for failing in cases:
        impact.root_causes(failing)
    return len(cases)


def _related(impact: ImpactMap, cases: list[list[str]]) -> int:
    for failing in cases:
        impact.related(failing[0], 3)
    return len(cases)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    table = {size: bench(size, args.runs, args.seed) for size in sizes}
    metrics = list(next(iter(table.values())))
    print("microseconds per call (build: milliseconds), median of", args.runs, "runs")
    print(f"{'':28}" + "".join(f"{size:>12,}" for size in sizes) + "  services")
    for metric in metrics:
        print(f"{metric:28}" + "".join(f"{table[size][metric]:12.1f}" for size in sizes))


if __name__ == "__main__":
    main()
