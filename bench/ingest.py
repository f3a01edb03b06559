"""Ingest benchmark: alerts/s and latency of `incidentd serve` (Redis queue) against two baselines.

    .venv/bin/python bench/ingest.py            # full run, about 8 minutes
    .venv/bin/python bench/ingest.py --quick    # one short run of each, about 1 minute
    .venv/bin/python bench/ingest.py --profile var/profile   # then py-spy profiles of incidentd

Needs wrk (`apt-get install wrk`), the real Alertmanager (`apt-get install
prometheus-alertmanager`) and a Redis server (INCIDENTD_REDIS_URL, default
redis://127.0.0.1:6379/0; only keys under a prefix of its own are touched, then deleted).

Three servers on 127.0.0.1, started once and loaded in turn, in the same run, by the same load
generator (wrk, one thread: one core of the machine; the servers get the rest):

- incidentd: POST /webhooks/alertmanager, Alertmanager webhook bodies (version 4), 202 once the
  batch is in the Redis stream;
- aiohttp: a bare aiohttp app that parses the same bodies with orjson and answers 202 (the
  ceiling for Python here);
- alertmanager: the real Alertmanager's own ingestion, POST /api/v2/alerts, with the same
  alerts as an array of postable alerts.

Bodies hold 1, 10 and 100 alerts with distinct label sets (bench/ingest_bodies.py).
Phase 1, the sustained rate: wrk -t1 -cC -dDs (closed loop, C connections), each system and
size in turn, N rounds; the median of the N runs is reported with the min-max spread, and
ratios against the baselines of the same run. Phase 2, latency under a steady load:
bench/ingest_paced.py (open loop, the latency counted from when each request was due) sends
to incidentd at 80% of its median sustained rate, N runs per size. Before each run the
benchmark waits (up to --quiet-wait seconds) for the machine to be quiet, and redoes a run
that other processes disturbed anyway (see BENCHMARKS.md). Results go to
bench/results/ingest-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from bench_machine import describe, exit_on_sigterm
from ingest_bodies import write_bodies
from ingest_cpu import CpuMeter, wait_quiet
from ingest_loadgen import run_paced, run_wrk
from ingest_servers import ALERTMANAGER, Alertmanager, BareAiohttp, Incidentd, Server

HERE = Path(__file__).resolve().parent
SYSTEMS = ("incidentd", "aiohttp", "alertmanager")
TARGET_P99_MS = 50.0
LAG_WARN_MS = 5.0

Json = dict[str, Any]


# -- the run ------------------------------------------------------------------------------


def _check_tools(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        sys.exit("bench/ingest.py: wrk not found; install it with: apt-get install wrk")
    if "alertmanager" in args.systems and not Path(args.alertmanager).exists():
        sys.exit(
            f"bench/ingest.py: {args.alertmanager} not found; install it with: "
            "apt-get install prometheus-alertmanager (or leave it out: --systems incidentd,aiohttp)"
        )
    try:
        redis.Redis.from_url(args.redis_url).ping()
    except redis.RedisError as exc:
        sys.exit(f"bench/ingest.py: no Redis at {args.redis_url}: {exc}")


def _servers(args: argparse.Namespace, work: Path) -> dict[str, Server]:
    made: dict[str, Callable[[], Server]] = {
        "incidentd": lambda: Incidentd(work, redis_url=args.redis_url, engine=args.engine),
        "aiohttp": lambda: BareAiohttp(work),
        "alertmanager": lambda: Alertmanager(work, binary=args.alertmanager),
    }
    return {name: made[name]() for name in args.systems}


@contextmanager
def started(servers: dict[str, Server]) -> Iterator[None]:
    with ExitStack() as stack:
        for server in servers.values():
            server.start()
            stack.callback(server.stop)
        yield


def _smoke(server: Server, body: Path, size: int) -> None:
    """One request by hand: the body is accepted, and by incidentd as `size` alerts."""
    req = urllib.request.Request(  # noqa: S310 - our own local URL
        server.url, data=body.read_bytes(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        answer = resp.read()
        if resp.status != server.ok_status:
            raise RuntimeError(f"{server.name}: {resp.status} {answer[:300]!r}")
    if server.name == "incidentd" and json.loads(answer)["alerts"] != size:
        raise RuntimeError(f"incidentd counted {answer!r} for a {size}-alert body")


def _bad(result: Json) -> int:
    return int(sum(result["errors"].values()))


class Bench:
    """The servers, their bodies and the settings of one benchmark run."""

    def __init__(
        self,
        args: argparse.Namespace,
        servers: dict[str, Server],
        bodies: dict[str, dict[int, list[Path]]],
    ) -> None:
        self.args = args
        self.servers = servers
        self.bodies = bodies
        self.redis = redis.Redis.from_url(args.redis_url)

    def _files(self, server: Server, size: int) -> list[Path]:
        return self.bodies[server.body_kind][size]

    def warm_up(self) -> None:
        """Check each body by hand, then a short wrk run of each system and size, not counted."""
        for size in self.args.sizes:
            for server in self.servers.values():
                _smoke(server, self._files(server, size)[0], size)
                run_wrk(
                    server.url,
                    self._files(server, size),
                    connections=self.args.connections,
                    duration=self.args.warmup,
                )
                server.reset()

    def _measure(
        self, server: Server, base: Json, run: Callable[[], Json], line: Callable[[Json], str]
    ) -> list[Json]:
        """One run, redone (up to `retries` times) while other processes took more than
        `max_other` cores of the machine during it; every attempt is kept, the redone ones
        marked `discarded`."""
        attempts: list[Json] = []
        while True:
            server.reset()
            busy, waited = wait_quiet(max_busy=self.args.max_other, timeout=self.args.quiet_wait)
            if waited > 1.5:
                print(
                    f"  (waited {waited:.0f} s for a quiet machine: {busy:.2f} cores busy)",
                    flush=True,
                )
            meter = CpuMeter(server.pid, self.redis)
            record = {**base, **run()}
            record["cpu"] = meter.stop()
            record["busy_before"] = round(busy, 2)
            stored = server.reset()
            if stored is not None:
                record["queued_entries"] = stored
            disturbed = _disturbance(record) > self.args.max_other
            record["discarded"] = disturbed and len(attempts) < self.args.retries
            attempts.append(record)
            redone = "  (disturbed: redone)" if record["discarded"] else ""
            print(line(record) + redone, flush=True)
            if not record["discarded"]:
                return attempts

    def sustained(self) -> list[Json]:
        """Phase 1: wrk against each system and size, round after round; one record per run."""
        records = []
        for round_ in range(1, self.args.runs + 1):
            for size in self.args.sizes:
                for name, server in self.servers.items():

                    def run(server: Server = server, size: int = size) -> Json:
                        result = run_wrk(
                            server.url,
                            self._files(server, size),
                            connections=self.args.connections,
                            duration=self.args.duration,
                        )
                        return {**result, "alerts_per_s": result["rps"] * size}

                    base = {"system": name, "size": size, "run": round_}
                    records += self._measure(server, base, run, _sustained_line)
        return records

    def paced(
        self, rates: dict[int, float], *, load: float | None = None, runs: int | None = None
    ) -> list[Json]:
        """Phase 2: incidentd at `load` (default --load) of its median sustained rate, open
        loop, `runs` (default --runs) times per size."""
        server = self.servers["incidentd"]
        load = self.args.load if load is None else load
        records = []
        for size in self.args.sizes:
            rate = rates[size] * load
            for round_ in range(1, (runs or self.args.runs) + 1):

                def run(size: int = size, rate: float = rate) -> Json:
                    return run_paced(
                        server.url,
                        self._files(server, size),
                        rate=rate,
                        duration=self.args.paced_duration,
                        connections=self.args.connections,
                    )

                base = {"system": server.name, "size": size, "run": round_, "load": load}
                records += self._measure(server, base, run, _paced_line)
        return records


def _disturbance(record: Json) -> float:
    """Cores taken from the benchmark: other processes, and the hypervisor (steal)."""
    cpu = record["cpu"]
    return float(cpu["other"] + cpu.get("steal", 0.0))


def _sustained_line(record: Json) -> str:
    flag = f"  ERRORS {record['errors']}" if _bad(record) else ""
    return (
        f"  run {record['run']} size {record['size']:>3} {record['system']:<12}"
        f" {record['rps']:>9,.0f} req/s {record['alerts_per_s']:>10,.0f} alerts/s"
        f"  p50 {record['p50_ms']:6.1f} ms  p99 {record['p99_ms']:6.1f} ms"
        f"  (other {record['cpu']['other']:.2f} + steal {record['cpu']['steal']:.2f} cores){flag}"
    )


def _paced_line(record: Json) -> str:
    lat, lag = record["latency_ms"], record["send_lag_ms"]
    flag = "  GENERATOR LATE" if lag.get("p99", 0) > LAG_WARN_MS else ""
    if record["incomplete"] or any(s != "202" for s in record["status"]):
        flag += f"  NOT ACCEPTED {record['status']} incomplete {record['incomplete']}"
    return (
        f"  run {record['run']} size {record['size']:>3} incidentd at {record['rate']:>8,.0f}"
        f" req/s: achieved {record['achieved_rps']:>8,.0f}  p50 {lat.get('p50', 0):6.1f} ms"
        f"  p99 {lat.get('p99', 0):6.1f} ms  p99.9 {lat.get('p999', 0):6.1f} ms"
        f"  (send lag p99 {lag.get('p99', 0):.1f} ms, incidentd CPU {record['cpu']['server']:.2f},"
        f" other {record['cpu']['other']:.2f} + steal {record['cpu']['steal']:.2f})"
        f"{flag}"
    )


# -- the report ---------------------------------------------------------------------------


def _median(records: list[Json], key: str) -> float:
    return float(statistics.median(r[key] for r in records))


def summarize(records: list[Json], paced_records: list[Json]) -> Json:
    """Medians per system and size over the runs kept (not `discarded`)."""
    records = [r for r in records if not r.get("discarded")]
    paced_records = [r for r in paced_records if not r.get("discarded")]
    out: Json = {}
    for rec in records:
        out.setdefault(rec["system"], {}).setdefault(str(rec["size"]), []).append(rec)
    summary: Json = {}
    for system, by_size in out.items():
        for size, recs in by_size.items():
            rates = [r["alerts_per_s"] for r in recs]
            summary.setdefault(system, {})[size] = {
                "rps": _median(recs, "rps"),
                "alerts_per_s": _median(recs, "alerts_per_s"),
                "alerts_per_s_min": min(rates),
                "alerts_per_s_max": max(rates),
                "p50_ms": _median(recs, "p50_ms"),
                "p99_ms": _median(recs, "p99_ms"),
                "failed_requests": sum(_bad(r) for r in recs),
                "disturbance": float(statistics.median(_disturbance(r) for r in recs)),
            }
    for size in {str(r["size"]) for r in paced_records}:
        recs = [r for r in paced_records if str(r["size"]) == size]
        summary["incidentd"][size]["paced"] = {
            "rate": recs[0]["rate"],
            "achieved_rps": float(statistics.median(r["achieved_rps"] for r in recs)),
            "p50_ms": float(statistics.median(r["latency_ms"]["p50"] for r in recs)),
            "p99_ms": float(statistics.median(r["latency_ms"]["p99"] for r in recs)),
            "p99_ms_max": max(r["latency_ms"]["p99"] for r in recs),
            "p999_ms": float(statistics.median(r["latency_ms"]["p999"] for r in recs)),
            "send_lag_p99_ms": max(r["send_lag_ms"]["p99"] for r in recs),
            "disturbance": float(statistics.median(_disturbance(r) for r in recs)),
            "server_cpu": float(statistics.median(r["cpu"]["server"] for r in recs)),
            "not_accepted": sum(
                r["incomplete"] + sum(n for s, n in r["status"].items() if s != "202") for r in recs
            ),
        }
    return summary


def _ratio(summary: Json, a: str, b: str, size: str) -> float | None:
    if a not in summary or b not in summary or size not in summary[a]:
        return None
    return float(summary[a][size]["alerts_per_s"] / summary[b][size]["alerts_per_s"])


def targets(summary: Json) -> list[Json]:
    """The issue's targets, each with the measured value and whether it is met."""
    out: list[Json] = []

    def add(name: str, value: float | None, goal: float, *, below: bool = False) -> None:
        if value is not None:
            met = value < goal if below else value >= goal
            out.append({"target": name, "value": value, "goal": goal, "met": met})

    add("100-alert bodies: incidentd / alertmanager alerts/s >= 1.0",
        _ratio(summary, "incidentd", "alertmanager", "100"), 1.0)  # fmt: skip
    add("100-alert bodies: incidentd / bare aiohttp alerts/s >= 0.5",
        _ratio(summary, "incidentd", "aiohttp", "100"), 0.5)  # fmt: skip
    add("1-alert bodies: incidentd / bare aiohttp alerts/s >= 0.5",
        _ratio(summary, "incidentd", "aiohttp", "1"), 0.5)  # fmt: skip
    for size, entry in sorted(summary.get("incidentd", {}).items(), key=lambda kv: int(kv[0])):
        if "paced" in entry:
            load = entry["paced"]["rate"] / entry["rps"]
            add(f"{size}-alert bodies: incidentd p99 at {load:.0%} of its sustained rate < 50 ms",
                entry["paced"]["p99_ms"], TARGET_P99_MS, below=True)  # fmt: skip
    return out


def render(summary: Json, goals: list[Json], *, connections: int, load: float) -> str:
    lines = [
        f"Sustained (wrk -t1 -c{connections}, closed loop): median of the runs [min-max]",
        f"{'size':>4}  {'system':<12} {'req/s':>9} {'alerts/s':>10} {'[min-max]':>21}"
        f" {'p50 ms':>7} {'p99 ms':>7}  {'vs aiohttp':>10} {'vs AM':>6} {'disturbed':>9}",
    ]
    sizes = sorted({int(s) for by in summary.values() for s in by})
    for size in sizes:
        for system in SYSTEMS:
            entry = summary.get(system, {}).get(str(size))
            if entry is None:
                continue
            vs_bare = _ratio(summary, system, "aiohttp", str(size))
            vs_am = _ratio(summary, system, "alertmanager", str(size))
            spread = f"[{entry['alerts_per_s_min']:,.0f}-{entry['alerts_per_s_max']:,.0f}]"
            lines.append(
                f"{size:>4}  {system:<12} {entry['rps']:>9,.0f} {entry['alerts_per_s']:>10,.0f}"
                f" {spread:>21} {entry['p50_ms']:>7.1f} {entry['p99_ms']:>7.1f}"
                f"  {_fmt_ratio(vs_bare):>10} {_fmt_ratio(vs_am):>6} {entry['disturbance']:>9.2f}"
            )
    paced_rows = [
        (size, by["paced"]) for size, by in summary.get("incidentd", {}).items() if "paced" in by
    ]
    if paced_rows:
        lines += [
            "",
            f"incidentd at {load:.0%} of its sustained rate (bench/ingest_paced.py, open loop):"
            " median of the runs",
            f"{'size':>4}  {'req/s':>9} {'achieved':>9} {'p50 ms':>7} {'p99 ms':>7}"
            f" {'p99.9 ms':>8} {'send lag p99':>12} {'incidentd CPU':>13} {'disturbed':>9}",
        ]
        for size, p in sorted(paced_rows, key=lambda row: int(row[0])):
            lines.append(
                f"{size:>4}  {p['rate']:>9,.0f} {p['achieved_rps']:>9,.0f} {p['p50_ms']:>7.1f}"
                f" {p['p99_ms']:>7.1f} {p['p999_ms']:>8.1f} {p['send_lag_p99_ms']:>9.1f} ms"
                f" {p['server_cpu']:>13.2f} {p['disturbance']:>9.2f}"
            )
    lines += ["", "Targets"]
    for goal in goals:
        verdict = "met" if goal["met"] else "NOT MET"
        lines.append(f"  {verdict:<8} {goal['target']}: {goal['value']:.2f}")
    return "\n".join(lines)


def _fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each configuration")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--paced-duration", type=int, default=10, help="seconds per paced run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of wrk, not counted")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--load", type=float, default=0.8, help="paced rate / sustained rate")
    parser.add_argument(
        "--sweep",
        type=lambda text: [float(x) for x in text.split(",") if x],
        default=[],
        help="also one open-loop run at each of these shares of the sustained rate, "
        "e.g. 0.5,0.6,0.7 (where p99 stays under 50 ms)",
    )
    parser.add_argument("--sizes", default="1,10,100", help="alerts per body, comma-separated")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--variants", type=int, default=8, help="distinct bodies per size")
    parser.add_argument(
        "--max-other",
        type=float,
        default=0.3,
        help="redo a run during which other processes and steal took more cores than this",
    )
    parser.add_argument("--retries", type=int, default=2, help="redos per run at most")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="seconds to wait, before each run, for the machine to be quiet",
    )
    parser.add_argument("--quick", action="store_true", help="1 run of 3 s each (about 1 min)")
    parser.add_argument("--no-paced", action="store_true", help="skip the latency phase")
    parser.add_argument(
        "--engine",
        action="store_true",
        help="run incidentd with its correlation engine in the same process (default: ingest-only)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("INCIDENTD_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    parser.add_argument("--alertmanager", default=ALERTMANAGER, help="the binary")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/...)")
    parser.add_argument("--profile", type=Path, help="py-spy profiles of incidentd into DIR")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.paced_duration, args.warmup = 1, 3, 3, 1
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.systems = [s for s in args.systems.split(",") if s]
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}; choose from {SYSTEMS}")
    return args


def render_sweep(records: list[Json]) -> str:
    """Phase 3: p99 against the share of the sustained rate sent, one run per point."""
    lines = [
        "incidentd, open loop at shares of its sustained rate (--sweep; one run each)",
        f"{'size':>4} {'load':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU':>5}",
    ]
    for r in sorted(records, key=lambda r: (r["size"], r["load"])):
        lat = r["latency_ms"]
        lines.append(
            f"{r['size']:>4} {r['load']:>5.0%} {r['rate']:>8,.0f} {lat['p50']:>8.1f}"
            f" {lat['p99']:>8.1f} {r['cpu']['server']:>5.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    args = _parse_args(argv)
    _check_tools(args)
    began = datetime.now(UTC)
    tools = {"wrk": ["wrk", "-v"], "alertmanager": [args.alertmanager, "--version"]}
    info = describe(args.redis_url, tools)
    print(f"ingest benchmark {began:%Y-%m-%d %H:%M} UTC on {info['cores']} x {info['cpu']}")
    with tempfile.TemporaryDirectory(prefix="incidentd-bench-") as tmp:
        work = Path(tmp)
        bench = Bench(args, _servers(args, work), write_bodies(work, args.sizes, args.variants))
        with started(bench.servers):
            print("warm-up", flush=True)
            bench.warm_up()
            print("phase 1: sustained rate", flush=True)
            records = bench.sustained()
            paced_records: list[Json] = []
            if "incidentd" in bench.servers and not args.no_paced:
                print(f"phase 2: incidentd at {args.load:.0%} of its sustained rate", flush=True)
                incidentd = summarize(records, [])["incidentd"]
                paced_records = bench.paced({s: incidentd[str(s)]["rps"] for s in args.sizes})
            sweep_records: list[Json] = []
            if "incidentd" in bench.servers and args.sweep:
                print("phase 3: open-loop sweep", flush=True)
                incidentd = summarize(records, [])["incidentd"]
                rates = {s: incidentd[str(s)]["rps"] for s in args.sizes}
                for load in args.sweep:
                    sweep_records += bench.paced(rates, load=load, runs=1)
            if args.profile is not None and "incidentd" in bench.servers:
                from ingest_profile import profile

                profile(
                    bench.servers["incidentd"],
                    bench.bodies["webhook"],
                    folder=args.profile,
                    duration=args.duration,
                    connections=args.connections,
                )
    summary = summarize(records, paced_records)
    goals = targets(summary)
    print()
    print(render(summary, goals, connections=args.connections, load=args.load))
    if sweep_records:
        print()
        print(render_sweep(sweep_records))
    info["loadavg_at_end"] = os.getloadavg()
    result = {
        "date": began.isoformat(timespec="seconds"),
        "elapsed_s": round((datetime.now(UTC) - began).total_seconds()),
        "machine": info,
        "settings": {
            k: v for k, v in vars(args).items() if k not in ("out", "profile", "redis_url")
        },
        "summary": summary,
        "targets": goals,
        "runs": records,
        "paced_runs": paced_records,
        "sweep_runs": sweep_records,
    }
    out = args.out or HERE / "results" / f"ingest-{began:%Y-%m-%d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nresults: {out}")
    failed = sum(_bad(r) for r in records if not r["discarded"])
    if failed:
        print(f"warning: {failed} requests failed or were not 2xx; see the runs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
