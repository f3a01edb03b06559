"""The two load generators of the ingest benchmark, run as child processes, results parsed.

- `run_wrk`: wrk, one thread (one core), C keep-alive connections, closed loop: the most the
  server sustains. Latencies are those of requests queued behind C in flight.
- `run_paced`: bench/ingest_paced.py, open loop at a fixed rate: the latency a sender sees at
  that rate.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LUA = HERE / "ingest_wrk.lua"
PACED = HERE / "ingest_paced.py"

WRK_TIMEOUT = 10
"""Seconds before wrk gives up on an answer (its default, 2 s, turns Alertmanager's slowest
answers to 100-alert bodies into errors instead of latencies)."""

Json = dict[str, Any]


def _last_json(marker: str, out: subprocess.CompletedProcess[str], what: str) -> Json:
    match = re.search(rf"^{marker} (.*)$", out.stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{what} failed ({out.returncode}): {out.stderr or out.stdout}")
    result: Json = json.loads(match.group(1))
    return result


def run_wrk(url: str, bodies: list[Path], *, connections: int, duration: int) -> Json:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", f"--timeout={WRK_TIMEOUT}s"]
    argv += ["--latency", "-s", str(LUA)]
    out = subprocess.run(
        [*argv, url, "--", *map(str, bodies)],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    raw = _last_json("WRK_JSON", out, "wrk")
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    return {
        "requests": raw["requests"],
        "seconds": seconds,
        "rps": raw["requests"] / seconds,
        "errors": raw["errors"],
        "p50_ms": lat["p50"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "max_ms": lat["max"] / 1000,
    }


def run_paced(
    url: str, bodies: list[Path], *, rate: float, duration: int, connections: int
) -> Json:
    argv = [sys.executable, str(PACED), url, *map(str, bodies)]
    opts = ["--rate", f"{rate:.1f}", "--duration", str(duration), "--connections", str(connections)]
    out = subprocess.run(
        [*argv, *opts], capture_output=True, text=True, timeout=duration + 60, check=False
    )
    return _last_json("PACED_JSON", out, "bench/ingest_paced.py")
