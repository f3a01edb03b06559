"""Checks across a whole configuration that one file's schema cannot make.

`validate` returns every problem with the file and the location (the pydantic-style path of
keys and indexes) it is about; the loader turns locations into line numbers. Warnings do not
stop a configuration from loading; errors do. Pure: no I/O, no clock (so a silence that has
already ended is not reported here).

Errors (services.yaml): `depends_on` naming an unknown service or the service itself, a
dependency cycle, a capability not declared under `capabilities:`, an alias that is another
service's name or alias (case-insensitive: an alert could not be mapped unambiguously).
Errors (rules.yaml): two rules with one name; a `group_by` entry that is neither a field
(GROUP_BY_FIELDS) nor a label name (the matcher name syntax, `labels.X` included).
Errors (declaration.yaml): a per-service or per-capability policy override naming a service
or capability that services.yaml does not declare (it would silently never apply).
Warnings: a priority matrix in which less impact or less urgency gives a more urgent
priority (allowed, but almost always a slip); an empty service selector (it takes every
alert); a rule after a rule without matchers (it never takes an alert); a rule with the same
matchers as a rule above it (same);
a `service="x"` matcher in rules.yaml or silences.yaml when services.yaml has no service
named `x` (only when the map has services; rules and silences see the mapped service's name,
so an alias there never matches).
oncall.yaml (`oncall`): errors for a rotation or override naming nobody under `people:` and
two layers of one team with one name; warnings for a team without layers, a person no tool
can reach, and (when oncall.yaml has teams) an owner team in services.yaml without a schedule.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from incidentd.act.config import TargetsFile
from incidentd.act.oncall import OncallFile
from incidentd.act.routing import RoutingFile
from incidentd.correlate.matchers import FIELDS, Matcher
from incidentd.rules.schema import (
    GROUP_BY_FIELDS,
    CorrelationRule,
    DeclarationFile,
    ImpactLevel,
    Matrix,
    RulesFile,
    Service,
    ServicesFile,
    SilencesFile,
    SourcesFile,
    UrgencyLevel,
)

SERVICES = "services.yaml"
RULES = "rules.yaml"
SILENCES = "silences.yaml"
DECLARATION = "declaration.yaml"
ROUTING = "routing.yaml"
ONCALL = "oncall.yaml"
SOURCES = "sources.yaml"
_LABEL = re.compile(r"^(labels\.)?[A-Za-z_][A-Za-z0-9_.\-/]*$")
"""A label name as a matcher may write it."""


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    loc: tuple[str | int, ...]
    message: str
    warning: bool = False
    key: bool = False
    """The problem is the key at `loc` itself (a name), not its value: report the key's line."""


def validate(
    services: ServicesFile,
    rules: RulesFile,
    silences: SilencesFile,
    *,
    declaration: DeclarationFile | None = None,
) -> list[Problem]:
    problems = [
        *_dependencies(services.services),
        *_cycles(services.services),
        *_capabilities(services),
        *_aliases(services.services),
        *_selectors(services.services),
        *_rule_names(rules.rules),
        *_group_by(rules.rules),
        *_shadowed_rules(rules.rules),
        *_silence_names(silences),
    ]
    if services.services:
        names = {a.casefold(): n for n, s in services.services.items() for a in (*s.aliases, n)}
        problems += _service_matchers(RULES, "rules", [r.match for r in rules.rules], names)
        silence_matchers = [s.match for s in silences.silences]
        problems += _service_matchers(SILENCES, "silences", silence_matchers, names)
    if declaration is not None:
        problems += _policy_overrides(services, declaration)
        problems += _matrix_order(declaration.scoring.matrix)
    return problems


def sources(config: SourcesFile) -> list[Problem]:
    """An Alertmanager API whose `sender` is not the one the source puts in fingerprints
    closes nothing (unless every webhook URL of that Alertmanager says `?sender=` so)."""
    source = config.source("alertmanager")
    own = source.sender
    if own is None:
        return []
    return [
        Problem(
            SOURCES,
            ("sources", "alertmanager", "api", i, "sender"),
            f"sender {api.sender!r} is not the source's sender {own!r}, which its alerts'"
            " identities use unless the webhook URL sets ?sender=: such an API closes nothing",
            warning=True,
        )
        for i, api in enumerate(source.api)
        if api.sender != own
    ]


def _silence_names(silences: SilencesFile) -> Iterator[Problem]:
    """Silence ids come from their names: two silences of one name would be one silence."""
    seen: dict[str, int] = {}
    for index, silence in enumerate(silences.silences):
        if silence.name in seen:
            yield Problem(
                SILENCES,
                ("silences", index, "name"),
                f"duplicate silence name {silence.name!r} "
                f"(first is silence {seen[silence.name] + 1})",
            )
        else:
            seen[silence.name] = index
        if silence.every is not None and not silence.every.days:
            yield Problem(
                SILENCES, ("silences", index, "every", "days"), "a window with no days never opens"
            )


def _did_you_mean(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- services.yaml ---------------------------------------------------------------------------


def _dependencies(services: Mapping[str, Service]) -> Iterator[Problem]:
    names = list(services)
    for name, service in services.items():
        for i, dependency in enumerate(service.depends_on):
            loc = ("services", name, "depends_on", i)
            if dependency == name:
                yield Problem(SERVICES, loc, f"service {name!r} depends on itself")
            elif dependency not in services:
                hint = _did_you_mean(dependency, names)
                message = f"service {name!r} depends on unknown service {dependency!r}{hint}"
                yield Problem(SERVICES, loc, message)


def _cycles(services: Mapping[str, Service]) -> Iterator[Problem]:
    """One error per cycle a depth-first walk finds (iterative: maps can be deep), named from
    the member that comes first in the file and reported at its `depends_on` entry."""
    position = {name: i for i, name in enumerate(services)}
    edges = {
        name: [d for d in s.depends_on if d in services and d != name]
        for name, s in services.items()
    }
    done: set[str] = set()
    seen: set[tuple[str, ...]] = set()
    for start in services:
        for cycle in _walk(start, edges, done):
            first = min(range(len(cycle)), key=lambda i: position[cycle[i]])
            cycle = cycle[first:] + cycle[:first]
            if cycle in seen:
                continue
            seen.add(cycle)
            entry = services[cycle[0]].depends_on.index(cycle[1])
            path = " -> ".join((*cycle, cycle[0]))
            loc = ("services", cycle[0], "depends_on", entry)
            yield Problem(SERVICES, loc, f"dependency cycle: {path}")


def _walk(start: str, edges: Mapping[str, list[str]], done: set[str]) -> Iterator[tuple[str, ...]]:
    """Depth-first from `start` over nodes not `done` yet; yields each cycle closed by an edge
    back into the current path (the path from that node on)."""
    if start in done:
        return
    path: list[str] = [start]
    on_path = {start: 0}
    todo = [iter(edges[start])]
    while todo:
        nxt = next(todo[-1], None)
        if nxt is None:
            node = path.pop()
            del on_path[node]
            done.add(node)
            todo.pop()
        elif nxt in on_path:
            yield tuple(path[on_path[nxt] :])
        elif nxt not in done:
            on_path[nxt] = len(path)
            path.append(nxt)
            todo.append(iter(edges[nxt]))


def _capabilities(services: ServicesFile) -> Iterator[Problem]:
    declared = list(services.capabilities)
    for name, service in services.services.items():
        for i, capability in enumerate(service.capabilities):
            if capability not in services.capabilities:
                hint = _did_you_mean(capability, declared)
                yield Problem(
                    SERVICES,
                    ("services", name, "capabilities", i),
                    f"capability {capability!r} of service {name!r} is not declared "
                    f"under capabilities:{hint}",
                )


def _aliases(services: Mapping[str, Service]) -> Iterator[Problem]:
    owners = {name.casefold(): name for name in services}
    first_alias: dict[str, str] = {}
    for name, service in services.items():
        for i, alias in enumerate(service.aliases):
            key = alias.casefold()
            if owners.get(key, name) != name:
                clash = f"the name of service {owners[key]!r}"
            elif first_alias.get(key, name) != name:
                clash = f"an alias of service {first_alias[key]!r}"
            else:
                first_alias.setdefault(key, name)
                continue
            yield Problem(
                SERVICES,
                ("services", name, "aliases", i),
                f"alias {alias!r} of service {name!r} is also {clash}: alerts naming it "
                "cannot be mapped unambiguously",
            )


def _selectors(services: Mapping[str, Service]) -> Iterator[Problem]:
    for name, service in services.items():
        for i, selector in enumerate(service.match):
            if not selector:
                yield Problem(
                    SERVICES,
                    ("services", name, "match", i),
                    f"an empty selector maps every alert to service {name!r}",
                    warning=True,
                )


# --- rules.yaml and silences.yaml ------------------------------------------------------------


def _rule_names(rules: Sequence[CorrelationRule]) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if rule.name in first:
            message = f"duplicate rule name {rule.name!r} (rule {first[rule.name] + 1} has it)"
            yield Problem(RULES, ("rules", i, "name"), message)
        first.setdefault(rule.name, i)


def _group_by(rules: Sequence[CorrelationRule]) -> Iterator[Problem]:
    fields = ", ".join(sorted(GROUP_BY_FIELDS))
    for i, rule in enumerate(rules):
        for j, key in enumerate(rule.group_by):
            if key in GROUP_BY_FIELDS:
                continue
            if key in FIELDS:
                reason = f"{key!r} is an alert field that cannot key a group (fields: {fields}"
                reason += f"; for a label called {key}, write labels.{key})"
            elif _LABEL.match(key) is None:
                reason = f"{key!r} is neither a field ({fields}) nor a label name"
            else:
                continue
            yield Problem(RULES, ("rules", i, "group_by", j), f"rule {rule.name!r}: {reason}")


def _matcher_key(rule: CorrelationRule) -> frozenset[str]:
    return frozenset(str(m) for m in rule.match)


def _shadowed_rules(rules: Sequence[CorrelationRule]) -> Iterator[Problem]:
    """Rules are tried in order and the first that matches takes the alert: a rule below a
    catch-all, or with the same matchers as a rule above it, never takes one."""
    catch_all: CorrelationRule | None = None
    above: dict[frozenset[str], CorrelationRule] = {}
    for i, rule in enumerate(rules):
        key = _matcher_key(rule)
        if catch_all is not None:
            message = (
                f"rule {rule.name!r} is unreachable: rule {catch_all.name!r} above it has "
                "no matchers and takes every alert"
            )
            yield Problem(RULES, ("rules", i), message, warning=True)
        elif key in above:
            message = (
                f"rule {rule.name!r} has the same matchers as rule {above[key].name!r} "
                "above it: it never takes an alert"
            )
            yield Problem(RULES, ("rules", i, "match"), message, warning=True)
        above.setdefault(key, rule)
        if not rule.match and catch_all is None:
            catch_all = rule


def _service_matchers(
    file: str, key: str, matcher_lists: Sequence[Sequence[Matcher]], names: Mapping[str, str]
) -> Iterator[Problem]:
    """`service` in a rule or a silence is the service the map gave the alert: its name,
    exactly (never an alias, which only the sender's own `service` field may carry)."""
    for i, matchers in enumerate(matcher_lists):
        for j, matcher in enumerate(matchers):
            named = matcher.value if matcher.name == "service" and matcher.op == "=" else ""
            if not named or names.get(named) == named:
                continue
            message = f"{matcher}: no service named {named!r} in {SERVICES}"
            if named.casefold() in names:
                message += f' (write service="{names[named.casefold()]}": rules and silences '
                message += "see the name of the service the alert was mapped to)"
            yield Problem(file, (key, i, "match", j), message, warning=True)


# --- declaration.yaml ------------------------------------------------------------------------


def _policy_overrides(services: ServicesFile, declaration: DeclarationFile) -> Iterator[Problem]:
    """An override keyed by a name the map does not know would never apply, silently."""
    policy = declaration.policy
    aliases = {a.casefold(): n for n, s in services.services.items() for a in s.aliases}
    for name in policy.services:
        if name in services.services:
            continue
        hint = _did_you_mean(name, list(services.services))
        if name.casefold() in aliases:
            hint = f" (an alias: write {aliases[name.casefold()]!r})"
        yield Problem(
            DECLARATION,
            ("policy", "services", name),
            f"policy override for {name!r}: no service named {name!r} in {SERVICES}{hint}",
            key=True,
        )
    for name in policy.capabilities:
        if name in services.capabilities:
            continue
        hint = _did_you_mean(name, list(services.capabilities))
        yield Problem(
            DECLARATION,
            ("policy", "capabilities", name),
            f"policy override for {name!r}: no capability named {name!r} under capabilities: "
            f"in {SERVICES}{hint}",
            key=True,
        )


def _matrix_order(matrix: Matrix) -> Iterator[Problem]:
    """Less impact (a row further down) or less urgency (a column further right) should never
    give a more urgent priority; reported once at each cell that does."""
    impacts = list(ImpactLevel)
    urgencies = list(UrgencyLevel)
    for i, impact in enumerate(impacts):
        for j, urgency in enumerate(urgencies):
            cell = matrix.priority(impact, urgency)
            neighbours = [(impacts[i - 1], urgency)] if i else []
            neighbours += [(impact, urgencies[j - 1])] if j else []
            calmer = [
                f"{more_impact} x {more_urgency} ({found})"
                for more_impact, more_urgency in neighbours
                if cell.above(found := matrix.priority(more_impact, more_urgency))
            ]
            if calmer:
                yield Problem(
                    DECLARATION,
                    ("scoring", "matrix", impact.value, urgency.value),
                    f"matrix: {impact} impact x {urgency} urgency is {cell}, more urgent than "
                    + " and ".join(calmer),
                    warning=True,
                )


def routing(routes: RoutingFile, targets: TargetsFile, services: ServicesFile) -> list[Problem]:
    """Every name a route uses exists: its targets in targets.yaml, its services, teams and
    capabilities in services.yaml (a typo would silently never page)."""
    teams = {s.owner for s in services.services.values()}
    known: dict[str, tuple[str, set[str], str]] = {
        "targets": ("target", set(targets.targets), "targets.yaml"),
        "services": ("service", set(services.services), SERVICES),
        "teams": ("team", teams, f"{SERVICES} (an owner)"),
        "capabilities": ("capability", set(services.capabilities), SERVICES),
    }
    problems: list[Problem] = []
    for i, route in enumerate(routes.routes):
        for attr, (what, names, where) in known.items():
            for j, name in enumerate(getattr(route, attr)):
                if name not in names:
                    near = difflib.get_close_matches(name, sorted(names), n=1)
                    hint = f" (did you mean {near[0]!r}?)" if near else ""
                    problems.append(
                        Problem(
                            ROUTING,
                            ("routes", i, attr, j),
                            f"route {route.name!r}: no {what} named {name!r} in {where}{hint}",
                        )
                    )
    return problems


# --- oncall.yaml -------------------------------------------------------------------------------


def oncall(schedules: OncallFile, services: ServicesFile) -> list[Problem]:
    """Every name a schedule uses is a person under `people:`; every owner team has a
    schedule (only once oncall.yaml has teams: a config without schedules is not nagged)."""
    problems = [*_unreachable_people(schedules), *_schedule_names(schedules)]
    if schedules.teams:
        problems += _unscheduled_owners(schedules, services)
    return problems


def _unreachable_people(schedules: OncallFile) -> Iterator[Problem]:
    for name, spec in schedules.people.items():
        if not spec.reachable():
            yield Problem(
                ONCALL,
                ("people", name),
                f"person {name!r} has no slack, email, opsgenie or pagerduty identity: "
                "no tool can reach them",
                warning=True,
                key=True,
            )


def _unknown_person(name: str, schedules: OncallFile) -> str:
    return f"no person named {name!r} under people:{_did_you_mean(name, list(schedules.people))}"


def _schedule_names(schedules: OncallFile) -> Iterator[Problem]:
    for team, schedule in schedules.teams.items():
        if not schedule.layers:
            message = f"team {team!r} has no layers: nobody is on call for it outside its overrides"
            yield Problem(ONCALL, ("teams", team), message, warning=True, key=True)
        seen: set[str] = set()
        for i, layer in enumerate(schedule.layers):
            if layer.name in seen:
                message = f"team {team!r}: two layers are named {layer.name!r}"
                yield Problem(ONCALL, ("teams", team, "layers", i, "name"), message)
            seen.add(layer.name)
            for j, name in enumerate(layer.rotation):
                if name not in schedules.people:
                    yield Problem(
                        ONCALL,
                        ("teams", team, "layers", i, "rotation", j),
                        f"team {team!r}, layer {layer.name!r}: {_unknown_person(name, schedules)}",
                    )
        for i, override in enumerate(schedule.overrides):
            if override.person not in schedules.people:
                unknown = _unknown_person(override.person, schedules)
                loc = ("teams", team, "overrides", i, "person")
                yield Problem(ONCALL, loc, f"team {team!r}, override {i + 1}: {unknown}")


def _unscheduled_owners(schedules: OncallFile, services: ServicesFile) -> Iterator[Problem]:
    owned: dict[str, list[str]] = {}
    for name, service in services.services.items():
        owned.setdefault(service.owner, []).append(name)
    for team, names in owned.items():
        if team in schedules.teams:
            continue
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        hint = _did_you_mean(team, list(schedules.teams))
        yield Problem(
            SERVICES,
            ("services", names[0], "owner"),
            f"team {team!r} (owner of {shown}) has no schedule in {ONCALL}{hint}: nobody on "
            "call is paged for its services",
            warning=True,
        )
