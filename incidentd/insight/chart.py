"""The alert-volume chart of a post-incident review: alerts attached to the incident per time
bucket (bars), the alerts firing at the end of each bucket (a step line), and the incident's
milestones (first alert, declared, acknowledged, mitigated, resolved) as vertical lines.

`volume` counts from the timeline's `alert_attached` and `alert_resolved` entries (pure);
`figure` draws it with matplotlib's object API on the Agg canvas (no pyplot, no display, no
global state); `png` writes the bytes. Nothing here reads the clock or does I/O: `now` bounds
an incident still open. Matplotlib is not thread-safe, so drawing holds `_DRAWING` (callers
may render in a worker thread).
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import matplotlib.dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from incidentd.declare.incident import Incident
from incidentd.declare.timeline import EntryKind, TimelineEntry

MAX_BARS = 60
STEPS = tuple(
    timedelta(minutes=m) for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
)
"""Bucket widths, the narrowest that keeps the chart within MAX_BARS is taken."""
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_DRAWING = threading.Lock()
_MILESTONE_STYLE = {
    "first alert": ("#7f7f7f", ":"),
    "declared": ("#d62728", "--"),
    "acknowledged": ("#ff7f0e", "--"),
    "mitigated": ("#2ca02c", "--"),
    "resolved": ("#1f77b4", "-"),
}


@dataclass(frozen=True, slots=True)
class Volume:
    """Alert counts per bucket over the incident; bucket i starts at `start + i * step`."""

    start: datetime
    step: timedelta
    attached: tuple[int, ...]
    """Alerts attached in the bucket: new ones, and attached ones firing again."""
    resolved: tuple[int, ...]
    firing: tuple[int, ...]
    """Alerts of the incident firing at the end of the bucket."""
    milestones: tuple[tuple[str, datetime], ...]

    @property
    def starts(self) -> tuple[datetime, ...]:
        return tuple(self.start + i * self.step for i in range(len(self.attached)))


def _floor(at: datetime, step: timedelta) -> datetime:
    whole = (at - _EPOCH) // step
    return _EPOCH + whole * step


def _step_for(span: timedelta, max_bars: int) -> timedelta:
    # two buckets of slack: the start is floored to a whole step, and an end on a boundary
    # opens one more bucket
    room = max(1, max_bars - 2)
    for step in STEPS:
        if span <= step * room:
            return step
    return timedelta(days=math.ceil(span / timedelta(days=1) / room))


def milestones(incident: Incident) -> tuple[tuple[str, datetime], ...]:
    found = (
        ("first alert", incident.started_at),
        ("declared", incident.declared_at),
        ("acknowledged", incident.acknowledged_at),
        ("mitigated", incident.mitigated_at),
        ("resolved", incident.resolved_at),
    )
    return tuple((name, at) for name, at in found if at is not None)


def volume(
    incident: Incident,
    timeline: Sequence[TimelineEntry],
    *,
    now: datetime,
    max_bars: int = MAX_BARS,
) -> Volume:
    """The counts from the first alert (or the declaration) to the resolution (or `now` for
    an incident still open), in at most `max_bars` buckets of a round width."""
    alerts = [e for e in timeline if e.kind in (EntryKind.ALERT_ATTACHED, EntryKind.ALERT_RESOLVED)]
    marks = milestones(incident)
    begin = min([at for _, at in marks] + [e.at for e in alerts])
    end = max([incident.resolved_at or now] + [e.at for e in alerts])
    step = _step_for(end - begin, max_bars)
    start = _floor(begin, step)
    count = max(1, math.ceil((end - start) / step) + (1 if _floor(end, step) == end else 0))
    attached, resolved = [0] * count, [0] * count
    for entry in alerts:
        i = min(count - 1, (entry.at - start) // step)
        (attached if entry.kind is EntryKind.ALERT_ATTACHED else resolved)[i] += 1
    firing, level = [], 0
    for up, down in zip(attached, resolved, strict=True):
        level = max(0, level + up - down)  # a merge brings firing alerts without entries
        firing.append(level)
    return Volume(start, step, tuple(attached), tuple(resolved), tuple(firing), marks)


def _label(step: timedelta) -> str:
    minutes = int(step / timedelta(minutes=1))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 1440:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} d"


def figure(data: Volume, *, title: str) -> Figure:
    """The chart as a matplotlib Figure (for tests to inspect; `png` to write it)."""
    fig = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    # matplotlib converts datetimes and timedeltas itself (its units registry); its stubs
    # only know numbers and arrays, hence the Any
    starts: Any = list(data.starts)
    width: Any = data.step
    edges: Any = [*data.starts, data.start + len(data.attached) * data.step]
    ax.bar(
        starts,
        data.attached,
        width=width,
        align="edge",
        color="#9ecae1",
        edgecolor="#3182bd",
        label=f"alerts attached per {_label(data.step)}",
    )
    # each bucket shows the alerts firing at its end, held across it
    levels = [*data.firing, data.firing[-1]]
    ax.step(edges, levels, where="post", color="#08306b", label="alerts firing")
    for name, at in data.milestones:
        colour, style = _MILESTONE_STYLE[name]
        when: Any = at
        ax.axvline(when, color=colour, linestyle=style, linewidth=1.2, label=name)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel("alerts")
    ax.set_ylim(bottom=0, top=max([1, *data.attached, *data.firing]) * 1.15)
    # matplotlib.dates has no type annotations; its default tick counts suit every span (a
    # lower maxticks warns "unable to pick an appropriate interval" for some)
    locator = mdates.AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    concise = mdates.ConciseDateFormatter(locator, tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(concise)
    ax.set_xlabel("UTC")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.9)
    ax.grid(axis="y", alpha=0.3)
    return fig


def png(fig: Figure) -> bytes:
    out = io.BytesIO()
    # no Software/date metadata: the same incident always gives the same bytes
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def chart_png(incident: Incident, timeline: Sequence[TimelineEntry], *, now: datetime) -> bytes:
    """The PNG of the incident's alert volume (thread-safe)."""
    data = volume(incident, timeline, now=now)
    title = f"{incident.id}: alert volume ({incident.priority}, {incident.status})"
    with _DRAWING:
        return png(figure(data, title=title))
