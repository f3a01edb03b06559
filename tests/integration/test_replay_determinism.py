"""Replay gives the same groups, decisions and incidents in every process.

Python's hash seed changes from process to process, and with it the order of every set: the
engine must never let that order decide anything (which group an alert joins, the order of
timeline entries). Two `incidentd replay` processes with different seeds, on outages replayed
as the senders send them, print the same bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scenarios.test_real_outages import (
    CONFIG,
    bad_deploy,
    db_primary_failure,
    db_primary_failure_datadog,
    two_failures,
    zone_partition,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    feeds = [
        *db_primary_failure().notifications(90),
        *db_primary_failure_datadog().webhooks(90),
        *zone_partition(),
        *bad_deploy(),
        *two_failures(),
    ]
    path = tmp_path_factory.mktemp("replay") / "outages.jsonl"
    path.write_bytes(b"\n".join(line for _, line in sorted(feeds, key=lambda r: r[0])) + b"\n")
    return path


def _replay(records: Path, seed: str, *flags: str) -> bytes:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "incidentd",
            "replay",
            "--config",
            str(CONFIG),
            *flags,
            str(records),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONHASHSEED": seed},
        capture_output=True,
        check=True,
        timeout=120,
    )
    return done.stdout


@pytest.mark.parametrize("flags", [(), ("--decisions",), ("--incidents",)])
def test_two_hash_seeds_replay_the_same(records: Path, flags: tuple[str, ...]) -> None:
    first = _replay(records, "1", *flags)
    assert len(first) > 5000, "the replay printed almost nothing: a weak comparison"
    for seed in ("2", "12345"):
        assert _replay(records, seed, *flags) == first, f"seed {seed} {flags}"
