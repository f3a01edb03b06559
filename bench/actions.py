"""Actions benchmark: from a declaration to the first page at PagerDuty, and the outbox's
sustained rate.

    .venv/bin/python bench/actions.py                 # full run, about 3 minutes
    .venv/bin/python bench/actions.py --quick         # about 1 minute
    .venv/bin/python bench/actions.py --sections latency --stores memory

A fake PagerDuty (bench/actions_fake.py: tests/fakes/pagerduty.py served in its own process)
stamps each event with this machine's wall clock when it arrives.

Sections:

- latency: `incidentd serve` (config/example plus a PagerDuty target and a route that pages
  every declaration), memory store and Redis store. `--incidents` declarations by hand
  (`POST /api/v1/incidents`), one every `1/--rate` s, while this process posts background
  alerts (`--load` one-alert generic webhooks a second, warnings on 20 services of the map
  that are never declared) unless `--load 0`. For each incident: `lag` = the trigger's
  arrival at the fake minus the incident's `declared_at` (the engine's clock at the commit
  that declared it, the same wall clock). p50, p90, p99, max per run; the median of the runs.
- throughput: the outbox workers alone, in this process (`Dispatcher`, the daemon's code):
  `--actions` declarations committed at once (one PagerDuty action each), then the time until
  the fake has received them all: actions a second. Baseline in the same run: a bare aiohttp
  client posting the same number of PagerDuty events to the same fake with the same
  concurrency (`outbox.concurrency`, 16). Memory and Redis outboxes.

Results: bench/results/actions-<date>.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from incidentd.act.dispatch import Dispatcher  # noqa: E402
from incidentd.act.outbox import MemoryOutbox  # noqa: E402
from incidentd.act.plan import plan_batch  # noqa: E402
from incidentd.clock import SystemClock  # noqa: E402
from incidentd.declare.declarer import Command  # noqa: E402
from incidentd.declare.timeline import person  # noqa: E402
from incidentd.engine import Engine  # noqa: E402
from incidentd.log import configure  # noqa: E402
from incidentd.model import Priority  # noqa: E402
from incidentd.rules.loader import load  # noqa: E402
from incidentd.rules.reload import RulesHandle  # noqa: E402
from incidentd.store.base import StateStore  # noqa: E402
from incidentd.store.memory_state import MemoryState  # noqa: E402
from incidentd.store.redis_outbox import RedisOutbox  # noqa: E402
from incidentd.store.redis_state import RedisState  # noqa: E402

EXAMPLE = ROOT / "config" / "example"
TOKEN = "change-me-local-dev-token"  # noqa: S105 (config/example/api.yaml's)
PD_KEY = "BENCHR0UTINGKEY0123456789ABCDEF0"
SERVE = (sys.executable, "-m", "incidentd", "serve")
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
Json = dict[str, Any]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


async def answering(http: aiohttp.ClientSession, url: str, what: str, *, tries: int) -> None:
    """Poll `url` every 50 ms until it answers 200 (`tries` times at most)."""
    for _ in range(tries):
        try:
            async with http.get(url) as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{what} did not become ready")


class Fake:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "actions_fake.py"), str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def ready(self, http: aiohttp.ClientSession) -> None:
        await answering(http, self.url + "/_received", "the fake PagerDuty", tries=100)

    async def received(self, http: aiohttp.ClientSession) -> list[tuple[str, str, float]]:
        async with http.get(self.url + "/_received") as r:
            return [tuple(x) for x in await r.json()]  # type: ignore[misc]

    async def reset(self, http: aiohttp.ClientSession) -> None:
        async with http.post(self.url + "/_reset") as r:
            r.raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def write_config(where: Path, fake_url: str, concurrency: int = 16) -> Path:
    config = where / "config"
    shutil.copytree(EXAMPLE, config)
    (config / "targets.yaml").write_text(
        "targets:\n"
        "  pagerduty:\n"
        "    type: pagerduty\n"
        f"    routing_key: {PD_KEY}\n"
        f"    base_url: {fake_url}\n"
    )
    (config / "routing.yaml").write_text(
        "routes:\n"
        "  - name: page\n"
        "    events: [declared]\n"
        "    targets: [pagerduty]\n"
        f"outbox:\n  concurrency: {concurrency}\n"
    )
    return config


# --- latency ---------------------------------------------------------------------------------


class Daemon:
    def __init__(self, config: Path, log: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTD_")}
        full |= {"INCIDENTD_LOG_LEVEL": "warning", **env}
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [*SERVE, "--config", str(config), "--port", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=full,
        )

    async def ready(self, http: aiohttp.ClientSession) -> None:
        await answering(http, self.url + "/readyz", "the daemon", tries=200)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


NOISE_SERVICES = ["search", "recommendations", "email", "catalog-db", "inventory"]


async def background(
    http: aiohttp.ClientSession, url: str, rate: float, stop: asyncio.Event
) -> int:
    """Open loop: `rate` one-alert webhooks a second (warnings repeating on 20 alerts)."""
    if rate <= 0:
        return 0
    sent = 0
    started = time.perf_counter()
    while not stop.is_set():
        due = started + sent / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        n = sent % 20
        body = {
            "name": f"BenchNoise{n}",
            "severity": "warning",
            "service": NOISE_SERVICES[n % len(NOISE_SERVICES)],
            "labels": {"instance": f"noise-{n}"},
        }
        asyncio.get_running_loop().create_task(_post(http, url + "/webhooks/generic", body))
        sent += 1
    return sent


async def _post(http: aiohttp.ClientSession, url: str, body: Json) -> None:
    try:
        async with http.post(url, json=body) as r:
            await r.read()
    except aiohttp.ClientError:
        pass


async def _declare(http: aiohttp.ClientSession, url: str, args: argparse.Namespace) -> list[str]:
    """`--incidents` declarations by hand at `--rate` a second; their ids."""
    ids: list[str] = []
    started = time.perf_counter()
    for i in range(args.incidents):
        delay = started + i / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        body = {"title": f"bench {i}", "priority": "P1", "services": ["orders-db"]}
        async with http.post(url + "/api/v1/incidents", json=body, headers=HEADERS) as r:
            if r.status != 201:
                raise RuntimeError(f"declare: {r.status} {await r.text()}")
            ids.append((await r.json())["id"])
    return ids


async def _arrivals(http: aiohttp.ClientSession, fake: Fake, ids: list[str]) -> dict[str, float]:
    """When each incident's first trigger reached the fake (waiting up to 30 s for all)."""
    deadline = time.monotonic() + 30
    arrived: dict[str, float] = {}
    while time.monotonic() < deadline:
        arrived = {}
        for key, action, at in await fake.received(http):
            if action == "trigger" and key not in arrived:
                arrived[key] = at
        if all(i in arrived for i in ids):
            break
        await asyncio.sleep(0.2)
    return arrived


async def latency_run(args: argparse.Namespace, store: str, fake: Fake, work: Path) -> Json:
    env: dict[str, str] = {}
    prefix = None
    if store == "redis":
        prefix = f"bench-actions-{uuid.uuid4().hex[:8]}"
        env = {"INCIDENTD_REDIS_URL": args.redis_url, "INCIDENTD_REDIS_PREFIX": prefix}
    config = write_config(work / f"{store}-{uuid.uuid4().hex[:6]}", fake.url)
    daemon = Daemon(config, work / f"daemon-{store}.log", env)
    lags: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            await fake.ready(http)
            await fake.reset(http)
            await daemon.ready(http)
            stop = asyncio.Event()
            noise = asyncio.create_task(background(http, daemon.url, args.load, stop))
            await asyncio.sleep(1.0)  # the load settles
            ids = await _declare(http, daemon.url, args)
            arrived = await _arrivals(http, fake, ids)
            stop.set()
            sent_noise = await noise
            for incident_id in ids:
                url = f"{daemon.url}/api/v1/incidents/{incident_id}"
                async with http.get(url, headers=HEADERS) as r:
                    declared = datetime.fromisoformat((await r.json())["declared_at"])
                if incident_id in arrived:
                    lags.append((arrived[incident_id] - declared.timestamp()) * 1000)
    finally:
        daemon.stop()
        if prefix is not None:
            _drop_prefix(args.redis_url, prefix)
    return {
        "store": store,
        "incidents": len(ids),
        "paged": len(lags),
        "background_alerts": sent_noise,
        "p50_ms": percentile(lags, 50),
        "p90_ms": percentile(lags, 90),
        "p99_ms": percentile(lags, 99),
        "max_ms": max(lags) if lags else float("nan"),
    }


def _drop_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match="{" + prefix + "}:*", count=1000):
        client.delete(key)
    client.close()


# --- throughput ------------------------------------------------------------------------------


async def throughput_run(args: argparse.Namespace, store: str, fake: Fake, work: Path) -> Json:
    config = write_config(work / f"tp-{store}-{uuid.uuid4().hex[:6]}", fake.url)
    rules = load(config, env={})
    prefix = f"bench-actions-{uuid.uuid4().hex[:8]}"
    state: StateStore
    if store == "memory":
        outbox: Any = MemoryOutbox()
        state = MemoryState(outbox)
    else:
        outbox = RedisOutbox.from_url(args.redis_url, prefix=prefix)
        state = RedisState.from_url(args.redis_url, prefix=prefix)
    engine = Engine()
    now = datetime.now(UTC)
    for i in range(args.actions):
        cmd = Command(
            "",
            "declare",
            person("bench"),
            title=f"bench {i}",
            priority=Priority.P1,
            services=("orders-db",),
        )
        engine.command(cmd, rules=rules, now=now)
    changes = engine.take_changes()
    actions = plan_batch(
        changes.incidents.entries,
        engine.state.declare.incidents,
        rules,
        now=now,
    )
    if not await state.acquire("bench", ttl_ms=600_000):
        raise RuntimeError("the bench's own Redis prefix is leased: another run?")
    await state.commit("bench", changes, [], actions)
    dispatcher = Dispatcher(
        outbox=outbox,
        state=state,
        commands=_NoCommands(),
        rules=RulesHandle(rules),
        clock=SystemClock(),
        name="bench",
    )
    async with aiohttp.ClientSession() as http:
        await fake.ready(http)
        await fake.reset(http)
        started = time.perf_counter()
        task = asyncio.create_task(dispatcher.run())
        while True:
            got = await fake.received(http)
            if len(got) >= len(actions):
                break
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        dispatcher.stopping.set()
        await task
        outbox_rate = len(actions) / elapsed
        await fake.reset(http)
        bare = await _bare(http, fake.url, len(actions), rules.routing.outbox.concurrency)
    await outbox.close()
    await state.close()
    if store == "redis":
        _drop_prefix(args.redis_url, prefix)
    return {
        "store": store,
        "actions": len(actions),
        "outbox_per_s": outbox_rate,
        "bare_per_s": bare,
        "ratio": outbox_rate / bare,
    }


class _NoCommands:
    """The outcomes' timeline lines go nowhere here (no engine runs in this process)."""

    async def post(self, command: Command, command_id: str) -> None:
        return None


async def _bare(http: aiohttp.ClientSession, url: str, count: int, concurrency: int) -> float:
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            body = {
                "routing_key": PD_KEY,
                "event_action": "trigger",
                "dedup_key": f"BARE-{i}",
                "payload": {"summary": f"bare {i}", "source": "bench", "severity": "critical"},
            }
            async with http.post(url + "/v2/enqueue", json=body) as r:
                await r.read()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


# --- main ------------------------------------------------------------------------------------


def summarize(runs: list[Json], keys: list[str]) -> Json:
    return {k: statistics.median(r[k] for r in runs) for k in keys}


async def main_async(args: argparse.Namespace) -> Json:
    fake = Fake()
    results: Json = {"args": vars(args), "latency": {}, "throughput": {}}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for store in args.stores:
                if "latency" in args.sections:
                    runs = [await latency_run(args, store, fake, work) for _ in range(args.runs)]
                    results["latency"][store] = {
                        "runs": runs,
                        "median": summarize(runs, ["p50_ms", "p90_ms", "p99_ms", "max_ms"]),
                    }
                    print(store, "latency", results["latency"][store]["median"], flush=True)
                if "throughput" in args.sections:
                    runs = [await throughput_run(args, store, fake, work) for _ in range(args.runs)]
                    results["throughput"][store] = {
                        "runs": runs,
                        "median": summarize(runs, ["outbox_per_s", "bare_per_s", "ratio"]),
                    }
                    print(store, "throughput", results["throughput"][store]["median"], flush=True)
    finally:
        fake.stop()
    return results


def render(results: Json) -> str:
    lines = ["| store | p50 ms | p90 ms | p99 ms | max ms |", "|---|---|---|---|---|"]
    for store, found in results["latency"].items():
        m = found["median"]
        lines.append(
            f"| {store} | {m['p50_ms']:.1f} | {m['p90_ms']:.1f} | {m['p99_ms']:.1f} "
            f"| {m['max_ms']:.1f} |"
        )
    lines += ["", "| store | outbox actions/s | bare client/s | ratio |", "|---|---|---|---|"]
    for store, found in results["throughput"].items():
        m = found["median"]
        lines.append(
            f"| {store} | {m['outbox_per_s']:.0f} | {m['bare_per_s']:.0f} | {m['ratio']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sections", nargs="+", default=["latency", "throughput"])
    p.add_argument("--stores", nargs="+", default=["memory", "redis"])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--incidents", type=int, default=200)
    p.add_argument("--rate", type=float, default=10.0, help="declarations a second")
    p.add_argument("--load", type=float, default=500.0, help="background webhooks a second")
    p.add_argument("--actions", type=int, default=2000)
    p.add_argument(
        "--redis-url",
        default=os.environ.get("INCIDENTD_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    p.add_argument("--quick", action="store_true", help="fewer incidents and actions, 1 run")
    args = p.parse_args(argv)
    if args.quick:
        args.runs, args.incidents, args.actions = 1, 60, 500
    configure(level="warning", fmt="console")
    results = asyncio.run(main_async(args))
    results["date"] = datetime.now(UTC).isoformat()
    out = ROOT / "bench" / "results" / f"actions-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(render(results))
    print(f"\nresults: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
