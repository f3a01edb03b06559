"""Correlation rules and time windows: which group an alert joins.

Rules (rules.yaml) are tried in order; the first whose matchers all match takes the alert.
An alert no rule takes falls to the built-in rule `by-service`: grouped by the impact-map
service, and unmapped alerts (no service) by alert name in the visible "unmapped" bucket.

A rule's group key is its name plus the values of its `group_by` fields and labels. An alert
joins the open group of its key if that group still accepts alerts: its last alert is at most
`window` old (sliding) and the group itself at most `max_age` old. With `topology: true`, an
alert also joins an accepting group of the same rule that holds a service within
`topology_hops` of the alert's service in the dependency graph (a cascade is one group). When
several groups accept, the one with the exact key wins, then the most recently active one.
Groups are never merged after the fact.

A group resolves when none of its members fires and `quiet_period` has passed since the last
one resolved. The functions here are pure; the engine keeps the groups and applies them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson

from incidentd.correlate import matchers
from incidentd.correlate.dedup import AlertState
from incidentd.model import Alert, Status
from incidentd.rules.schema import Flapping, RulesFile

DEFAULT_RULE = "by-service"
UNMAPPED = "unmapped"


@dataclass(frozen=True, slots=True)
class Rule:
    """A correlation rule with the defaults of rules.yaml applied."""

    name: str
    matchers: tuple[matchers.Matcher, ...]
    group_by: tuple[str, ...]
    topology: bool
    hops: int
    window: timedelta
    max_age: timedelta
    quiet_period: timedelta
    alert_ttl: timedelta | None
    flapping: Flapping


def compile_rules(spec: RulesFile) -> tuple[Rule, ...]:
    """The rules in order, with `by-service` last (it takes every alert)."""
    d = spec.defaults
    out = [
        Rule(
            name=r.name,
            matchers=r.match,
            group_by=r.group_by,
            topology=r.topology,
            hops=r.topology_hops or d.topology_hops,
            window=r.window or d.window,
            max_age=r.max_age or d.max_age,
            quiet_period=r.quiet_period if r.quiet_period is not None else d.quiet_period,
            alert_ttl=r.alert_ttl or d.alert_ttl,
            flapping=r.flapping or d.flapping,
        )
        for r in spec.rules
    ]
    out.append(
        Rule(
            name=DEFAULT_RULE,
            matchers=(),
            group_by=("service",),
            topology=False,
            hops=d.topology_hops,
            window=d.window,
            max_age=d.max_age,
            quiet_period=d.quiet_period,
            alert_ttl=d.alert_ttl,
            flapping=d.flapping,
        )
    )
    return tuple(out)


def rule_for(alert: Alert, service: str | None, rules: Iterable[Rule]) -> Rule:
    """The first rule whose matchers all match (`service` is the impact-map service)."""
    for rule in rules:
        if matchers.all_match(rule.matchers, alert, service):
            return rule
    raise ValueError("no rule took the alert: compile_rules always ends with a catch-all")


def fields_read(rules: Iterable[Rule]) -> frozenset[str]:
    """The alert fields (not labels) the rules' matchers read; `service` among them means
    the impact-map service, which `rule_for` is given."""
    return frozenset(m.field for rule in rules for m in rule.matchers if m.field)


def _value(name: str, alert: Alert, service: str | None) -> str:
    if name == "service":
        return service if service is not None else f"{UNMAPPED}:{alert.name}"
    if name in ("name", "source", "severity"):
        return str(getattr(alert, name))
    return alert.labels.get(name.removeprefix("labels."), "")


def group_key(rule: Rule, alert: Alert, service: str | None) -> str:
    """`rule` + the group_by values, as JSON (unambiguous whatever the values hold)."""
    values = [[name, _value(name, alert, service)] for name in rule.group_by]
    return orjson.dumps([rule.name, values]).decode()


def group_id(key: str, opened_at: datetime) -> str:
    """Deterministic: the same alerts give the same ids in the daemon, in replay, and in
    every replica."""
    digest = hashlib.blake2b(f"{key}|{opened_at.isoformat()}".encode(), digest_size=6)
    return "G-" + digest.hexdigest()


class GroupState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(slots=True)
class Member:
    """What a group needs to know of one member alert."""

    status: Status
    service: str | None
    silenced: bool = False
    flapping: bool = False


@dataclass(slots=True)
class Group:
    """A group of correlated alerts. Mutable: the engine applies changes in place, so that the
    cost of an alert does not grow with the size of its group."""

    id: str
    rule: str
    key: str
    rules_version: str
    opened_at: datetime
    last_seen: datetime
    state: GroupState = GroupState.OPEN
    resolved_at: datetime | None = None
    quiet_since: datetime | None = None
    members: dict[str, Member] = field(default_factory=dict)
    firing: int = 0
    """Members firing now (silenced and flapping included)."""
    driving: int = 0
    """Members firing, not silenced and not flapping: what may drive decisions."""
    services: dict[str, int] = field(default_factory=dict)
    """Impact-map services with firing members, and how many."""
    root_causes: tuple[str, ...] = ()
    blast_radius: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    unmapped: bool = False
    size: int = 0
    """Members, kept here so that a group read without its members still says how many."""

    def view(
        self, alerts: Mapping[str, AlertState] | None = None, *, members: bool = True
    ) -> dict[str, Any]:
        """The group as the API and replay show it (JSON-ready through orjson)."""
        out: dict[str, Any] = {
            "id": self.id,
            "rule": self.rule,
            "key": self.key,
            "state": self.state,
            "opened_at": self.opened_at,
            "last_seen": self.last_seen,
            "resolved_at": self.resolved_at,
            "firing": self.firing,
            "driving": self.driving,
            "size": self.size,
            "services": sorted(self.services),
            "root_causes": list(self.root_causes),
            "blast_radius": list(self.blast_radius),
            "capabilities": list(self.capabilities),
            "unmapped": self.unmapped,
            "rules_version": self.rules_version,
        }
        if members:
            out["members"] = [
                _member_view(fp, m, (alerts or {}).get(fp))
                for fp, m in sorted(self.members.items())
            ]
        return out

    def accepts(self, at: datetime, rule: Rule) -> bool:
        return (
            self.state is GroupState.OPEN
            and at - self.last_seen <= rule.window
            and at - self.opened_at <= rule.max_age
        )

    def set_member(self, fingerprint: str, member: Member | None) -> bool:
        """Add, update or (None) remove a member; return whether the set of firing services
        changed (then root causes and blast radius need computing again)."""
        before = self.members.get(fingerprint)
        left = self._count(before, -1) if before is not None else None
        if member is None:
            self.members.pop(fingerprint, None)
            joined = None
        else:
            self.members[fingerprint] = member
            joined = self._count(member, +1)
        self.size = len(self.members)
        if left is not None and joined is not None:
            return left != joined  # the same service left and came back: no change
        return left is not None or joined is not None

    def _count(self, member: Member, sign: int) -> str | None:
        """Count a member in (+1) or out (-1); return its service if that service entered or
        left the set of firing services."""
        if member.status is not Status.FIRING:
            return None
        self.firing += sign
        if not (member.silenced or member.flapping):
            self.driving += sign
        if member.service is None:
            return None
        count = self.services.get(member.service, 0) + sign
        if count:
            self.services[member.service] = count
        else:
            del self.services[member.service]
        return member.service if count in (0, 1) and (count == 0 or sign > 0) else None


def _member_view(fingerprint: str, member: Member, state: AlertState | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "fingerprint": fingerprint,
        "status": member.status,
        "service": member.service,
        "silenced": member.silenced,
        "flapping": member.flapping,
    }
    if state is not None:
        out.update(
            name=state.name,
            title=state.title,
            severity=state.severity,
            source=state.source,
            starts_at=state.starts_at,
            ends_at=state.ends_at,
            count=state.count,
            silenced_by=list(state.silenced_by),
            url=state.url,
        )
    return out


def pick(candidates: Iterable[Group], *, key: str, at: datetime, rule: Rule) -> Group | None:
    """The group an alert joins among the candidates, or None to open a new one: its own
    key's, else the one most recently seen, else (a tie: one webhook's alerts share a time)
    the oldest, then the smallest id. Never the order of the candidates, which come from
    sets (their order changes with the interpreter's hash seed: from process to process)."""
    best: Group | None = None
    for group in candidates:
        if group.rule != rule.name or not group.accepts(at, rule):
            continue
        if group.key == key:
            return group
        if best is None or _before(group, best):
            best = group
    return best


def _before(group: Group, other: Group) -> bool:
    if group.last_seen != other.last_seen:
        return group.last_seen > other.last_seen
    return (group.opened_at, group.id) < (other.opened_at, other.id)


def resolve_due(group: Group, rule: Rule) -> datetime | None:
    """When the group resolves if nothing fires again: quiet_period after the last resolve."""
    if group.state is not GroupState.OPEN or group.firing or group.quiet_since is None:
        return None
    return group.quiet_since + rule.quiet_period
