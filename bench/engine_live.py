"""The live daemon end to end: `incidentd serve` with Redis, loaded over HTTP, timed until the
engine has drained the queue.

One run: a fresh daemon (bench/ingest_servers.py's `Incidentd`: config/example, the Redis queue and
state under a key prefix of its own, log level warning, a high-water mark the run never
reaches) is started; wrk (one thread, C connections, bench/engine_post.lua) posts every body
of a file once, in order, as fast as the daemon answers; meanwhile the daemon's consumer
reads the stream, runs the engine and commits to Redis. The run ends when the stream is
empty (XLEN 0: acknowledged entries are deleted) and `incidentd_engine_alerts_total` on
/metrics has reached the number of alerts posted. End to end = from the first post to
then. The daemon is stopped and every key under its prefix deleted; each run starts afresh.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest_cpu import CpuMeter
from ingest_servers import Incidentd

from incidentd.store.keys import Keys

HERE = Path(__file__).resolve().parent
LUA = HERE / "engine_post.lua"
POLL = 0.02
"""Seconds between two looks at the stream length while waiting for the drain."""
_METRIC = re.compile(rb"^incidentd_engine_alerts_total (\S+)$", re.MULTILINE)
_FAILURES = re.compile(rb"^incidentd_engine_failures_total (\S+)$", re.MULTILINE)
_LEADER = re.compile(rb"^incidentd_engine_leader (\S+)$", re.MULTILINE)
START_TIMEOUT = 20.0
STALL_TIMEOUT = 60.0
"""A run fails when, after the last post, the stream length has not changed for this long."""

Json = dict[str, Any]


class EngineDaemon(Incidentd):
    """`incidentd serve` as the ingest benchmark runs it, under a `bench-engine-` prefix, with
    the engine on (the default) and a URL per source."""

    def __init__(self, work: Path, *, redis_url: str) -> None:
        super().__init__(work, redis_url=redis_url, engine=True)
        self.prefix = f"bench-engine-{os.getpid()}-{secrets.token_hex(3)}"
        self.keys = Keys(self.prefix)

    def start(self) -> None:
        """Start, then wait until the engine leads (holds the lease): a run must not start
        against a daemon whose consumer is not consuming."""
        super().start()
        deadline = time.monotonic() + START_TIMEOUT
        while self.engine_leader() != 1.0:
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the daemon's engine did not start; log {self.log}")
            time.sleep(0.05)

    def source_url(self, source: str) -> str:
        return f"{self.base}/webhooks/{source}"

    def reset(self) -> int:
        raise NotImplementedError("the engine consumes the stream: never delete it under it")

    def depth(self) -> int:
        return int(self.redis.xlen(self.keys.alerts))

    def _metric(self, pattern: re.Pattern[bytes], text: bytes | None = None) -> float:
        if text is None:
            with urllib.request.urlopen(self.base + "/metrics", timeout=5) as resp:  # noqa: S310
                text = resp.read()
        found = pattern.search(text)
        return float(found.group(1)) if found else 0.0

    def engine_leader(self) -> float:
        return self._metric(_LEADER)

    def engine_counters(self) -> tuple[float, float]:
        """(alerts run through the engine, failed engine rounds), from /metrics."""
        with urllib.request.urlopen(self.base + "/metrics", timeout=5) as resp:  # noqa: S310
            text = resp.read()
        return self._metric(_METRIC, text), self._metric(_FAILURES, text)


@dataclass(frozen=True, slots=True)
class Load:
    name: str
    """What is posted, e.g. `alertmanager x100`."""
    source: str
    bodies: Path
    """JSON Lines, one request body per line."""
    alerts: int
    """Alerts in all the bodies together."""
    requests: int


def write_bodies(path: Path, bodies: list[bytes]) -> Path:
    with path.open("wb") as out:
        for body in bodies:
            out.write(body + b"\n")
    return path


class _Wrk:
    """wrk in the background, its output read line by line as it comes (`stdbuf -oL`):
    `started` is when it printed "Running" (its connections start right then), `finished`
    when the last body had its answer (engine_post.lua prints WRK_DONE); wrk is then
    interrupted, since its main thread would sleep for the whole -d."""

    def __init__(self, url: str, bodies: Path, *, connections: int) -> None:
        argv = ["stdbuf", "-oL", "wrk", "-t1", f"-c{connections}", "-d3600s", "--latency"]
        self.proc = subprocess.Popen(
            [*argv, "-s", str(LUA), url, "--", str(bodies)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started: float | None = None
        self.finished: float | None = None
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None  # noqa: S101 (stdout=PIPE)
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("Running") and self.started is None:
                self.started = time.monotonic()
            elif line.startswith("WRK_DONE"):
                self.finished = time.monotonic()
                self.proc.send_signal(signal.SIGINT)
        self.proc.wait()

    def result(self) -> tuple[Json, float, float]:
        """wrk's summary, when it started and when the last body had its answer."""
        self._thread.join(timeout=30)
        out = "".join(self.lines)
        match = re.search(r"^WRK_JSON (.*)$", out, re.MULTILINE)
        if match is None or self.started is None or self.finished is None:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"wrk failed ({self.proc.returncode}): {err or out}")
        found: Json = json.loads(match.group(1))
        return found, self.started, self.finished

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _drain(daemon: EngineDaemon, wrk: _Wrk, expected: int) -> tuple[float, int, float]:
    """Wait until wrk is done, the stream is empty and the engine counted `expected` alerts.
    Returns (when, the deepest the stream was seen, the engine's alert count). Fails when the
    stream length stays the same for STALL_TIMEOUT seconds after the last post."""
    deepest = last = 0
    changed = time.monotonic()
    while True:
        depth = daemon.depth()
        now = time.monotonic()
        if depth != last or wrk.finished is None:
            changed, last = now, depth
        deepest = max(deepest, depth)
        if wrk.finished is not None and depth == 0:
            counted, _ = daemon.engine_counters()
            if counted >= expected:
                return now, deepest, counted
        if now - changed > STALL_TIMEOUT:
            counted, _ = daemon.engine_counters()
            raise RuntimeError(
                f"no progress: {depth} entries queued, {counted:.0f} of {expected} alerts"
                f" through the engine; log {daemon.log}"
            )
        time.sleep(POLL)


def _sampler(py_spy: str, pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy on the daemon (100 Hz, threads holding the GIL), until it gets SIGINT."""
    argv = [py_spy, "record", "-p", str(pid), "-r", "100", "--gil", "-f", "raw", "-o", str(out)]
    sampler = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let py-spy attach before the load starts
    return sampler


def _stop_sampler(sampler: subprocess.Popen[bytes] | None) -> None:
    if sampler is None:
        return
    sampler.send_signal(signal.SIGINT)
    try:
        sampler.wait(timeout=30)
    except subprocess.TimeoutExpired:
        sampler.kill()
        sampler.wait()


def run_once(
    load: Load,
    *,
    work: Path,
    redis_url: str,
    connections: int,
    profile: tuple[str, Path] | None = None,
) -> Json:
    """One end-to-end run on a fresh daemon; returns its record. `profile`: (py-spy, output
    file) to sample the daemon during the run (the rate is then not a measurement)."""
    daemon = EngineDaemon(work, redis_url=redis_url)
    daemon.start()
    wrk: _Wrk | None = None
    sampler = None
    try:
        if profile is not None:
            sampler = _sampler(profile[0], daemon.pid, profile[1])
        meter = CpuMeter(daemon.pid, daemon.redis)
        wrk = _Wrk(daemon.source_url(load.source), load.bodies, connections=connections)
        drained, deepest, counted = _drain(daemon, wrk, load.alerts)
        posted, started, finished = wrk.result()
        cpu = meter.stop()
        _, failures = daemon.engine_counters()
    finally:
        _stop_sampler(sampler)
        if wrk is not None:
            wrk.kill()
        daemon.stop()
    sending = finished - started
    seconds = drained - started
    return {
        "load": load.name,
        "alerts": load.alerts,
        "requests": load.requests,
        "engine_alerts": counted,
        "engine_failures": failures,
        "errors": posted["errors"],
        "sending_s": round(sending, 3),
        "end_to_end_s": round(seconds, 3),
        "drain_after_last_post_s": round(drained - finished, 3),
        "alerts_per_s": load.alerts / seconds,
        "ingest_alerts_per_s": load.alerts / sending,
        "deepest_queue_entries": deepest,
        "p99_ms": posted["latency_us"]["p99"] / 1000,
        "cpu": cpu,
    }
