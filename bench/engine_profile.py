"""Where replay and the live daemon spend their time: py-spy on the `incidentd replay` CLI and
on `incidentd serve` under load, cProfile of replay in process.

- py-spy (sampling, 250 Hz, little distortion) records the CLI replaying a storm file; each
  sample is charged to the innermost function of our code on its stack, library calls it
  makes included (pydantic, hashlib, dataclasses.replace...): "own" time. Samples with no
  `incidentd.replay.replay` frame are start-up (imports, config load) and are left out of the
  shares. The collapsed stacks are kept (flamegraph.pl or speedscope read them), with
  bench/ingest_profile.py's line-level report beside them.
- py-spy (100 Hz, threads holding the GIL) samples the live daemon during one end-to-end run
  (bench/engine_live.py); samples with no incidentd frame are the event loop, aiohttp and
  redis-py working for no handler of ours in particular.
- cProfile (deterministic, inflates small calls, but counts them) runs `replay()` in process
  on the same lines; the top functions by own time, with call counts, show what is called
  too often.

    .venv/bin/pip install py-spy     # a tool of yours, not a dependency of the project
"""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from engine_live import Load, run_once
from engine_measure import REPO, ReplayInput
from ingest_profile import hot_spots

from incidentd.replay import replay

RATE_HZ = 250
TOP = 20
_REPLAY_FRAME = "replay (incidentd/replay.py"

Json = dict[str, Any]


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _function(frame: str) -> str:
    name, _, where = frame.rpartition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if name else frame


_OUTSIDE = "(no incidentd frame: event loop, aiohttp, redis-py)"
_ENTRY = ("(incidentd/__main__.py", "(incidentd/cli.py", "(incidentd/daemon.py")
"""The process's entry frames, under every stack of the daemon: not charged with anything."""


def _entry(frame: str) -> bool:
    return any(marker in frame for marker in _ENTRY)


def own_time(collapsed: Path, *, within: str | None = _REPLAY_FRAME, top: int = TOP) -> Json:
    """Shares of the samples by innermost function of incidentd (library calls included),
    and inclusive shares of incidentd functions. `within`: only samples with that frame on
    the stack count (the others are start-up: imports, config load)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = startup = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        if within is not None and not any(f.startswith(within) for f in frames):
            startup += n
            continue
        total += n
        ours = [_function(f) for f in frames if "(incidentd/" in f and not _entry(f)]
        own[ours[-1] if ours else _OUTSIDE] += n
        for function in set(ours):
            inclusive[function] += n
    share = {f: round(n / total, 4) for f, n in own.most_common(top)}
    return {
        "samples": total,
        "startup_samples": startup,
        "own": share,
        "inclusive": {f: round(n / total, 4) for f, n in inclusive.most_common(top)},
    }


def py_spy(source: ReplayInput, folder: Path) -> Json | None:
    spy = _py_spy()
    if spy is None:
        print("profile: py-spy not found; install it with: .venv/bin/pip install py-spy")
        return None
    out = folder / f"replay-{source.file.stem}.collapsed.txt"
    argv = [spy, "record", "-r", str(RATE_HZ), "-f", "raw", "-o", str(out), "--"]
    cli = [sys.executable, "-m", "incidentd", "replay", "--config", str(source.config)]
    done = subprocess.run(
        [*argv, *cli, str(source.file)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0 or not out.exists():
        print(f"profile: py-spy failed: {done.stderr[-500:]}")
        return None
    (folder / f"replay-{source.file.stem}.lines.txt").write_text(hot_spots(out, top=40))
    return {"input": source.name, "collapsed": str(out), **own_time(out)}


def live(load: Load, folder: Path, *, work: Path, redis_url: str, connections: int) -> Json | None:
    """py-spy on the live daemon during one end-to-end run of `load`."""
    spy = _py_spy()
    if spy is None:
        print("profile: py-spy not found; install it with: .venv/bin/pip install py-spy")
        return None
    out = folder / f"live-{load.source}.collapsed.txt"
    record = run_once(
        load, work=work, redis_url=redis_url, connections=connections, profile=(spy, out)
    )
    if not out.exists():
        print("profile: py-spy wrote nothing (ptrace not allowed?)")
        return None
    (folder / f"live-{load.source}.lines.txt").write_text(hot_spots(out, top=40))
    return {
        "input": load.name,
        "alerts_per_s_while_sampled": record["alerts_per_s"],
        "collapsed": str(out),
        **own_time(out, within=None),
    }


def c_profile(source: ReplayInput, folder: Path, *, top: int = TOP) -> Json:
    profiler = cProfile.Profile()
    profiler.runcall(replay, source.lines, source.rules)
    stats = pstats.Stats(profiler)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(60)
    (folder / f"replay-{source.file.stem}.cprofile.txt").write_text(text.getvalue())
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())  # own time of every function
    rows = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    return {
        "input": source.name,
        "total_s": round(total, 3),
        "top_by_own_time": [
            {
                "function": f"{name} ({_short(path)}:{line})",
                "calls": entry[1],
                "own_share": round(entry[2] / total, 4),
                "cumulative_share": round(entry[3] / total, 4),
            }
            for (path, line, name), entry in rows
        ],
    }


def _short(path: str) -> str:
    for marker in ("/incidentd/", "/site-packages/"):
        if marker in path:
            return marker.strip("/") + "/" + path.split(marker, 1)[1]
    stdlib = re.search(r"/lib/python3\.\d+/(.*)$", path)
    return f"stdlib/{stdlib.group(1)}" if stdlib else path
