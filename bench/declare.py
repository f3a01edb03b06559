"""Declaration benchmark: how fast a declarable failure becomes a stored incident on the live
daemon under load, and how one storm reads as incidents versus Alertmanager notifications.

    .venv/bin/python bench/declare.py            # full run, about 4-5 minutes
    .venv/bin/python bench/declare.py --quick    # about 1.5 minutes
    .venv/bin/python bench/declare.py --sections grouping

Needs wrk (`apt-get install wrk`) and a Redis server (INCIDENTD_REDIS_URL, default
redis://127.0.0.1:6379/0; only keys under prefixes of its own are touched, then deleted).

Sections (`--sections`, default all of them):

- latency: `incidentd serve` (engine on, Redis) on a generated config of isolated critical
  services (bench/declare_config.py). First its sustained rate: wrk, one thread, 64
  connections, one-alert generic bodies (repeats of 20 warnings that are never declared).
  Then runs of probes (bench/declare_latency.py): while bench/ingest_paced.py posts the same
  warnings at `--load` (0.5) of that rate, open loop, one critical alert at a time on a
  fresh service, at random points of the second, each declared by itself; for each, the
  POST's 202, the alert's `received_at`, the incident's `declared_at` and when the incident
  appeared in Redis. Then one run without background load (idle).
- whatif: the same on a daemon whose assessment step and consumer tick are `--step-ms`
  (bench/declare_whatif.py patches them in its own process), and replay of a storm at both
  steps, for the CPU a shorter step costs.
- grouping: one storm (bench/engine_storm.py, config/example) replayed through incidentd and
  through a simulated Alertmanager dispatcher (bench/declare_grouping.py): incidents and
  alerts per incident versus notifications and alerts per notification.

Before each run the benchmark waits (up to `--quiet-wait` s) for a quiet machine, and redoes a
run during which other processes and steal took more than `--max-other` cores (up to
`--retries` times; redone runs stay in the JSON marked `discarded`). Results:
bench/results/declare-<date>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import declare_config
import declare_grouping as grouping
import declare_latency as latency
import engine_storm as storms
import redis
from bench_machine import describe, exit_on_sigterm
from declare_whatif import assessment_steps, current_steps
from ingest_cpu import CpuMeter, wait_quiet
from ingest_loadgen import run_wrk

from incidentd.replay import replay
from incidentd.rules.loader import load

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SECTIONS = ("latency", "whatif", "grouping")
TARGET_P99_MS = 100.0
GAP = (0.6, 1.6)
"""Seconds between two probes (uniform): about 55 new alerts a minute, under the default
storm threshold (100) with the 20 background warnings."""

Json = dict[str, Any]


# -- runs -----------------------------------------------------------------------------------------


class Bench:
    """The daemon of a section, its probe services (each used once) and the run settings."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.rng = random.Random(args.seed)
        self.services = probes_needed(args)
        self.config = declare_config.write_config(work / "config", self.services)
        self.bodies = latency.background_bodies(work / "bodies")
        self.next_probe = 0

    def take(self, count: int) -> list[int]:
        if self.next_probe + count > self.services:
            raise RuntimeError("out of probe services: raise probes_needed()")
        out = list(range(self.next_probe, self.next_probe + count))
        self.next_probe += count
        return out

    def daemon(self, launcher: list[str] | None = None) -> latency.DeclareDaemon:
        daemon = latency.DeclareDaemon(
            self.work, redis_url=self.args.redis_url, config=self.config, launcher=launcher or ()
        )
        daemon.start()
        return daemon

    def runs(
        self,
        daemon: latency.DeclareDaemon,
        *,
        label: str,
        count: int,
        probes: int,
        rate: float | None,
    ) -> list[Json]:
        """`count` runs of `probes` probes; a disturbed run is redone (see the docstring)."""
        out: list[Json] = []
        redos = 0
        background = None
        if rate:
            background = latency.Background(daemon.source_url("generic"), self.bodies, rate)
        for run in range(1, count + 1):
            while True:
                offsets = latency.schedule(probes, gap=GAP, rng=self.rng)
                record = latency.probe_run(
                    daemon,
                    probes=self.take(probes),
                    offsets=offsets,
                    background=background,
                    max_busy=self.args.max_other,
                    quiet_wait=self.args.quiet_wait,
                )
                record = {"case": label, "run": run, **record}
                redo = disturbance(record) > self.args.max_other and redos < self.args.retries
                record["discarded"] = redo
                print(f"  {run_line(record)}{'  (disturbed: redone)' if redo else ''}", flush=True)
                out.append(record)
                if not redo:
                    break
                redos += 1
        return out


def probes_needed(args: argparse.Namespace) -> int:
    loaded = args.runs * args.probes + args.idle_probes
    whatif = 2 * args.whatif_probes
    return (loaded + whatif) * (1 + args.retries) + 10


def disturbance(record: Json) -> float:
    """Cores taken from the benchmark: other processes, and the hypervisor (steal)."""
    cpu = record["cpu"]
    return float(cpu["other"] + cpu.get("steal", 0.0))


def run_line(r: Json) -> str:
    lat = r["latency_ms"]
    total, wait, after = (
        lat[k] for k in ("stored_after_202", "declared_after_received", "stored_after_declared")
    )
    paced = r.get("paced") or {}
    bg = ""
    if paced:
        statuses = paced.get("status", {})
        bad = sum(v for k, v in statuses.items() if k != "202") + paced.get("incomplete", 0)
        bg = (
            f"; background {paced.get('achieved_rps', 0):,.0f} req/s,"
            f" p99 {paced.get('latency_ms', {}).get('p99', 0):.1f} ms"
            + (f" NOT ACCEPTED {bad}" if bad else "")
        )
    missing = len(r["probes"]) - r["declared"]
    flag = f"  NOT DECLARED {missing}" if missing else ""
    flag += "  STORM INCIDENT" if any(p.get("storm") for p in r["probes"]) else ""
    return (
        f"{r['case']} run {r['run']}: {r['declared']}/{len(r['probes'])} declared;"
        f" stored after 202 p50 {total.get('p50', 0):.0f} p99 {total.get('p99', 0):.0f}"
        f" max {total.get('max', 0):.0f} ms (assessment wait p50 {wait.get('p50', 0):.0f},"
        f" then stored p50 {after.get('p50', 0):.0f} p99 {after.get('p99', 0):.0f} ms){bg};"
        f" CPU incidentd {r['cpu']['server']:.2f}, other {r['cpu']['other']:.2f}"
        f" + steal {r['cpu']['steal']:.2f}{flag}"
    )


# -- sections -------------------------------------------------------------------------------------


def sustained(args: argparse.Namespace, bench: Bench, daemon: latency.DeclareDaemon) -> Json:
    """The sustained rate, measured again (up to `retries` times) when disturbed."""
    attempts = []
    while True:
        record = _sustained_once(args, bench, daemon)
        redo = disturbance(record) > args.max_other and len(attempts) < args.retries
        record["discarded"] = redo
        attempts.append(record)
        if not redo:
            return {**record, "attempts": attempts}
        print("  (disturbed: measured again)", flush=True)


def _sustained_once(args: argparse.Namespace, bench: Bench, daemon: latency.DeclareDaemon) -> Json:
    """wrk against the daemon (engine on) with the background bodies: its sustained rate."""
    url = daemon.source_url("generic")
    busy, waited = wait_quiet(max_busy=args.max_other, timeout=args.quiet_wait)
    run_wrk(url, bench.bodies, connections=args.connections, duration=1)  # warm-up
    daemon.drain()
    meter = CpuMeter(daemon.pid, daemon.redis)
    result = run_wrk(url, bench.bodies, connections=args.connections, duration=args.wrk_seconds)
    cpu = meter.stop()
    drained = daemon.drain()
    record = {**result, "cpu": cpu, "drain_after_s": round(drained, 2)}
    record["busy_before"], record["waited_s"] = round(busy, 2), round(waited, 1)
    errors = sum(result["errors"].values())
    print(
        f"  sustained (wrk -t1 -c{args.connections} -d{args.wrk_seconds}s, 1-alert generic bodies):"
        f" {result['rps']:,.0f} req/s, p99 {result['p99_ms']:.1f} ms, queue drained"
        f" {drained:.2f} s after; CPU incidentd {cpu['server']:.2f}, other {cpu['other']:.2f}"
        f" + steal {cpu['steal']:.2f}" + (f"  ERRORS {result['errors']}" if errors else ""),
        flush=True,
    )
    return record


def section_latency(args: argparse.Namespace, bench: Bench) -> Json:
    print("\n== decision latency (live daemon, Redis)", flush=True)
    daemon = bench.daemon()
    try:
        found = sustained(args, bench, daemon)
        rate = args.rate or found["rps"] * args.load
        print(f"  background load: {rate:,.0f} req/s ({args.load:.0%} of the sustained rate)")
        loaded = bench.runs(daemon, label="loaded", count=args.runs, probes=args.probes, rate=rate)
        idle = []
        if args.idle_probes:
            idle = bench.runs(daemon, label="idle", count=1, probes=args.idle_probes, rate=None)
    finally:
        daemon.stop()
    return {"sustained": found, "background_rate": rate, "loaded": loaded, "idle": idle}


def section_whatif(args: argparse.Namespace, bench: Bench, rate: float | None) -> Json:
    step = args.step_ms
    print(f"\n== what-if: assessment step and consumer tick of {step} ms", flush=True)
    launcher = [sys.executable, str(HERE / "declare_whatif.py"), "--step-ms", str(step)]
    out: Json = {"step_ms": step}
    if args.whatif_probes:
        daemon = bench.daemon(launcher)
        try:
            if rate is None:
                rate = sustained(args, bench, daemon)["rps"] * args.load
            out["background_rate"] = rate
            out["loaded"] = bench.runs(
                daemon, label=f"{step} ms, loaded", count=1, probes=args.whatif_probes, rate=rate
            )
            out["idle"] = bench.runs(
                daemon, label=f"{step} ms, idle", count=1, probes=args.whatif_probes, rate=None
            )
        finally:
            daemon.stop()
    out["replay_cost"] = replay_cost(args, step)
    return out


def replay_cost(args: argparse.Namespace, step_ms: int) -> Json:
    """CPU seconds of replaying a storm (config/example) with the assessment steps as built,
    at `step_ms` and at 1 ms (reports are 5 ms apart: every changed group assessed at its
    alert's own time), in this process, and the incidents each declares."""
    rules = load(REPO / "config" / "example")
    storm = storms.make_storm(args.whatif_storm, storms.example_catalogue(), seed=args.seed)
    lines = storms.alert_lines(storms.to_alerts(storm))
    out: Json = {"reports": args.whatif_storm}
    for label, step in (
        ("as built", None),
        (f"{step_ms} ms", timedelta(milliseconds=step_ms)),
        ("1 ms", timedelta(milliseconds=1)),
    ):
        with assessment_steps(step) as steps:
            started = time.process_time()
            engine, summary = replay(lines, rules)
            cpu = time.process_time() - started
        verdicts = sum(v for k, v in summary.decisions.items() if k.startswith("incident."))
        incidents = sorted(engine.state.declare.incidents.values(), key=lambda i: i.number)
        out[label] = {
            "steps_ms": steps,
            "cpu_s": round(cpu, 2),
            "incidents": len(incidents),
            "titles": [f"{i.id} {i.priority.value}: {i.title}" for i in incidents],
            "incident_verdicts": verdicts,
        }
        shown = ", ".join(f"{k} {v:g} ms" for k, v in steps.items())
        print(
            f"  replay of {args.whatif_storm:,} reports, {label} ({shown}): {cpu:.2f} s of CPU,"
            f" {len(incidents)} incidents",
            flush=True,
        )
    return out


def section_grouping(args: argparse.Namespace) -> Json:
    print("\n== grouping: incidentd incidents vs Alertmanager notifications", flush=True)
    rules = load(REPO / "config" / "example")
    out: Json = {"cases": []}
    for rate in args.storm_rates:
        storm = storms.make_storm(args.storm, storms.example_catalogue(), rate=rate, seed=args.seed)
        found = grouping.compare(storm, rules)
        found["reports_per_s"] = rate
        found["virtual_minutes"] = round(args.storm / rate / 60, 1)
        out["cases"].append(found)
        inc, am, pg = found["incidentd"], found["alertmanager_all"], found["alertmanager_paging"]
        print(
            f"  {args.storm:,} reports at {rate:g}/s ({found['virtual_minutes']} min):"
            f" incidentd {inc['incidents']} incidents,"
            f" {inc['alerts_per_incident'].get('mean', 0):,.0f} alerts each"
            f" (replay {inc['replay_seconds']:.1f} s); Alertmanager"
            f" {am['notifications']} notifications of {am['alerts_per_notification']['mean']:,.0f}"
            f" alerts ({pg['notifications']} of {pg['alerts_per_notification']['mean']:,.0f}"
            " for critical and error only)",
            flush=True,
        )
    return out


# -- summary and report ---------------------------------------------------------------------------


def _kept(records: list[Json]) -> list[Json]:
    return [r for r in records if not r.get("discarded")]


def pooled(records: list[Json]) -> Json:
    """Percentiles over every probe of the runs kept, the per-run p99s, and the disturbance."""
    kept = _kept(records)
    probes = [p for r in kept for p in r["probes"]]
    out: Json = {
        "runs": len(kept),
        "probes": len(probes),
        "declared": sum(1 for p in probes if p.get("incident")),
        "storm_incidents": sum(1 for p in probes if p.get("storm")),
        "priorities": sorted({p["priority"] for p in probes if p.get("priority")}),
        "latency_ms": latency.summarize_probes(probes),
        "run_p99_stored_after_202": [r["latency_ms"]["stored_after_202"].get("p99") for r in kept],
        "seen_via_poll": sum(1 for p in probes if p.get("seen_via") == "poll"),
        "disturbed_cores": [round(disturbance(r), 2) for r in kept],
        "incidentd_cpu": [r["cpu"]["server"] for r in kept],
    }
    paced = [r["paced"] for r in kept if r.get("paced")]
    if paced:
        out["background"] = {
            "achieved_rps": [round(p["achieved_rps"]) for p in paced],
            "p99_ms": [round(p["latency_ms"].get("p99", 0), 1) for p in paced],
            "not_202": sum(
                sum(v for k, v in p["status"].items() if k != "202") + p["incomplete"]
                for p in paced
            ),
        }
    return out


def summarize(results: Json) -> Json:
    summary: Json = {}
    if "latency" in results:
        lat = results["latency"]
        summary["latency"] = {
            "sustained_rps": lat["sustained"]["rps"],
            "background_rate": lat["background_rate"],
            "loaded": pooled(lat["loaded"]),
            "idle": pooled(lat["idle"]) if lat["idle"] else None,
        }
    if "whatif" in results:
        w = results["whatif"]
        summary["whatif"] = {
            "step_ms": w["step_ms"],
            "loaded": pooled(w["loaded"]) if w.get("loaded") else None,
            "idle": pooled(w["idle"]) if w.get("idle") else None,
            "replay_cost": w["replay_cost"],
        }
    if "grouping" in results:
        summary["grouping"] = [
            {
                "reports": c["storm"]["reports"],
                "reports_per_s": c["reports_per_s"],
                "alerts": c["storm"]["alerts"],
                "incidentd": {
                    k: c["incidentd"][k]
                    for k in (
                        "incidents",
                        "storm_incidents",
                        "groups",
                        "alerts_per_incident",
                        "alerts_in_an_incident",
                        "escalations",
                        "seconds_first_alert_to_declaration",
                    )
                },
                "alertmanager_all": _am_summary(c["alertmanager_all"]),
                "alertmanager_paging": _am_summary(c["alertmanager_paging"]),
            }
            for c in results["grouping"]["cases"]
        ]
    summary["targets"] = targets(summary)
    return summary


def _am_summary(am: Json) -> Json:
    keys = ("alerts", "groups_created", "notifications", "alerts_per_notification")
    return {k: am[k] for k in (*keys, "firing_alerts_per_notification")}


def targets(summary: Json) -> list[Json]:
    out = []
    found = summary.get("latency", {}).get("loaded")
    if found and found["latency_ms"]["stored_after_202"].get("n"):
        value = found["latency_ms"]["stored_after_202"]["p99"]
        goal = f"decision latency p99 < {TARGET_P99_MS:.0f} ms beyond the sustain time (0 here)"
        out.append({"target": goal, "value_ms": value, "met": value < TARGET_P99_MS})
    return out


def _lat_rows(name: str, found: Json | None) -> list[str]:
    if not found:
        return []
    rows = []
    labels = {
        "stored_after_202": "stored - 202",
        "stored_after_received": "stored - received_at",
        "declared_after_received": "  declared_at - received_at",
        "stored_after_declared": "  stored - declared_at",
        "answer": "202 - sent",
    }
    for key, label in labels.items():
        p = found["latency_ms"][key]
        if not p.get("n"):
            continue
        rows.append(
            f"  {name:<20} {label:<28} {p['n']:>4} {p['p50']:>8.1f} {p['p90']:>8.1f}"
            f" {p['p99']:>8.1f} {p['max']:>8.1f}"
        )
    return rows


def render(summary: Json) -> str:
    lines: list[str] = []
    lat = summary.get("latency")
    w = summary.get("whatif")
    if lat or w:
        lines.append("Decision latency, ms (every probe of the runs kept)")
        lines.append(
            f"  {'case':<20} {'interval':<28} {'n':>4} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}"
        )
    if lat:
        lines += _lat_rows(f"loaded ({lat['background_rate']:,.0f}/s)", lat["loaded"])
        lines += _lat_rows("idle", lat["idle"])
    if w:
        lines += _lat_rows(f"{w['step_ms']} ms step, loaded", w["loaded"])
        lines += _lat_rows(f"{w['step_ms']} ms step, idle", w["idle"])
        cost = w["replay_cost"]
        steps = [k for k in cost if isinstance(cost[k], dict)]
        lines.append(
            f"  replay of {cost['reports']:,} reports, CPU: "
            + ", ".join(f"{k} {cost[k]['cpu_s']:.2f} s" for k in steps)
        )
    for case in summary.get("grouping", []):
        inc, am, pg = case["incidentd"], case["alertmanager_all"], case["alertmanager_paging"]
        lines += [
            "",
            f"Grouping: {case['reports']:,} reports at {case['reports_per_s']:g}/s,"
            f" {case['alerts']:,} alerts",
            f"  {'':44} {'sent':>6} {'alerts each: mean':>18} {'median':>7} {'max':>6}",
            f"  {'incidentd incidents':<44} {inc['incidents']:>6}"
            f" {inc['alerts_per_incident'].get('mean', 0):>18,.1f}"
            f" {inc['alerts_per_incident'].get('median', 0):>7,.0f}"
            f" {inc['alerts_per_incident'].get('max', 0):>6,}",
        ]
        for label, a in (("Alertmanager, every alert", am), ("Alertmanager, critical+error", pg)):
            per = a["alerts_per_notification"]
            lines.append(
                f"  {label + ' (notifications)':<44} {a['notifications']:>6}"
                f" {per['mean']:>18,.1f} {per['median']:>7,.0f} {per['max']:>6,}"
            )
    lines += ["", "Targets"]
    for goal in summary["targets"]:
        verdict = "met" if goal["met"] else "NOT MET"
        lines.append(f"  {verdict:<8} {goal['target']}: p99 {goal['value_ms']:.0f} ms")
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer probes, smaller storm")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--runs", type=int, default=3, help="loaded runs of probes")
    parser.add_argument("--probes", type=int, default=35, help="probes per loaded run")
    parser.add_argument("--idle-probes", type=int, default=20, help="probes without load (0: none)")
    parser.add_argument("--load", type=float, default=0.5, help="background, share of sustained")
    parser.add_argument("--rate", type=float, help="background req/s (default: --load x wrk)")
    parser.add_argument("--wrk-seconds", type=int, default=5, help="sustained-rate wrk run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--step-ms", type=int, default=50, help="what-if assessment step")
    parser.add_argument("--whatif-probes", type=int, default=20, help="probes per what-if run")
    parser.add_argument("--whatif-storm", type=int, default=5000, help="reports, what-if replay")
    parser.add_argument("--storm", type=int, default=20_000, help="reports per grouping storm")
    parser.add_argument(
        "--storm-rates", default="200,10", help="reports per virtual second, one storm each"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-other", type=float, default=0.3, help="redo a run disturbed by more cores"
    )
    parser.add_argument("--retries", type=int, default=1, help="redos per case at most")
    parser.add_argument(
        "--quiet-wait", type=float, help="seconds to wait for a quiet machine (30; quick: 10)"
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("INCIDENTD_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/...)")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.probes, args.idle_probes, args.retries = 1, 20, 8, 0
        args.wrk_seconds, args.whatif_probes, args.whatif_storm = 3, 10, 3000
        args.storm, args.storm_rates = 10_000, "200"
    if args.quiet_wait is None:
        args.quiet_wait = 10.0 if args.quick else 30.0
    args.storm_rates = [float(r) for r in args.storm_rates.split(",") if r]
    args.sections = [s for s in args.sections.split(",") if s]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    return args


def _check_tools(args: argparse.Namespace) -> None:
    if {"latency", "whatif"} & set(args.sections):
        if shutil.which("wrk") is None:
            sys.exit("bench/declare.py: wrk not found; install it with: apt-get install wrk")
        try:
            redis.Redis.from_url(args.redis_url).ping()
        except redis.RedisError as exc:
            sys.exit(f"bench/declare.py: no Redis at {args.redis_url}: {exc}")


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    args = _parse_args(argv)
    _check_tools(args)
    began = datetime.now(UTC)
    info = describe(args.redis_url, {"wrk": ["wrk", "-v"]})
    info["assessment_steps_ms"] = current_steps()
    print(f"declaration benchmark {began:%Y-%m-%d %H:%M} UTC on {info['cores']} x {info['cpu']}")
    print(f"commit {info['commit']}, modified: {info['modified_in_incidentd'] or 'nothing'}")
    print(f"assessment steps (ms): {info['assessment_steps_ms']}")
    results: Json = {}
    with tempfile.TemporaryDirectory(prefix="incidentd-bench-declare-") as tmp:
        bench = Bench(args, Path(tmp))
        if "latency" in args.sections:
            results["latency"] = section_latency(args, bench)
        if "whatif" in args.sections:
            rate = results.get("latency", {}).get("background_rate")
            results["whatif"] = section_whatif(args, bench, rate)
    if "grouping" in args.sections:
        results["grouping"] = section_grouping(args)
    summary = summarize(results)
    print()
    print(render(summary))
    info["loadavg_at_end"] = os.getloadavg()
    record = {
        "date": began.isoformat(timespec="seconds"),
        "elapsed_s": round((datetime.now(UTC) - began).total_seconds()),
        "machine": info,
        "settings": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("out", "redis_url")
        },
        "summary": summary,
        "results": results,
    }
    out = args.out or HERE / "results" / f"declare-{began:%Y-%m-%d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"\nresults: {out} ({record['elapsed_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
