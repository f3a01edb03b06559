"""Engine benchmark: alerts/s of the correlation engine through replay, with the memory and the
Redis state store, and in the live daemon end to end; and how the cost per alert changes as
the open alerts and the service map grow.

    .venv/bin/python bench/engine.py            # full run, about 6-8 minutes
    .venv/bin/python bench/engine.py --quick    # 2 runs of smaller cases, about 2-3 minutes
    .venv/bin/python bench/engine.py --sections replay,flat --runs 3

Needs wrk (`apt-get install wrk`) for the live section, a Redis server for the Redis and live
sections (INCIDENTD_REDIS_URL, default redis://127.0.0.1:6379/0; only keys under prefixes of
its own are touched, then deleted), and py-spy in .venv for the sampling profile (optional).

Sections (`--sections`, default all of them):

- replay: storms (bench/engine_storm.py: new alerts, repeats, duplicates, resolves, re-fires;
  mapped and unmapped services) on config/example and on a generated config (1,000 services,
  bench/engine_config.py), as JSON Lines of normalized alerts and of raw Alertmanager webhook
  records (10 alerts per body); `incidentd.replay.replay()` in process, N runs each; the
  engine alone on the same, already parsed, alerts (what parsing costs is the difference);
  and the `incidentd replay` CLI once per file, for the record.
- engine: Engine.process in batches of 200 alerts (what the consumer does), each batch
  committed to the memory store, then to RedisState on a real Redis (MULTI/EXEC with the
  lease WATCHed): alerts/s including the commit, the engine's and the commit's share, and
  the Redis commands and Redis CPU per alert.
- live: `incidentd serve` (config/example, Redis queue and state) loaded over HTTP by wrk
  (bench/engine_post.lua: every body of a storm once, 64 connections) with Alertmanager
  notifications of 100 alerts and with one-alert generic bodies; alerts/s from the first post
  until the stream is empty and incidentd_engine_alerts_total has counted every alert posted
  (bench/engine_live.py). A fresh daemon and key prefix per run.
- flat: CPU microseconds per alert of Engine.process for a batch of new alerts and for a
  batch of churn (repeats, resolves, re-fires of open alerts), after preloading 1,000 /
  10,000 / 100,000 open alerts (generated config, 1,000 services), and with maps of 10 / 100
  / 1,000 / 10,000 services (1,000 open alerts preloaded).
- profile: py-spy and cProfile of replay (bench/engine_profile.py); files in --profile-dir.

Medians of N runs (`--runs`, 5; `--quick`: 2) with the min-max spread. Results, with the
machine, every run and the settings, go to bench/results/engine-<date>.json.
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
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import engine_config
import engine_live
import engine_measure as measure
import engine_profile
import engine_storm as storms
import redis
from bench_machine import describe, exit_on_sigterm
from ingest_cpu import wait_quiet

from incidentd.rules.loader import load

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SECTIONS = ("replay", "engine", "live", "flat", "profile")
GENERATED_SERVICES = 1000
TARGET_REPLAY = 50_000.0
TARGET_LIVE = 25_000.0

Json = dict[str, Any]


# -- inputs -------------------------------------------------------------------------------------


class Inputs:
    """The storms and configs every section draws from, generated once, deterministically."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.example = load(REPO / "config" / "example")
        gen_dir = engine_config.write_config(work / "generated", GENERATED_SERVICES)
        self.generated = load(gen_dir)
        self.configs = {"example": (REPO / "config" / "example", self.example)}
        self.configs["generated"] = (gen_dir, self.generated)
        self.catalogues = {
            "example": storms.example_catalogue(),
            "generated": storms.generated_catalogue(GENERATED_SERVICES),
        }
        self.storms = {
            name: storms.make_storm(args.storm, catalogue, seed=args.seed)
            for name, catalogue in self.catalogues.items()
        }
        self.alerts = {name: storms.to_alerts(storm) for name, storm in self.storms.items()}
        self.loads: list[engine_live.Load] = []
        self.replays: list[measure.ReplayInput] = []

    def replay_inputs(self) -> list[measure.ReplayInput]:
        """Each storm as normalized alerts and as Alertmanager records (written once)."""
        if self.replays:
            return self.replays
        out = self.replays
        for name, storm in self.storms.items():
            config, rules = self.configs[name]
            lines = {
                "normalized": storms.alert_lines(self.alerts[name]),
                "am-records": storms.webhook_records(storm, size=10),
            }
            for kind, found in lines.items():
                file = self.work / f"{name}-{kind}.jsonl"
                file.write_bytes(b"".join(found))
                label = f"{name}, {kind}"
                out.append(measure.ReplayInput(label, config, rules, found, file))
        return out


def _median(records: list[Json], key: str) -> float:
    return float(statistics.median(r[key] for r in records))


def _spread(records: list[Json], key: str) -> str:
    values = [r[key] for r in records]
    return f"[{min(values):,.0f}-{max(values):,.0f}]"


def _quiet(what: str, args: argparse.Namespace) -> Json:
    busy, waited = wait_quiet(max_busy=args.max_busy, timeout=args.quiet_timeout)
    note = f" (machine still busy: {busy:.2f} cores)" if busy > args.max_busy else ""
    print(f"\n== {what}{note}", flush=True)
    return {"busy_cores_before": round(busy, 2), "waited_s": round(waited, 1)}


def _runs(
    args: argparse.Namespace,
    once: Callable[[], Json],
    line: Callable[[Json], str],
    *,
    disturbed: Callable[[Json], bool] | None = None,
) -> list[Json]:
    """`args.runs` runs; a run that `disturbed` rejects is redone (up to `args.retries`
    redos per case) and kept in the list marked `discarded`."""
    out = []
    redos = 0
    for run in range(1, args.runs + 1):
        while True:
            record = {"run": run, **once()}
            redo = disturbed is not None and disturbed(record) and redos < args.retries
            record["discarded"] = redo
            note = "  (disturbed: redone)" if redo else ""
            print(f"  run {run}: {line(record)}{note}", flush=True)
            out.append(record)
            if not redo:
                break
            redos += 1
    return out


def _kept(records: list[Json]) -> list[Json]:
    return [r for r in records if not r.get("discarded")]


# -- sections -----------------------------------------------------------------------------------


def section_replay(args: argparse.Namespace, inputs: Inputs) -> Json:
    out: Json = {"machine": _quiet("replay (in process, memory)", args), "cases": []}
    for source in inputs.replay_inputs():
        print(f" {source.name}: {len(source.lines):,} lines")
        runs = _runs(
            args,
            partial(measure.replay_run, source),
            lambda r: (
                f"{r['alerts_per_s']:>9,.0f} alerts/s  ({r['alerts_per_cpu_s']:,.0f}"
                f" per CPU s, {r['groups']} groups)"
            ),
        )
        cli = measure.replay_cli(source)
        print(f"  CLI: {cli['summary']}; whole process {cli['process_seconds']:.2f} s")
        case = {"input": source.name, "runs": runs, "cli": cli}
        if source.name.endswith("normalized"):
            alerts = inputs.alerts[source.name.split(",")[0]]
            case["engine_only"] = _runs(
                args,
                partial(measure.engine_only, alerts, source.rules),
                lambda r: (
                    f"engine alone {r['alerts_per_s']:>9,.0f} alerts/s"
                    f" ({r['us_per_alert_cpu']:.1f} us CPU per alert)"
                ),
            )
            case["correlation_only"] = _runs(
                args,
                partial(measure.engine_only, alerts, source.rules, declare=False),
                lambda r: (
                    f"correlation alone {r['alerts_per_s']:>9,.0f} alerts/s"
                    f" ({r['us_per_alert_cpu']:.1f} us CPU per alert; no declaration stage)"
                ),
            )
        out["cases"].append(case)
    return out


def section_engine(args: argparse.Namespace, inputs: Inputs) -> Json:
    out: Json = {"machine": _quiet("engine + state store, batches of 200", args), "cases": []}
    for name, alerts in inputs.alerts.items():
        rules = inputs.configs[name][1]
        subset = alerts[: args.engine_alerts]
        for url in (None, args.redis_url):
            store = "redis" if url else "memory"
            print(f" {name}, {store}: {len(subset):,} alerts")
            runs = _runs(
                args,
                partial(measure.store_run, subset, rules, redis_url=url),
                _store_line,
            )
            out["cases"].append({"config": name, "store": store, "runs": runs})
    return out


def _store_line(r: Json) -> str:
    text = (
        f"{r['alerts_per_s']:>9,.0f} alerts/s  engine {r['us_per_alert_engine']:.1f} us"
        f" + commit {r['us_per_alert_commit']:.1f} us per alert"
    )
    if "redis_commands_per_alert" in r:
        text += (
            f"; {r['redis_commands_per_alert']:.2f} Redis commands and"
            f" {r['redis_cpu_cores']:.2f} Redis cores"
        )
    return text


def live_loads(args: argparse.Namespace, inputs: Inputs) -> list[engine_live.Load]:
    """Alertmanager notifications of 100 alerts, and one-alert generic bodies (written once)."""
    if inputs.loads:
        return inputs.loads
    catalogue = inputs.catalogues["example"]
    am = storms.make_storm(args.live_am, catalogue, seed=args.seed + 1)
    generic = storms.make_storm(args.live_generic, catalogue, seed=args.seed + 2)
    inputs.loads = [
        engine_live.Load(
            "alertmanager x100",
            "alertmanager",
            engine_live.write_bodies(inputs.work / "am100.jsonl", storms.am_bodies(am, size=100)),
            args.live_am,
            -(-args.live_am // 100),
        ),
        engine_live.Load(
            "generic x1",
            "generic",
            engine_live.write_bodies(
                inputs.work / "generic1.jsonl", storms.generic_bodies(generic)
            ),
            args.live_generic,
            args.live_generic,
        ),
    ]
    return inputs.loads


def section_live(args: argparse.Namespace, inputs: Inputs) -> Json:
    out: Json = {"machine": _quiet("live daemon end to end (Redis)", args), "cases": []}
    for posted in live_loads(args, inputs):
        print(f" {posted.name}: {posted.alerts:,} alerts in {posted.requests:,} requests")
        runs = _runs(
            args,
            partial(
                engine_live.run_once,
                posted,
                work=inputs.work,
                redis_url=args.redis_url,
                connections=args.connections,
            ),
            _live_line,
            disturbed=lambda r: bool(r["cpu"]["other"] > args.max_other),
        )
        out["cases"].append({"load": posted.name, "runs": runs})
    return out


def _live_line(r: Json) -> str:
    bad = sum(r["errors"].values()) + r["engine_failures"]
    flag = f"  ERRORS {r['errors']} engine failures {r['engine_failures']}" if bad else ""
    return (
        f"{r['alerts_per_s']:>8,.0f} alerts/s end to end ({r['end_to_end_s']:.2f} s; posting"
        f" {r['ingest_alerts_per_s']:,.0f} alerts/s for {r['sending_s']:.2f} s, drained"
        f" {r['drain_after_last_post_s']:.2f} s after the last answer; deepest queue"
        f" {r['deepest_queue_entries']} entries; CPU incidentd {r['cpu']['server']:.2f}"
        f" redis {r['cpu']['redis']:.2f} wrk {r['cpu']['loadgen']:.2f}"
        f" other {r['cpu']['other']:.2f}){flag}"
    )


def section_flat(args: argparse.Namespace, inputs: Inputs) -> Json:
    out: Json = {"machine": _quiet("flatness: cost per alert", args)}
    catalogue = inputs.catalogues["generated"]
    plain = engine_config.ruleset(GENERATED_SERVICES, topology=False)
    cases = []
    for size in args.open:
        base = measure.flat_case(
            f"{size:,} open", inputs.generated, catalogue, preload=size, batch=args.flat_batch
        )
        cases += [base, replace(base, label=f"{base.label}, no topology", rules=plain)]
    out["open_alerts"] = _flat_points(args, cases)
    cases = []
    for size in args.services:
        base = measure.flat_case(
            f"{size:,} services",
            engine_config.ruleset(size),
            storms.generated_catalogue(size),
            preload=1000,
            batch=args.flat_batch,
        )
        plain = engine_config.ruleset(size, topology=False)
        cases += [base, replace(base, label=f"{base.label}, no topology", rules=plain)]
        cases.append(
            measure.flat_case(
                f"{size:,} services, alerts on 10",
                base.rules,
                storms.generated_catalogue(size, only=10),
                preload=1000,
                batch=args.flat_batch,
            )
        )
    out["services"] = _flat_points(args, cases)
    return out


def _flat_points(args: argparse.Namespace, cases: list[measure.FlatCase]) -> list[Json]:
    points = []
    for case in cases:
        snapshot, preload_us = measure.preloaded(case)
        print(f" {case.label} (preload: {preload_us:.1f} us CPU per alert)")
        runs = _runs(
            args,
            partial(measure.flat_run, case, snapshot),
            lambda r: (
                f"new {r['us_per_new_alert']:.1f} us, churn {r['us_per_churn_alert']:.1f}"
                f" us per alert ({r['open_alerts']:,} open alerts,"
                f" {r['open_groups']:,} open groups, the one with most services:"
                f" {r['biggest_group_members']:,} members, {r['biggest_group_services']}"
                " services)"
            ),
        )
        points.append({"point": case.label, "preload_us_per_alert": preload_us, "runs": runs})
    return points


def section_profile(args: argparse.Namespace, inputs: Inputs) -> Json:
    out: Json = {"machine": _quiet("profile of replay", args)}
    folder = args.profile_dir
    folder.mkdir(parents=True, exist_ok=True)
    sources = [s for s in inputs.replay_inputs() if s.name.startswith("example")]
    out["py_spy"] = [engine_profile.py_spy(source, folder) for source in sources]
    out["cprofile"] = [engine_profile.c_profile(source, folder) for source in sources]
    if shutil.which("wrk") is not None:
        am = live_loads(args, inputs)[0]
        out["live"] = engine_profile.live(
            am, folder, work=inputs.work, redis_url=args.redis_url, connections=args.connections
        )
    for found in out["py_spy"]:
        if found:
            print(f" py-spy, {found['input']}: own time (library calls included)")
            for function, share in list(found["own"].items())[:12]:
                print(f"   {share:6.1%}  {function}")
    if out.get("live"):
        found = out["live"]
        print(f" py-spy, live daemon, {found['input']}: own time (library calls included)")
        for function, share in list(found["own"].items())[:15]:
            print(f"   {share:6.1%}  {function}")
    for found in out["cprofile"]:
        print(f" cProfile, {found['input']}: own time, calls")
        for row in found["top_by_own_time"][:12]:
            print(f"   {row['own_share']:6.1%}  {row['calls']:>9,}  {row['function']}")
    print(f" profiles: {folder}")
    return out


# -- report -------------------------------------------------------------------------------------


def summarize(results: Json) -> Json:
    """Medians per case, and the targets."""
    summary: Json = {}
    if "replay" in results:
        summary["replay"] = {
            c["input"]: {
                "alerts_per_s": _median(c["runs"], "alerts_per_s"),
                "spread": _spread(c["runs"], "alerts_per_s"),
                "alerts_per_cpu_s": _median(c["runs"], "alerts_per_cpu_s"),
                "cli_alerts_per_s": c["cli"]["reported_alerts_per_s"],
                **(
                    {"engine_only_alerts_per_s": _median(c["engine_only"], "alerts_per_s")}
                    if "engine_only" in c
                    else {}
                ),
                **(
                    {
                        "correlation_only_alerts_per_s": _median(
                            c["correlation_only"], "alerts_per_s"
                        )
                    }
                    if "correlation_only" in c
                    else {}
                ),
            }
            for c in results["replay"]["cases"]
        }
    if "engine" in results:
        summary["engine"] = {
            f"{c['config']}, {c['store']}": _store_summary(c["runs"])
            for c in results["engine"]["cases"]
        }
    if "live" in results:
        summary["live"] = {
            c["load"]: _live_summary(_kept(c["runs"])) for c in results["live"]["cases"]
        }
    if "flat" in results:
        summary["flat"] = {
            curve: [_flat_point(p) for p in results["flat"][curve]]
            for curve in ("open_alerts", "services")
        }
    summary["targets"] = targets(summary)
    return summary


def _store_summary(runs: list[Json]) -> Json:
    out: Json = {k: _median(runs, k) for k, v in runs[0].items() if isinstance(v, float)}
    out["spread"] = _spread(runs, "alerts_per_s")
    if "redis_commands_per_alert" in out:
        # Redis may be shared: other clients' commands only add, so the least is the closest
        out["redis_commands_per_alert"] = min(r["redis_commands_per_alert"] for r in runs)
    return out


def _live_summary(runs: list[Json]) -> Json:
    return {
        "alerts_per_s": _median(runs, "alerts_per_s"),
        "spread": _spread(runs, "alerts_per_s"),
        "ingest_alerts_per_s": _median(runs, "ingest_alerts_per_s"),
        "drain_after_last_post_s": _median(runs, "drain_after_last_post_s"),
        "incidentd_cpu": float(statistics.median(r["cpu"]["server"] for r in runs)),
        "other_cpu": float(statistics.median(r["cpu"]["other"] for r in runs)),
        "failed": sum(sum(r["errors"].values()) + r["engine_failures"] for r in runs),
    }


def _flat_point(point: Json) -> Json:
    runs = point["runs"]
    last = runs[-1]
    return {
        "point": point["point"],
        "preload_us_per_alert": point["preload_us_per_alert"],
        "us_per_new_alert": _median(runs, "us_per_new_alert"),
        "us_per_churn_alert": _median(runs, "us_per_churn_alert"),
        "new_min_max": [
            min(r["us_per_new_alert"] for r in runs),
            max(r["us_per_new_alert"] for r in runs),
        ],
        "open_alerts": last["open_alerts"],
        "open_groups": last["open_groups"],
        "biggest_group_members": last["biggest_group_members"],
        "biggest_group_services": last["biggest_group_services"],
    }


def targets(summary: Json) -> list[Json]:
    out = []
    for name, entry in summary.get("replay", {}).items():
        if name.startswith("example"):
            value = entry["alerts_per_s"]
            goal = f"replay ({name}) >= {TARGET_REPLAY:,.0f} alerts/s"
            out.append({"target": goal, "value": value, "met": value >= TARGET_REPLAY})
    for name, entry in summary.get("live", {}).items():
        value = entry["alerts_per_s"]
        goal = f"live daemon with Redis ({name}) >= {TARGET_LIVE:,.0f} alerts/s end to end"
        out.append({"target": goal, "value": value, "met": value >= TARGET_LIVE})
    return out


def _render_replay(summary: Json) -> list[str]:
    lines = ["Replay, in process (memory): median alerts/s [min-max], per CPU second, CLI"]
    for name, e in summary["replay"].items():
        alone = e.get("engine_only_alerts_per_s")
        floor = e.get("correlation_only_alerts_per_s")
        lines.append(
            f"  {name:<26} {e['alerts_per_s']:>8,.0f} {e['spread']:>17}"
            f"  cpu {e['alerts_per_cpu_s']:>8,.0f}  CLI {e['cli_alerts_per_s']:>8,.0f}"
            + (f"  engine alone {alone:,.0f}" if alone else "")
            + (f"  correlation alone {floor:,.0f}" if floor else "")
        )
    return lines


def _render_engine(summary: Json) -> list[str]:
    lines = ["", "Engine + store, batches of 200: alerts/s [min-max], us per alert"]
    for name, e in summary["engine"].items():
        redis_part = (
            f"  {e['redis_commands_per_alert']:.2f} cmds/alert (least)"
            if "redis_commands_per_alert" in e
            else ""
        )
        lines.append(
            f"  {name:<20} {e['alerts_per_s']:>8,.0f} {e['spread']:>17}"
            f"  engine {e['us_per_alert_engine']:6.1f}  commit {e['us_per_alert_commit']:6.1f}"
            + redis_part
        )
    return lines


def _render_live(summary: Json) -> list[str]:
    lines = ["", "Live daemon with Redis, end to end: alerts/s [min-max]"]
    for name, e in summary["live"].items():
        lines.append(
            f"  {name:<20} {e['alerts_per_s']:>8,.0f} {e['spread']:>17}  posting at"
            f" {e['ingest_alerts_per_s']:,.0f}/s, drain after last post"
            f" {e['drain_after_last_post_s']:.2f} s, incidentd CPU {e['incidentd_cpu']:.2f}"
            f"{'  FAILURES ' + str(e['failed']) if e['failed'] else ''}"
        )
    return lines


def _render_flat(summary: Json) -> list[str]:
    lines = []
    for curve, title in (("open_alerts", "open alerts"), ("services", "services in the map")):
        lines += ["", f"Cost per alert (us CPU, median) as {title} grow"]
        lines.append(
            f"  {'':32} {'new':>7} {'churn':>7} {'preload':>8} {'open groups':>12}"
            f" {'services in the biggest':>24}"
        )
        for p in summary["flat"][curve]:
            lines.append(
                f"  {p['point']:<32} {p['us_per_new_alert']:7.1f}"
                f" {p['us_per_churn_alert']:7.1f} {p['preload_us_per_alert']:8.1f}"
                f" {p['open_groups']:>12,} {p['biggest_group_services']:>24,}"
            )
    return lines


def render(summary: Json) -> str:
    renderers = {
        "replay": _render_replay,
        "engine": _render_engine,
        "live": _render_live,
        "flat": _render_flat,
    }
    lines: list[str] = []
    for section, renderer in renderers.items():
        if section in summary:
            lines += renderer(summary)
    lines += ["", "Targets"]
    for goal in summary["targets"]:
        verdict = "met" if goal["met"] else "NOT MET"
        lines.append(f"  {verdict:<8} {goal['target']}: {goal['value']:,.0f}")
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each case (median)")
    parser.add_argument("--quick", action="store_true", help="2 runs, smaller cases")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--storm", type=int, default=20_000, help="alerts per replay storm")
    parser.add_argument("--engine-alerts", type=int, default=10_000, help="alerts, engine section")
    parser.add_argument("--live-am", type=int, default=40_000, help="alerts in 100-alert bodies")
    parser.add_argument("--live-generic", type=int, default=10_000, help="one-alert bodies")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--open", default="1000,10000,100000", help="preloaded open alerts")
    parser.add_argument("--services", default="10,100,1000,10000", help="services in the map")
    parser.add_argument("--flat-batch", type=int, default=2000, help="alerts timed per point")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-busy", type=float, default=0.5, help="cores busy = not quiet")
    parser.add_argument(
        "--max-other",
        type=float,
        default=0.5,
        help="redo a live run during which other processes used more cores than this",
    )
    parser.add_argument("--retries", type=int, default=2, help="redos per live case at most")
    parser.add_argument("--quiet-timeout", type=float, default=10.0, help="seconds to wait")
    parser.add_argument(
        "--redis-url", default=os.environ.get("INCIDENTD_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/...)")
    parser.add_argument("--profile-dir", type=Path, default=HERE / "results" / "engine-profile")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 2
        args.storm, args.engine_alerts = 10_000, 5_000
        args.live_am, args.live_generic = 20_000, 4_000
    args.sections = [s for s in args.sections.split(",") if s]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    args.open = [int(s) for s in args.open.split(",")]
    args.services = [int(s) for s in args.services.split(",")]
    return args


def _check_tools(args: argparse.Namespace) -> None:
    if "live" in args.sections and shutil.which("wrk") is None:
        sys.exit("bench/engine.py: wrk not found; install it with: apt-get install wrk")
    if {"live", "engine"} & set(args.sections):
        try:
            redis.Redis.from_url(args.redis_url).ping()
        except redis.RedisError as exc:
            sys.exit(f"bench/engine.py: no Redis at {args.redis_url}: {exc}")


SECTION_RUNNERS: dict[str, Callable[[argparse.Namespace, Inputs], Json]] = {
    "replay": section_replay,
    "engine": section_engine,
    "live": section_live,
    "flat": section_flat,
    "profile": section_profile,
}


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    args = _parse_args(argv)
    _check_tools(args)
    began = datetime.now(UTC)
    info = describe(args.redis_url, {"wrk": ["wrk", "-v"]})
    print(f"engine benchmark {began:%Y-%m-%d %H:%M} UTC on {info['cores']} x {info['cpu']}")
    print(f"commit {info['commit']}, modified: {info['modified_in_incidentd'] or 'nothing'}")
    results: Json = {}
    with tempfile.TemporaryDirectory(prefix="incidentd-bench-engine-") as tmp:
        inputs = Inputs(args, Path(tmp))
        print(
            f"storms: {args.storm:,} reports each, "
            + ", ".join(f"{name} {storm.counts()}" for name, storm in inputs.storms.items())
        )
        for section in args.sections:
            results[section] = SECTION_RUNNERS[section](args, inputs)
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
    out = args.out or HERE / "results" / f"engine-{began:%Y-%m-%d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"\nresults: {out} ({record['elapsed_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
