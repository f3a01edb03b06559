"""Before/after comparison of one point of bench/engine.py's `flat` section, across code trees.

bench/engine.py runs each point on the code it is run from; comparing two commits on a noisy
machine needs their runs interleaved, on identical inputs. This script snapshots a preloaded
engine once per tree, then times a snapshot on demand:

    git archive <before> | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before .venv/bin/python bench/engine_flat_ab.py snap /tmp/before.pkl 100000
    PYTHONPATH=.           .venv/bin/python bench/engine_flat_ab.py snap /tmp/after.pkl 100000
    for i in 1 2 3; do      # interleaved rounds
        PYTHONPATH=/tmp/before .venv/bin/python bench/engine_flat_ab.py run /tmp/before.pkl
        PYTHONPATH=.           .venv/bin/python bench/engine_flat_ab.py run /tmp/after.pkl
    done

`snap` preloads N open alerts on the generated 1,000-service map (as the `flat` section does)
and pickles the engine with the batch of 2,000 new alerts and the churn after it. `run` prints
CPU microseconds per alert of `Engine.process` over the new batch, then the churn (consumer
batches of 200). `--new-only` skips the churn; `--skip` loads the snapshot and does nothing
else (a baseline for `valgrind --tool=cachegrind`: instructions of `run --new-only` minus those
of `run --skip`, divided by 2,000, are the exact instructions per new alert); `--profile FILE`
writes a cProfile of the new batch. A snapshot is only valid for the tree that made it.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pickle
import sys
import tempfile
from pathlib import Path

import engine_config
import engine_measure as measure
import engine_storm as storms

from incidentd.rules.loader import load

SERVICES = 1000
BATCH = 2000


def snap(path: Path, preload: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="incidentd-flat-"))
    rules = load(engine_config.write_config(work / "generated", SERVICES))
    catalogue = storms.generated_catalogue(SERVICES)
    case = measure.flat_case(f"{preload} open", rules, catalogue, preload=preload, batch=BATCH)
    snapshot, us = measure.preloaded(case)
    with path.open("wb") as out:
        pickle.dump((snapshot, case.rules, case.batch, case.churn), out, protocol=5)
    print(f"preloaded {preload:,} alerts, {us:.1f} us CPU per alert", file=sys.stderr)


def run(path: Path, *, new_only: bool, skip: bool, profile: Path | None) -> None:
    with path.open("rb") as f:
        snapshot, rules, batch, churn = pickle.load(f)  # noqa: S301 (our own file)
    engine = pickle.loads(snapshot)  # noqa: S301
    if skip:
        gc.collect()  # as _timed does before its timer
        return
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    new = measure._timed(engine, batch, rules)
    if profiler and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    if new_only:
        print(f"new {new:.1f}")
        return
    print(f"new {new:.1f} churn {measure._timed(engine, churn, rules):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    make = sub.add_parser("snap", help="preload N open alerts and pickle the engine")
    make.add_argument("path", type=Path)
    make.add_argument("preload", type=int)
    time_it = sub.add_parser("run", help="time a snapshot's new batch (then its churn)")
    time_it.add_argument("path", type=Path)
    time_it.add_argument("--new-only", action="store_true")
    time_it.add_argument("--skip", action="store_true")
    time_it.add_argument("--profile", type=Path)
    args = parser.parse_args()
    if args.verb == "snap":
        snap(args.path, args.preload)
    else:
        run(args.path, new_only=args.new_only, skip=args.skip, profile=args.profile)


if __name__ == "__main__":
    main()
