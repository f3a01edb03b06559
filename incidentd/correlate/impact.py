"""The service-impact map: which service an alert is about, and what a failure reaches.

Built once per configuration load (`ImpactMap.build(services_file)`), then only read: no I/O,
no clock. Graph answers are computed on first use and cached (bounded caches, FIFO eviction).

**Mapping an alert** (`service_for`), first rule that gives an answer wins:
1. the alert's own `service` is a service's name or alias (case-insensitive);
2. the selectors (`match:`): a service matches when every matcher of one of its selectors
   matches; when several do, the selector first in the file wins (services in file order,
   then each service's selectors in order), so the answer never depends on timing;
3. otherwise None: the alert is unmapped (the caller keeps it in a visible bucket).

Cost per alert does not grow with the number of services: every selector with an equality
matcher (`name="value"`) is indexed under one (name, value) pair of its own (the pair fewest
selectors share, a non-empty value preferred), so an alert is only checked against the
selectors whose pair it carries. Selectors made only of `!=`, `=~` and `!~` matchers cannot be
indexed: they are checked one by one on every alert that step 1 does not map (those written
before the first indexed selector that matches): prefer equality matchers in big maps.

**The graph.** `depends_on` points from a service to what it needs (downstream). A failure
spreads upstream, to the services that depend on the failing one. Names that are not services
(check reports them) are ignored; so are self-edges, and cycles cannot hang a query.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from incidentd.correlate.matchers import Matcher
from incidentd.model import Alert
from incidentd.rules.schema import Capability, Criticality, Service, ServicesFile

CRITICALITY_RANK: Mapping[str, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3}
"""Sort order of criticality: most critical first."""
CACHE_SIZE = 4096
"""Entries per graph cache. A closure can hold thousands of names in a 10,000-service map."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Cache(Generic[K, V]):
    """A dict that forgets its oldest entry beyond `limit` entries."""

    __slots__ = ("_data", "_limit")

    def __init__(self, limit: int) -> None:
        self._data: dict[K, V] = {}
        self._limit = limit

    def get(self, key: K, compute: Callable[[], V]) -> V:
        try:
            return self._data[key]
        except KeyError:
            pass
        value = compute()
        if len(self._data) >= self._limit:
            del self._data[next(iter(self._data))]
        self._data[key] = value
        return value


@dataclass(frozen=True, slots=True)
class BlastRadius:
    """What a set of failing services reaches: themselves, every service that depends on one
    of them (transitively), and the capabilities of all those services.

    The stakes add each service's own `users_per_minute` / `revenue_per_minute` once, plus
    each capability's once, however many of the services serve it: these are sums over the
    distinct members of `services` and `capabilities`, never over paths through the graph.
    """

    services: frozenset[str]
    capabilities: frozenset[str]
    customer_facing: bool
    users_per_minute: float
    revenue_per_minute: float


@dataclass(frozen=True, slots=True)
class _Selector:
    order: int
    service: str
    matchers: tuple[Matcher, ...]
    """What is left to check: every matcher but the one the index found it by."""


def _order(selector: _Selector) -> int:
    return selector.order


def _selects(matchers: tuple[Matcher, ...], alert: Alert) -> bool:
    """matchers.all_match, as a plain loop: three times faster than all() on a generator."""
    for matcher in matchers:  # noqa: SIM110 (all() over a generator is 3x slower)
        if not matcher.matches(alert):
            return False
    return True


_Index = tuple[tuple[Matcher, Mapping[str, tuple[_Selector, ...]]], ...]


def _index_key(matcher: Matcher) -> tuple[str, str]:
    return matcher.name, matcher.value


def _index_selectors(selectors: list[_Selector]) -> tuple[_Index, tuple[_Selector, ...]]:
    """Split selectors into an index by one equality pair each, and the rest (linear)."""
    shared = Counter(_index_key(m) for s in selectors for m in set(s.matchers) if m.op == "=")
    by_name: dict[str, tuple[Matcher, dict[str, list[_Selector]]]] = {}
    linear: list[_Selector] = []
    for selector in selectors:
        equalities = [m for m in selector.matchers if m.op == "="]
        if not equalities:
            linear.append(selector)
            continue
        key = min(equalities, key=lambda m: (m.value == "", shared[_index_key(m)]))
        _, values = by_name.setdefault(key.name, (key, {}))
        rest = tuple(m for m in selector.matchers if m != key)
        values.setdefault(key.value, []).append(_Selector(selector.order, selector.service, rest))
    index = tuple(
        (matcher, {value: tuple(found) for value, found in values.items()})
        for matcher, values in by_name.values()
    )
    return index, tuple(linear)


def _closure(start: str, edges: Mapping[str, tuple[str, ...]]) -> frozenset[str]:
    """Every name reachable from `start` along `edges`, without `start` itself."""
    seen = {start}
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    seen.discard(start)
    return frozenset(seen)


@dataclass(frozen=True, slots=True, eq=False)
class ImpactMap:
    """The map of services, built by `ImpactMap.build`; see the module docstring."""

    services: Mapping[str, Service]
    capabilities: Mapping[str, Capability]
    _names: Mapping[str, str] = field(repr=False)
    _down: Mapping[str, tuple[str, ...]] = field(repr=False)
    _up: Mapping[str, tuple[str, ...]] = field(repr=False)
    _index: _Index = field(repr=False)
    _linear: tuple[_Selector, ...] = field(repr=False)
    _upstream: _Cache[str, frozenset[str]] = field(repr=False)
    _radius: _Cache[frozenset[str], BlastRadius] = field(repr=False)
    _related: _Cache[tuple[str, int], frozenset[str]] = field(repr=False)
    _roots: _Cache[frozenset[str], tuple[str, ...]] = field(repr=False)
    fields: frozenset[str] = frozenset()
    """The alert fields (not labels) that some selector reads: with the alert's `service` and
    labels, all that `service_for` depends on."""

    @classmethod
    def build(cls, services: ServicesFile, *, cache_size: int = CACHE_SIZE) -> ImpactMap:
        spec = services.services
        names: dict[str, str] = {}
        for name, service in spec.items():  # aliases first: a service's own name wins
            for alias in service.aliases:
                names.setdefault(alias.casefold(), name)
        names.update({name.casefold(): name for name in spec})
        down = {
            name: tuple(dict.fromkeys(d for d in s.depends_on if d in spec and d != name))
            for name, s in spec.items()
        }
        up: dict[str, list[str]] = {name: [] for name in spec}
        for name, needs in down.items():
            for dependency in needs:
                up[dependency].append(name)
        pairs = ((name, matchers) for name, s in spec.items() for matchers in s.match)
        selectors = [_Selector(i, name, matchers) for i, (name, matchers) in enumerate(pairs)]
        index, linear = _index_selectors(selectors)
        return cls(
            services=dict(spec),
            capabilities=dict(services.capabilities),
            _names=names,
            _down=down,
            _up={name: tuple(found) for name, found in up.items()},
            _index=index,
            _linear=linear,
            _upstream=_Cache(cache_size),
            _radius=_Cache(cache_size),
            _related=_Cache(cache_size),
            _roots=_Cache(cache_size),
            fields=frozenset(m.field for s in selectors for m in s.matchers if m.field),
        )

    # --- services ----------------------------------------------------------------------------

    def resolve(self, name: str) -> str | None:
        """The service called `name` or aliased so (case-insensitive), else None."""
        return self._names.get(name.casefold())

    def service(self, name: str) -> Service | None:
        return self.services.get(name)

    def owner(self, name: str) -> str | None:
        found = self.services.get(name)
        return None if found is None else found.owner

    def criticality(self, name: str) -> Criticality | None:
        found = self.services.get(name)
        return None if found is None else found.criticality

    def service_for(self, alert: Alert) -> str | None:
        """The service `alert` belongs to, or None (unmapped); see the module docstring."""
        if alert.service:
            own = self._names.get(alert.service.casefold())
            if own is not None:
                return own
        candidates: list[_Selector] = []
        for matcher, by_value in self._index:
            found = by_value.get(matcher.value_of(alert))
            if found is not None:
                candidates.extend(found)
        if len(candidates) > 1:
            candidates.sort(key=_order)
        winner = None
        for candidate in candidates:
            if _selects(candidate.matchers, alert):
                winner = candidate
                break
        # a linear (unindexed) selector wins only when it comes before the indexed winner
        before = (
            len(self._linear)
            if winner is None
            else bisect_left(self._linear, winner.order, key=_order)
        )
        for i in range(before):
            if _selects(self._linear[i].matchers, alert):
                return self._linear[i].service
        return None if winner is None else winner.service

    # --- graph -------------------------------------------------------------------------------

    def dependencies(self, name: str) -> tuple[str, ...]:
        """What `name` needs directly (its known `depends_on`)."""
        return self._down.get(name, ())

    def dependents(self, name: str) -> tuple[str, ...]:
        """The services that need `name` directly."""
        return self._up.get(name, ())

    def upstream(self, name: str) -> frozenset[str]:
        """Every service that depends on `name`, directly or transitively (not `name`)."""
        return self._upstream.get(name, lambda: _closure(name, self._up))

    def blast_radius(self, failing: Iterable[str]) -> BlastRadius:
        """What the failure of `failing` reaches (see BlastRadius). Unknown names count for
        nothing; the failing services themselves are part of the radius."""
        known = frozenset(name for name in failing if name in self.services)
        return self._radius.get(known, lambda: self._compute_radius(known))

    def _compute_radius(self, failing: frozenset[str]) -> BlastRadius:
        reached = set(failing)
        for name in failing:
            reached |= self.upstream(name)
        services = [self.services[name] for name in reached]
        capabilities = frozenset(c for s in services for c in s.capabilities)
        stakes: list[Service | Capability] = [*services]
        stakes += [self.capabilities[c] for c in capabilities if c in self.capabilities]
        return BlastRadius(
            services=frozenset(reached),
            capabilities=capabilities,
            customer_facing=any(s.customer_facing for s in services),
            # fsum is exact, so the sums do not depend on the order sets are walked in
            users_per_minute=math.fsum(s.users_per_minute for s in stakes),
            revenue_per_minute=math.fsum(s.revenue_per_minute for s in stakes),
        )

    def root_causes(self, failing: Iterable[str]) -> tuple[str, ...]:
        """The root-cause candidates among `failing`: its most downstream members.

        A failing service is a candidate when none of its dependencies, direct or transitive,
        also fails: when the database and the API above it fail, the API is a consequence and
        the database the candidate. Two failures with no dependency path between them give two
        candidates; when everything fails, the candidates are the leaves. Names that are not
        services are ignored. Sorted most critical first, then by name. Should every failing
        service depend on another (a dependency cycle, which `check` rejects), all of them are
        returned rather than none.

        Kept per set of names, like the blast radius: an incident's root causes (a storm
        incident has hundreds) are looked at again each time one of its groups is assessed.
        """
        known = frozenset(name for name in failing if name in self.services)
        return self._roots.get(known, lambda: self._compute_roots(known))

    def _compute_roots(self, known: frozenset[str]) -> tuple[str, ...]:
        consequences: set[str] = set()
        for name in known:
            consequences |= self.upstream(name) & known
        roots = (known - consequences) or known
        return tuple(
            sorted(roots, key=lambda n: (CRITICALITY_RANK[self.services[n].criticality], n))
        )

    def related(self, name: str, hops: int) -> frozenset[str]:
        """`name`, what it needs within `hops` edges (following depends_on), and what needs it
        within `hops` edges (the reverse): the services on a dependency chain through it,
        where one failure can cause the other. Not its siblings: two services that share a
        dependent (auth and orders-db, both behind the gateway) are not related by that,
        or every failure behind a hub would join one group. Empty for an unknown name."""
        return self._related.get((name, hops), lambda: self._neighbourhood(name, hops))

    def _neighbourhood(self, name: str, hops: int) -> frozenset[str]:
        if name not in self.services:
            return frozenset()
        seen = {name}
        for edges in (self._down, self._up):  # one direction at a time: a chain, not a tree
            frontier = [name]
            for _ in range(hops):
                step = [n for f in frontier for n in edges[f] if n not in seen]
                seen.update(step)
                frontier = list(dict.fromkeys(step))
                if not frontier:
                    break
        return frozenset(seen)
