"""`python -m incidentd` with a shorter assessment step: a what-if for the decision latency.

    .venv/bin/python bench/declare_whatif.py --step-ms 50 serve --config DIR --port P

Sets, in this process only, the declarer's assessment steps to `--step-ms`: `ASSESS_EVERY`
(groups tied to an open incident; before commit c96cd6b, every group) and, where it exists,
`ASSESS_UNTIED` (groups no incident holds yet: 100 ms since c96cd6b). A group that changed is
assessed at the next whole multiple of its step in event time. The live consumer's
`tick_interval` and `block_ms` become the step too (with no traffic, its timers run that
often). Then it runs the command line as `python -m incidentd` would. Nothing of incidentd
is changed on disk: this measures what the change would give before anyone makes it.
`assessment_steps` does the same in this process, for replay.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import incidentd.daemon
import incidentd.declare.declarer as declarer
from incidentd.cli import main
from incidentd.consumer import ConsumerSettings

STEPS = ("ASSESS_EVERY", "ASSESS_UNTIED")
"""The declarer's module constants that set an assessment step (those it has)."""


def current_steps() -> dict[str, float]:
    """The steps in force, in milliseconds, by constant name."""
    return {
        name: getattr(declarer, name).total_seconds() * 1000
        for name in STEPS
        if hasattr(declarer, name)
    }


@contextmanager
def assessment_steps(step: timedelta | None) -> Iterator[dict[str, float]]:
    """Every assessment step set to `step` (None: as built) while the block runs."""
    saved = {name: getattr(declarer, name) for name in STEPS if hasattr(declarer, name)}
    try:
        if step is not None:
            for name in saved:
                setattr(declarer, name, step)
        yield current_steps()
    finally:
        for name, value in saved.items():
            setattr(declarer, name, value)


def shorten(step_ms: int) -> None:
    step = timedelta(milliseconds=step_ms)
    for name in STEPS:
        if hasattr(declarer, name):
            setattr(declarer, name, step)
    incidentd.daemon.ConsumerSettings = functools.partial(  # type: ignore[misc]
        ConsumerSettings, tick_interval=step_ms / 1000, block_ms=min(500, step_ms)
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step-ms", type=int, required=True)
    known, rest = parser.parse_known_args()
    shorten(known.step_ms)
    sys.exit(main(rest))
