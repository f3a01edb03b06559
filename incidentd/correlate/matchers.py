"""Label matchers, written as SREs know them from Alertmanager: `name="x"`, `name!="x"`,
`name=~"re"`, `name!~"re"`. Used by correlation rules, silences and service selectors.

A matcher's name addresses the normalized alert: `source`, `name`, `title`, `service`,
`severity` and `status` are the alert's own fields (the same for every source); any other
name is a label, and `labels.X` addresses the label X explicitly (for a label called
`service`, say). A missing label matches as the empty string, as in Alertmanager, so
`team!=""` means "has a team label". Regexes are anchored (`=~"db"` matches only "db").
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, Protocol


class Subject(Protocol):
    """What matchers read: a normalized Alert, or the engine's stored state of one."""

    @property
    def labels(self) -> Mapping[str, str]: ...


_SENDERS = object()

Op = Literal["=", "!=", "=~", "!~"]
FIELDS = frozenset({"source", "name", "title", "service", "severity", "status"})
_SYNTAX = re.compile(
    r'^\s*(?P<name>[A-Za-z_][A-Za-z0-9_.\-/]*)\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*$'
)
_UNESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Op
    value: str
    pattern: re.Pattern[str] | None = None
    _label: str | None = field(default=None, init=False, compare=False, repr=False)
    """The label this matcher reads, or None when it reads a field: decided once, here, since
    matchers run several times per alert (rules, selectors, silences)."""
    _test: Callable[[str], bool] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        label = None
        if self.name.startswith("labels."):
            label = self.name[7:]
        elif self.name not in FIELDS:
            label = self.name
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_test", self._tester())

    def _tester(self) -> Callable[[str], bool]:
        if self.op == "=":
            return self.value.__eq__
        if self.op == "!=":
            return self.value.__ne__
        if self.pattern is None:
            raise ValueError(f"a {self.op} matcher needs a compiled pattern")
        # partials of module functions, not lambdas: an engine (its compiled rules) pickles
        return partial(_found if self.op == "=~" else _not_found, self.pattern.fullmatch)

    @property
    def field(self) -> str | None:
        """The alert field this matcher reads (`name`, `severity`...), or None for a label."""
        return self.name if self._label is None else None

    def value_of(self, alert: Subject, service: str | object | None = _SENDERS) -> str:
        """The value this matcher looks at. `service`, when given, is the impact-map service
        the alert belongs to, which then stands for the `service` field (rules and silences
        see where the alert landed on the map, not only what its sender called it)."""
        label = self._label
        if label is not None:
            return alert.labels.get(label, "")
        if service is not _SENDERS and self.name == "service":
            return str(service or "")
        return str(getattr(alert, self.name) or "")

    def matches(self, alert: Subject, service: str | object | None = _SENDERS) -> bool:
        label = self._label
        if label is not None:  # the common case, inlined: this runs for every alert
            return self._test(alert.labels.get(label, ""))
        return self._test(self.value_of(alert, service))

    def matches_value(self, value: str) -> bool:
        return self._test(value)

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def parse(text: str) -> Matcher:
    """Parse `name<op>"value"`; raise ValueError naming what is wrong (bad syntax, bad regex)."""
    match = _SYNTAX.match(text)
    if match is None:
        raise ValueError(
            f'{text!r} is not a matcher like name="value", name!="value", '
            'name=~"regex" or name!~"regex"'
        )
    name, op = match.group("name"), match.group("op")
    value = _UNESCAPE.sub(r"\1", match.group("value"))
    pattern = None
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regex in {text!r}: {exc}") from None
    return Matcher(name, op, value, pattern)  # type: ignore[arg-type]


def all_match(
    matchers: Iterable[Matcher], alert: Subject, service: str | object | None = _SENDERS
) -> bool:
    for matcher in matchers:  # noqa: SIM110 (a plain loop: all() over a generator costs 3x here)
        if not matcher.matches(alert, service):
            return False
    return True


def _found(fullmatch: Callable[[str], re.Match[str] | None], value: str) -> bool:
    return fullmatch(value) is not None


def _not_found(fullmatch: Callable[[str], re.Match[str] | None], value: str) -> bool:
    return fullmatch(value) is None
