"""The alert-volume chart: round buckets, at most MAX_BARS of them however long the incident,
every attached alert counted once (a storm included), and a PNG matplotlib can read back."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image

from incidentd.declare.incident import Incident, Transition, attach_alerts, resolve_alerts
from incidentd.declare.scoring import Signal
from incidentd.declare.timeline import TimelineEntry
from incidentd.insight.chart import MAX_BARS, STEPS, chart_png, figure, volume
from incidentd.model import Severity
from tests.fakes.incident import declared
from tests.unit.alerts import at


def _signal(i: int) -> Signal:
    return Signal(
        fingerprint=f"fp{i}",
        name=f"Alert{i % 7}",
        service="checkout",
        severity=Severity.ERROR,
        host=None,
        region=None,
        first_seen=at(0),
    )


def _storm(count: int, *, every: float) -> tuple[Incident, list[TimelineEntry]]:
    """The declared incident (minute 6), then `count` alerts attached `every` minutes apart,
    each resolved 10 minutes after it came."""
    step: Transition = declared()
    entries = list(step.entries)
    incident = step.incident
    for i in range(count):
        moved = attach_alerts(incident, [_signal(i)], now=at(6 + i * every))
        incident, entries = moved.incident, entries + list(moved.entries)
    for i in range(count):
        gone = resolve_alerts(incident, [f"fp{i}"], now=at(16 + i * every))
        incident, entries = gone.incident, entries + list(gone.entries)
    entries.sort(key=lambda e: e.at)
    return incident, entries


def test_a_storm_is_counted_whole_in_bounded_bars() -> None:
    incident, entries = _storm(3000, every=0.01)
    data = volume(incident, entries, now=at(60))
    attached = sum(1 for e in entries if e.kind == "alert_attached")
    assert attached == 3000 + 5  # the five of the declaration
    assert sum(data.attached) == attached
    assert sum(data.resolved) == 3000
    assert len(data.attached) <= MAX_BARS
    assert data.step in STEPS
    assert max(data.firing) <= len(incident.alerts)
    assert data.firing[-1] == len(incident.firing)


def test_an_incident_open_for_weeks_still_fits() -> None:
    incident, entries = _storm(5, every=60 * 24 * 5)
    data = volume(incident, entries, now=at(60 * 24 * 40))
    assert len(data.attached) <= MAX_BARS
    assert data.step >= timedelta(hours=12)
    assert data.start <= at(0)


@pytest.mark.parametrize("minutes", [0, 1, 7, 45, 200, 240, 900, 3000, 5000, 20_000, 150_000])
def test_every_span_draws_without_a_warning(minutes: int) -> None:
    """Warnings are errors here: matplotlib's tick locator warns on some spans when asked for
    few ticks."""
    step = declared()
    incident = step.incident
    body = chart_png(incident, list(step.entries), now=at(6 + minutes))
    assert body.startswith(b"\x89PNG")


def test_the_bars_are_the_buckets_and_the_png_reads_back() -> None:
    incident, entries = _storm(12, every=1)
    data = volume(incident, entries, now=at(40))
    fig = figure(data, title="INC-1042")
    [bars] = fig.axes[0].containers
    assert len(bars) == len(data.attached)
    assert [round(b.get_height()) for b in bars] == list(data.attached)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert {"alerts firing", "declared"} <= set(labels)
    image = Image.open(io.BytesIO(chart_png(incident, entries, now=at(40))))
    assert (image.format, image.size) == ("PNG", (900, 360))
