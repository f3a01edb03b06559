"""What compiling the engine's modules with mypyc would give: an experiment, not a build.

incidentd ships pure Python. This script measures one lever the engine throughput targets of
issue 3 could use: it copies the tree at HEAD (`git archive`) to a temporary directory,
makes the two changes mypyc needs there (a dataclass field annotated `object`, which mypyc's
dataclass support cannot resolve, becomes `Any`; `Engine` allows interpreted subclasses, for
`replay.ReplayEngine`), compiles MODULES with mypyc (`-O3`, about 30 s), then replays the
example storm (bench/engine_storm.py, the replay section's input) through both trees, in
interleaved runs, and checks that the groups, decisions and incidents they print are
byte-identical.

    .venv/bin/python bench/engine_compiled.py [--storm 20000] [--runs 3]
    KEEP=/tmp/mypyc .venv/bin/python bench/engine_compiled.py   # keep both copies there

Needs gcc and the Python headers (mypyc is part of mypy, a test dependency). The copy is
deleted afterwards. What it does not check: the test suite against the compiled modules (see
BENCHMARKS.md, "compiling the engine with mypyc", for what failed there and why).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import engine_storm as storms

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODULES = (
    "incidentd/engine.py",
    "incidentd/correlate/dedup.py",
    "incidentd/correlate/grouping.py",
    "incidentd/correlate/matchers.py",
    "incidentd/correlate/flapping.py",
    "incidentd/declare/scoring.py",
    "incidentd/declare/policy.py",
    "incidentd/declare/declarer.py",
    "incidentd/declare/incident.py",
)
"""The modules replay spends its time in that mypyc compiles as they are (idseq.py trips an
internal mypyc error on `cls.__new__(cls)`; model.py and replay.py hold pydantic models)."""

_PATCHES = {
    "incidentd/engine.py": [
        ("    inputs: object\n", "    inputs: Any\n"),
        (
            "from __future__ import annotations\n",
            "from __future__ import annotations\n\nfrom typing import Any\n\n"
            "from mypy_extensions import mypyc_attr\n",
        ),
        ("\nclass Engine:", "\n@mypyc_attr(allow_interpreted_subclasses=True)\nclass Engine:"),
    ],
}

_TIMED = """
import gc, sys, time
from pathlib import Path
from incidentd.replay import replay
from incidentd.rules.loader import load
rules = load(Path(sys.argv[1]))
lines = Path(sys.argv[2]).read_bytes().splitlines(keepends=True)
gc.collect()
started = time.process_time()
_, summary = replay(lines, rules)
print(summary.alerts / (time.process_time() - started))
"""


def _copy_tree(to: Path) -> None:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "HEAD"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(to, filter="data")


def _patch(tree: Path) -> None:
    for name, changes in _PATCHES.items():
        path = tree / name
        text = path.read_text()
        for old, new in changes:
            if old not in text:
                sys.exit(f"{name}: {old.strip()!r} is gone: update the patches of this script")
            text = text.replace(old, new, 1)
        path.write_text(text)


def _compile(tree: Path) -> None:
    mypyc = Path(sys.executable).with_name("mypyc")
    # mypyc runs setup.py in the copy; the project's pyproject.toml is not what it builds
    (tree / "pyproject.toml").rename(tree / "pyproject.toml.off")
    done = subprocess.run(
        [str(mypyc), *MODULES], cwd=tree, capture_output=True, text=True, check=False
    )
    (tree / "pyproject.toml.off").rename(tree / "pyproject.toml")
    if done.returncode != 0:
        sys.exit(f"mypyc failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    built = sorted(p.name for p in (tree / "incidentd").rglob("*.so"))
    print(f"compiled {len(built)} modules in {tree}")


def _env(tree: Path) -> dict[str, str]:
    """The tree first on the path; the subprocesses also run in it (`-c` and `-m` put the
    working directory before PYTHONPATH)."""
    return {**os.environ, "PYTHONPATH": str(tree)}


def _rate(tree: Path, config: Path, storm: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _TIMED, str(config), str(storm)],
        env=_env(tree),
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out)


def _outputs(tree: Path, config: Path, storm: Path) -> list[bytes]:
    outs = []
    for flag in ([], ["--decisions"], ["--incidents"]):
        cmd = [sys.executable, "-m", "incidentd", "replay", "--config", str(config), *flag]
        done = subprocess.run(
            [*cmd, str(storm)], env=_env(tree), cwd=tree, check=True, capture_output=True
        )
        outs.append(done.stdout)
    return outs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storm", type=int, default=20_000, help="alerts in the storm")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per tree")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = REPO / "config" / "example"
    with tempfile.TemporaryDirectory(prefix="incidentd-mypyc-") as work:
        base = Path(work)
        pure, compiled = base / "pure", base / "compiled"
        _copy_tree(pure)
        _copy_tree(compiled)
        _patch(compiled)
        _compile(compiled)
        storm = base / "storm.jsonl"
        made = storms.make_storm(args.storm, storms.example_catalogue(), seed=args.seed)
        storm.write_bytes(b"".join(storms.alert_lines(storms.to_alerts(made))))
        kinds = ("groups", "decisions", "incidents")
        pure_out, compiled_out = _outputs(pure, config, storm), _outputs(compiled, config, storm)
        outs = zip(kinds, pure_out, compiled_out, strict=True)
        differ = [kind for kind, a, b in outs if a != b]
        same = not differ
        print(f"groups, decisions and incidents identical: {same} {differ or ''}")
        if os.environ.get("KEEP"):
            print(f"both copies and the storm kept in {os.environ['KEEP']}")
            shutil.copytree(base, os.environ["KEEP"], dirs_exist_ok=True)
        rates: dict[str, list[float]] = {"pure": [], "compiled": []}
        for run in range(1, args.runs + 1):
            for name, tree in (("pure", pure), ("compiled", compiled)):
                rates[name].append(_rate(tree, config, storm))
            print(
                f"  run {run}: pure {rates['pure'][-1]:,.0f}, compiled "
                f"{rates['compiled'][-1]:,.0f} alerts per CPU second"
            )
        medians = {k: statistics.median(v) for k, v in rates.items()}
        print(
            f"replay of {args.storm:,} alerts, median of {args.runs}: pure {medians['pure']:,.0f},"
            f" compiled {medians['compiled']:,.0f} alerts per CPU second:"
            f" x{medians['compiled'] / medians['pure']:.2f}"
        )
        if not same:
            sys.exit(1)  # not equivalent: see BENCHMARKS.md (eighth run)


if __name__ == "__main__":
    main()
