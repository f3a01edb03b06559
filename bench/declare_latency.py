"""Decision latency on the live daemon: from the webhook that makes a group declarable to the
incident stored in Redis.

The daemon: `incidentd serve` with the engine on, Redis queue and state under a key prefix
of its own (bench/engine_live.py's `EngineDaemon`, started on the config of
bench/declare_config.py). A probe is one generic webhook with one critical alert on a probe
service never used before: its group is declarable at once (P2, sustain 0). For each probe:

- `sent`, `answered`: when the POST went out and when its 202 was read (this process's
  wall clock, `time.time()`: the daemon stamps `received_at` with the same clock);
- `received_at`: the alert's first report as the daemon stamped it (`first_seen` of the
  alert's state in `{prefix}:state:alerts`);
- `declared_at`: the incident's declaration time (the assessment instant, event time);
- `stored`: when the incident appeared in Redis. A thread of this process blocks on the
  decisions stream (`XREAD BLOCK` on `{prefix}:decisions`), which the engine writes in the
  same MULTI/EXEC as `{prefix}:incidents` and `{prefix}:incidents:by_number`
  (store/redis_state.py), and reads the sorted set each time it wakes: an incident is seen
  within a fraction of a millisecond of its commit. It also wakes every 20 ms without an
  entry and looks again (`seen_via` "poll": the commit landed between the timeout and the
  look). As a check, the id of the stream entry that carries the `incident.declare`
  decision is Redis's clock at the commit (ms): `seen_after_commit` = stored minus that.

Background load: bench/ingest_paced.py (open loop, fixed rate) in a child process, posting
one-alert generic bodies that repeat 20 warnings on a low-criticality service (P5: never
declared; repeats, so they do not count towards the storm rate). Disturbance: CpuMeter
(bench/ingest_cpu.py) over the run, this process's own CPU taken out of `other`.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import resource
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import declare_config
import orjson
import redis
from engine_live import EngineDaemon
from ingest_cpu import CpuMeter, wait_quiet
from ingest_servers import QUEUE_MAX_DEPTH

from incidentd.store import codec
from incidentd.store.keys import Keys

HERE = Path(__file__).resolve().parent
PACED = HERE / "ingest_paced.py"
GENERIC = "/webhooks/generic"
WAKE_MS = 20
"""The observer's XREAD timeout: it looks at the sorted set at least this often."""
DECLARING = frozenset({"incident.declare", "incident.absorb_into_storm"})
LEADER_TIMEOUT = 20.0
SETTLE_S = 4.0
"""After the last probe, how long its incident may take before it counts as not declared."""
PACER_WARMUP_S = 1.0
PROBES_AFTER_S = 1.5
"""With background load, the first probe goes out this long after the generator started."""

Json = dict[str, Any]


# -- the daemon -------------------------------------------------------------------------------


class DeclareDaemon(EngineDaemon):
    """`incidentd serve --config DIR` with the engine on, under a `bench-declare-` prefix.
    `launcher` replaces `python -m incidentd` (bench/declare_whatif.py)."""

    def __init__(
        self, work: Path, *, redis_url: str, config: Path, launcher: Sequence[str] = ()
    ) -> None:
        super().__init__(work, redis_url=redis_url)
        self.prefix = f"bench-declare-{os.getpid()}-{secrets.token_hex(3)}"
        self.keys = Keys(self.prefix)
        self.config = config
        self.launcher = list(launcher) or [sys.executable, "-m", "incidentd"]
        tag = self.keys.tag  # key names of store/redis_state.py
        self.decisions_key = f"{tag}:decisions"
        self.incidents_key = f"{tag}:incidents"
        self.by_number_key = f"{tag}:incidents:by_number"
        self.alerts_key = f"{tag}:state:alerts"

    def start(self) -> None:
        env = {
            **os.environ,
            "INCIDENTD_REDIS_URL": self.redis_url,
            "INCIDENTD_REDIS_PREFIX": self.prefix,
            "INCIDENTD_QUEUE_MAX_DEPTH": str(QUEUE_MAX_DEPTH),
            "INCIDENTD_LOG_LEVEL": "warning",
            "INCIDENTD_ENGINE": "true",
        }
        argv = [*self.launcher, "serve", "--config", str(self.config), "--port", str(self.port)]
        self._spawn(argv, env)
        deadline = time.monotonic() + LEADER_TIMEOUT
        while self.engine_leader() != 1.0:
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the daemon's engine did not start; log {self.log}")
            time.sleep(0.05)

    def drain(self, timeout: float = 60.0) -> float:
        """Wait until the engine has consumed the queue; returns the seconds it took."""
        started = time.monotonic()
        while self.depth() > 0:
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"the queue did not drain in {timeout:.0f} s")
            time.sleep(0.02)
        return time.monotonic() - started


# -- bodies -----------------------------------------------------------------------------------


def background_bodies(folder: Path) -> list[Path]:
    """One file per background warning (no `id`, no `starts_at`: each post is a new report
    of an alert already firing, a repeat)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for k in range(declare_config.BACKGROUND_NAMES):
        body = {
            "name": f"ReportQueueSlow{k}",
            "severity": "warning",
            "service": declare_config.BACKGROUND_SERVICE,
            "labels": {"queue": f"reports-{k}"},
            "sender": "bench-declare",
        }
        path = folder / f"background-{k}.json"
        path.write_text(json.dumps(body))
        files.append(path)
    return files


def probe_body(index: int) -> bytes:
    service = declare_config.probe_service(index)
    body = {
        "name": "ProbeServiceDown",
        "severity": "critical",
        "service": service,
        "title": f"{service} is down",
        "labels": {"probe": str(index), "instance": f"{service}-1:8080"},
        "sender": "bench-declare",
    }
    return json.dumps(body).encode()


# -- the pieces of a run ----------------------------------------------------------------------


class Poster:
    """Keep-alive HTTP/1.1 POSTs, one at a time, timed with the wall clock."""

    def __init__(self, base: str) -> None:
        url = urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.conn: http.client.HTTPConnection | None = None

    def connect(self) -> None:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            self.conn.connect()

    def post(self, path: str, body: bytes) -> tuple[int, float, float]:
        """(status, sent, answered); one reconnection if the server closed the connection."""
        for attempt in (1, 2):
            self.connect()
            if self.conn is None:
                raise RuntimeError("no connection")
            try:
                sent = time.time()
                self.conn.request("POST", path, body, {"Content-Type": "application/json"})
                answer = self.conn.getresponse()
                answer.read()
                return answer.status, sent, time.time()
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class Observer:
    """A thread that notes when each new incident appears in Redis (see the docstring)."""

    redis_url: str
    stream: str
    by_number: str
    seen: dict[str, tuple[float, str]] = field(default_factory=dict)
    committed: dict[str, float] = field(default_factory=dict)
    """Incident -> the id time of the stream entry that declared it: Redis's clock (ms) at
    the XADD, inside the commit's MULTI/EXEC."""
    wakes: int = 0

    def __post_init__(self) -> None:
        self._client = redis.Redis.from_url(self.redis_url)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        last = self._client.zrevrange(self.by_number, 0, 0, withscores=True)
        self._number = float(last[0][1]) if last else 0.0
        newest = self._client.xrevrange(self.stream, count=1)
        self._last_id = newest[0][0] if newest else b"0-0"
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                got = self._client.xread({self.stream: self._last_id}, count=1000, block=WAKE_MS)
                at = time.time()
                self.wakes += 1
                if got:
                    self._last_id = got[0][1][-1][0]
                    self._note_commits(got[0][1])
                fresh = self._client.zrangebyscore(
                    self.by_number, f"({self._number}", "+inf", withscores=True
                )
                for member, number in fresh:
                    self.seen.setdefault(member.decode(), (at, "stream" if got else "poll"))
                    self._number = max(self._number, float(number))
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def _note_commits(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        for entry_id, fields in entries:
            at = int(entry_id.split(b"-")[0]) / 1000
            for decision in orjson.loads(fields.get(b"d", b"[]")):
                if decision.get("kind") in DECLARING and decision.get("incident_id"):
                    self.committed.setdefault(decision["incident_id"], at)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._client.close()
        if self.error is not None:
            raise RuntimeError(f"observer failed: {self.error!r}")


def _pacer(url: str, bodies: list[Path], *, rate: float, seconds: float) -> subprocess.Popen[str]:
    argv = [sys.executable, str(PACED), url, *map(str, bodies), "--rate", f"{rate:.1f}"]
    argv += ["--duration", f"{seconds:.1f}", "--warmup", str(PACER_WARMUP_S)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _pacer_result(proc: subprocess.Popen[str], timeout: float) -> Json:
    out, err = proc.communicate(timeout=timeout)
    match = re.search(r"^PACED_JSON (.*)$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"bench/ingest_paced.py failed ({proc.returncode}): {err or out}")
    found: Json = json.loads(match.group(1))
    return found


def schedule(count: int, *, gap: tuple[float, float], rng: random.Random) -> list[float]:
    """Send offsets of `count` probes, each gap drawn uniformly: the probes fall at random
    points of the engine's one-second assessment cycle."""
    at, out = 0.0, []
    for _ in range(count):
        out.append(at)
        at += rng.uniform(*gap)
    return out


def _ms(later: float, earlier: float) -> float:
    return round((later - earlier) * 1000, 2)


def _epoch(value: datetime) -> float:
    return value.timestamp()


@dataclass(frozen=True, slots=True)
class Background:
    url: str
    bodies: list[Path]
    rate: float


def probe_run(
    daemon: DeclareDaemon,
    *,
    probes: list[int],
    offsets: list[float],
    background: Background | None,
    max_busy: float,
    quiet_wait: float,
) -> Json:
    """One run: the probes at `offsets` (seconds) while `background` posts, if given."""
    busy, waited = wait_quiet(max_busy=max_busy, timeout=quiet_wait)
    poster = Poster(daemon.base)
    poster.connect()
    observer = Observer(daemon.redis_url, daemon.decisions_key, daemon.by_number_key)
    observer.start()
    meter = CpuMeter(daemon.pid, daemon.redis)
    own = resource.getrusage(resource.RUSAGE_SELF)
    began = time.monotonic()
    pacer = None
    lead = 0.3
    if background is not None:
        seconds = PROBES_AFTER_S - PACER_WARMUP_S + offsets[-1] + SETTLE_S
        pacer = _pacer(background.url, background.bodies, rate=background.rate, seconds=seconds)
        lead = PROBES_AFTER_S
    posts = []
    try:
        for index, offset in zip(probes, offsets, strict=True):
            time.sleep(max(0.0, began + lead + offset - time.monotonic()))
            status, sent, answered = poster.post(GENERIC, probe_body(index))
            posts.append({"probe": index, "status": status, "sent": sent, "answered": answered})
        deadline = time.monotonic() + SETTLE_S
        while len(observer.seen) < len(probes) and time.monotonic() < deadline:
            time.sleep(0.05)
        paced = _pacer_result(pacer, timeout=60) if pacer is not None else None
    finally:
        if pacer is not None and pacer.poll() is None:
            pacer.kill()
            pacer.wait()
        poster.close()
        observer.stop()
    wall = time.monotonic() - began
    cpu = meter.stop()
    mine = resource.getrusage(resource.RUSAGE_SELF)
    bench_cores = (mine.ru_utime + mine.ru_stime - own.ru_utime - own.ru_stime) / wall
    cpu["bench"] = round(bench_cores, 2)
    cpu["other"] = round(max(0.0, cpu["other"] - bench_cores), 2)
    records = _match(daemon, posts, observer.seen, observer.committed)
    return {
        "background_rate": background.rate if background is not None else 0.0,
        "probes": records,
        "declared": sum(1 for r in records if r.get("incident")),
        "latency_ms": summarize_probes(records),
        "paced": paced,
        "cpu": cpu,
        "busy_before": round(busy, 2),
        "waited_s": round(waited, 1),
        "observer_wakes": observer.wakes,
        "seconds": round(wall, 1),
    }


def _match(
    daemon: DeclareDaemon,
    posts: list[Json],
    seen: dict[str, tuple[float, str]],
    committed: dict[str, float],
) -> list[Json]:
    """Each probe with its incident (the one whose services hold the probe's service)."""
    client = daemon.redis
    ids = sorted(seen)
    raw = client.hmget(daemon.incidents_key, ids) if ids else []
    by_service = {}
    for data in raw:
        if data is None:
            continue
        incident = codec.decode_incident(data)
        for service in incident.services:
            by_service.setdefault(service, incident)
    out = []
    for post in posts:
        record = dict(post)
        incident = by_service.get(declare_config.probe_service(post["probe"]))
        if incident is not None:
            found = _timings(client, daemon, post, incident, seen[incident.id])
            commit = committed.get(incident.id)
            found["committed"] = commit
            found["ms"]["seen_after_commit"] = (
                None if commit is None else _ms(found["stored"], commit)
            )
            record.update(found)
        out.append(record)
    return out


def _timings(
    client: redis.Redis, daemon: DeclareDaemon, post: Json, incident: Any, seen: tuple[float, str]
) -> Json:
    stored, via = seen
    raw_alert = client.hget(daemon.alerts_key, incident.alerts[0]) if incident.alerts else None
    received = _epoch(codec.decode_alert(raw_alert).first_seen) if raw_alert else None
    declared = _epoch(incident.declared_at)
    out: Json = {
        "incident": incident.id,
        "priority": incident.priority.value,
        "storm": incident.storm,
        "alerts": len(incident.alerts),
        "declared_at": declared,
        "stored": stored,
        "seen_via": via,
        "received_at": received,
        "ms": {
            "answer": _ms(post["answered"], post["sent"]),
            "stored_after_202": _ms(stored, post["answered"]),
            "declared_after_received": None if received is None else _ms(declared, received),
            "stored_after_declared": _ms(stored, declared),
            "stored_after_received": None if received is None else _ms(stored, received),
        },
    }
    return out


LATENCIES = (
    "stored_after_202",
    "stored_after_received",
    "declared_after_received",
    "stored_after_declared",
    "answer",
    "seen_after_commit",
)


def percentiles(values: Sequence[float]) -> Json:
    """Nearest-rank percentiles (as bench/ingest_paced.py), and the count."""
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]

    return {
        "n": len(ordered),
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "max": ordered[-1],
        "min": ordered[0],
    }


def summarize_probes(records: Sequence[Json]) -> Json:
    return {
        key: percentiles([r["ms"][key] for r in records if r.get("ms", {}).get(key) is not None])
        for key in LATENCIES
    }
