"""The one severity vocabulary for label-based senders (Alertmanager, Grafana, generic JSON).

Prometheus-style alerts carry their severity as free text in a label, so every parser that
reads one maps the same words the same way, here. Words are matched after stripping blanks
and lower-casing (`" P1 "` is `p1`):

- critical: critical, crit, page, p1, fatal, emergency
- error:    error, err, high, major, p2
- warning:  warning, warn, medium, minor, p3
- info:     info, low, none, ok, p4, p5

`severity_from_labels` looks at the labels `severity`, `priority`, `level`, in that order, and
takes the first one whose value is a known word; an unknown word in `severity` therefore
falls through to `priority` and `level`. When none is known, the result is `default`
(warning unless the caller says otherwise). Pure: no I/O, no logging.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from incidentd.model import Severity

_WORDS_BY_SEVERITY: dict[Severity, tuple[str, ...]] = {
    Severity.CRITICAL: ("critical", "crit", "page", "p1", "fatal", "emergency"),
    Severity.ERROR: ("error", "err", "high", "major", "p2"),
    Severity.WARNING: ("warning", "warn", "medium", "minor", "p3"),
    Severity.INFO: ("info", "low", "none", "ok", "p4", "p5"),
}

SEVERITY_WORDS: Mapping[str, Severity] = MappingProxyType(
    {word: severity for severity, words in _WORDS_BY_SEVERITY.items() for word in words}
)
"""Every accepted word (lower case) and the severity it means."""

SEVERITY_LABELS: tuple[str, ...] = ("severity", "priority", "level")
"""The labels read by `severity_from_labels`, first match wins."""


def severity_from_word(word: str) -> Severity | None:
    """The severity a word means (case and surrounding blanks ignored), or None if unknown."""
    return SEVERITY_WORDS.get(word.strip().lower())


def severity_from_labels(
    labels: Mapping[str, str], *, default: Severity = Severity.WARNING
) -> Severity:
    """The severity named by the first of SEVERITY_LABELS holding a known word, else `default`."""
    for label in SEVERITY_LABELS:
        value = labels.get(label)
        if value is None:
            continue
        severity = severity_from_word(value)
        if severity is not None:
            return severity
    return default
