"""Flapping: an alert that changes state too often to be taken at its word.

An alert is flapping at `now` when, at some status change within the last `stable_for`, more
than `changes` status changes had happened within `window`. It therefore stays flapping until
it has gone `stable_for` without such a burst: one quiet change does not clear it. Computed
from the remembered change times (dedup keeps the last 64), so there is no flag to keep in
step. Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from incidentd.rules.schema import Flapping


def is_flapping(transitions: Sequence[datetime], *, now: datetime, spec: Flapping) -> bool:
    """`transitions` are the times of status changes, oldest first."""
    if len(transitions) <= spec.changes:
        return False
    horizon = now - spec.stable_for
    start = 0
    for end, at in enumerate(transitions):
        while at - transitions[start] > spec.window:
            start += 1
        if at >= horizon and end - start + 1 > spec.changes:
            return True
    return False
