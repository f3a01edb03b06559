"""Profiles of incidentd under the benchmark's load, with py-spy, and their hot spots.

    .venv/bin/pip install py-spy     # a tool of yours, not a dependency of the project
    .venv/bin/python bench/ingest.py --profile var/profile [--sizes 1,100]

For each body size, py-spy samples the running `incidentd serve` (100 Hz, Python frames,
only threads holding the GIL: an idle executor thread blocked on its queue would otherwise
count as busy) while wrk loads it as in phase 1. Writes `incidentd-<size>.txt` (collapsed
stacks: feed them to flamegraph.pl or speedscope) and `incidentd-<size>.top.txt`: the
functions with the most samples, inclusive (anywhere on the stack) and self (the frame
running), and the lines of incidentd code charged with the time of the library calls they
make, as a share of the samples taken. Sampling slows the server a little: rates measured
while profiling are not reported.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from ingest_loadgen import run_wrk
from ingest_servers import Server

RATE_HZ = 100
TOP = 25


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _function(frame: str) -> str:
    """`name (path:line)` -> `name (path)`: one entry per function, whatever its line."""
    name, _, where = frame.rpartition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if name else frame


_ENTRY = ("(incidentd/__main__.py", "(incidentd/cli.py", "(incidentd/daemon.py")
"""Frames under every stack (the process entry point): not charged with the event loop's work."""


def _ours(frame: str) -> bool:
    return "(incidentd/" in frame and not frame.split(" ", 1)[-1].startswith(_ENTRY)


def hot_spots(collapsed: Path, *, top: int = TOP) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    attributed: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        raw = stack.split(";")
        frames = [_function(f) for f in raw]
        own[frames[-1]] += n
        for function in set(frames):
            inclusive[function] += n
        # The innermost line of our code on the stack: what that line costs, library calls
        # included (pydantic, hashlib, redis-py...), our own callees excluded.
        outside = "(event loop, aiohttp, redis-py: no incidentd handler on the stack)"
        attributed[next((f for f in reversed(raw) if _ours(f)), outside)] += n
    ours = Counter({f: n for f, n in inclusive.items() if _ours(f)})
    lines = [f"{total} samples"]
    for title, counter in (
        ("inclusive, incidentd code", ours),
        ("by innermost line of incidentd code (library calls included)", attributed),
        ("inclusive, all code", inclusive),
        ("self", own),
    ):
        lines += ["", f"{title}:"]
        lines += [f"  {n / total:6.1%}  {f}" for f, n in counter.most_common(top)]
    return "\n".join(lines) + "\n"


def profile(
    server: Server,
    bodies: dict[int, list[Path]],
    *,
    folder: Path,
    duration: int,
    connections: int,
) -> None:
    spy = _py_spy()
    if spy is None:
        print("profile: py-spy not found; install it with: .venv/bin/pip install py-spy")
        return
    folder.mkdir(parents=True, exist_ok=True)
    for size, files in bodies.items():
        server.reset()
        out = folder / f"incidentd-{size}.txt"
        argv = [spy, "record", "-p", str(server.pid), "-r", str(RATE_HZ), "-f", "raw", "--gil"]
        sampler = subprocess.Popen(
            [*argv, "-d", str(duration), "-o", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)  # let py-spy attach before the load starts
        result = run_wrk(server.url, files, connections=connections, duration=duration)
        _, err = sampler.communicate(timeout=duration + 30)
        server.reset()
        if sampler.returncode != 0 or not out.exists():
            print(f"profile: py-spy failed: {err.decode(errors='replace')[-500:]}")
            return
        report = hot_spots(out)
        (folder / f"incidentd-{size}.top.txt").write_text(report)
        head = "\n".join(report.splitlines()[: TOP + 3])
        print(f"\nincidentd, {size}-alert bodies, {result['rps']:,.0f} req/s under py-spy")
        print(head)
    print(f"\nprofiles: {folder}")
