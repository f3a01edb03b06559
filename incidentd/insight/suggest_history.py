"""The history the suggestions learn from: recorded alerts read once, and the firing episodes
of each alert type as the engine saw them.

`read(paths, rules)` reads JSON Lines files of normalized alerts or recorded webhooks (what
`incidentd replay` reads, parsed by the same code), and keeps them as normalized alert lines in
the order received (a stable sort: files recorded by the daemon are in that order already, and
several files may be given in any order). A bad line raises `HistoryError` naming the file and
the line; so does an unreadable file or a history without a single alert.

An alert **type** is what a monitoring rule raises on one service: (impact-map service, alert
name). Its instances (hosts, pods) are fingerprints of one type. `episodes(run, history)` pairs
every start of firing in a replay with the end that followed it (the sender's resolve, or
the expiry of its time to live), in engine time (received_at): what a sustain time is
compared with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from incidentd.correlate.impact import ImpactMap
from incidentd.errors import InputError
from incidentd.insight.suggest_evidence import Run
from incidentd.model import Alert, Severity, Status
from incidentd.replay import Summary, read_alerts
from incidentd.rules.loader import RuleSet

TypeKey = tuple[str | None, str]
"""(impact-map service or None when unmapped, alert name)."""


def type_label(key: TypeKey) -> str:
    return f"{key[0] or 'unmapped'}/{key[1]}"


class HistoryError(InputError):
    """A history file that cannot be used: names the file and, when it is one, the line."""


@dataclass(slots=True)
class AlertInfo:
    """What the suggestions know of one fingerprint (the same for all its reports, but the
    severity: the highest seen while firing)."""

    type: TypeKey
    source: str
    title: str
    severity: Severity
    sample: Alert
    """Its first report: what rule matchers are tried on."""


@dataclass(slots=True)
class History:
    lines: list[bytes]
    """Normalized alerts, one JSON object a line, in the order received."""
    alerts: dict[str, AlertInfo]
    """By fingerprint."""
    first: datetime
    last: datetime
    files: tuple[str, ...]

    @property
    def span(self) -> timedelta:
        return self.last - self.first

    def types(self) -> dict[TypeKey, list[str]]:
        """Each alert type and its fingerprints."""
        out: dict[TypeKey, list[str]] = {}
        for fingerprint, info in self.alerts.items():
            out.setdefault(info.type, []).append(fingerprint)
        return out


def _read_file(path: str, rules: RuleSet) -> list[Alert]:
    try:
        with Path(path).open("rb") as handle:
            return list(read_alerts(handle, rules, Summary(), strict=True))
    except InputError as exc:
        raise HistoryError(f"{path}: {exc.message}") from None
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _remember(known: dict[str, AlertInfo], alert: Alert, *, impact: ImpactMap) -> None:
    info = known.get(alert.fingerprint)
    if info is None:
        known[alert.fingerprint] = AlertInfo(
            (impact.service_for(alert), alert.name),
            alert.source,
            alert.title,
            alert.severity,
            alert,
        )
    elif alert.status is Status.FIRING and alert.severity > info.severity:
        info.severity = alert.severity


def read(paths: Sequence[str], rules: RuleSet) -> History:
    """Every alert of `paths`, sorted by received_at (stable); raises HistoryError."""
    alerts: list[Alert] = []
    for path in paths:
        alerts.extend(_read_file(path, rules))
    if not alerts:
        raise HistoryError(f"{', '.join(paths)}: no alerts in the history")
    alerts.sort(key=lambda a: a.received_at)
    impact = ImpactMap.build(rules.services)
    known: dict[str, AlertInfo] = {}
    for alert in alerts:
        _remember(known, alert, impact=impact)
    return History(
        lines=[a.model_dump_json().encode() for a in alerts],
        alerts=known,
        first=alerts[0].received_at,
        last=alerts[-1].received_at,
        files=tuple(paths),
    )


@dataclass(frozen=True, slots=True)
class Episode:
    """One alert firing from its start to its end (None: still firing when the history ends)."""

    fingerprint: str
    type: TypeKey
    start: datetime
    end: datetime | None
    by: str | None
    """How it ended: `resolve` (by its sender) or `expire` (time to live); None: it did not."""
    group_id: str

    @property
    def duration(self) -> timedelta | None:
        return None if self.end is None else self.end - self.start


def episodes(run: Run, history: History) -> list[Episode]:
    """The episodes of every alert in `run` (the baseline replay), ordered by start."""
    ends: dict[str, list[tuple[datetime, str]]] = {}
    for end in run.ends:
        ends.setdefault(end.fingerprint, []).append((end.at, end.by))
    taken: dict[str, int] = {}
    out: list[Episode] = []
    for onset in run.onsets:  # in engine order: each start is followed by its own end
        info = history.alerts.get(onset.fingerprint)
        if info is None:
            continue
        closing = ends.get(onset.fingerprint, [])
        i = taken.get(onset.fingerprint, 0)
        while i < len(closing) and closing[i][0] < onset.at:
            i += 1  # an end without a start we saw (a resolve of an alert never seen firing)
        until, by = (closing[i][0], closing[i][1]) if i < len(closing) else (None, None)
        taken[onset.fingerprint] = i + 1
        out.append(Episode(onset.fingerprint, info.type, onset.at, until, by, onset.group_id))
    return out
