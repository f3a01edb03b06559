"""Correlation: alert types that keep starting together but land in different groups, and the
correlation rule that would put them in one.

A type's **starts** are the instants it started firing in the baseline replay (starts of its
instances within `WITHIN` of each other count once). Two types A and B **fire together** when a
start of one has a start of the other within `WITHIN`. Time windows in which more than
`STORM_TYPES` types start are left out: in a storm everything fires with everything.

Candidate pairs come from a sparse product of type x time-window indicator matrices (cost
grows with the starts, not with the square of the types); each is then counted exactly. A
pair is kept when, both ways, most starts of one come with the other (`MIN_CONFIDENCE`, or
`MIN_CONFIDENCE_SIMILAR` when their titles are alike: TF-IDF cosine at least
`MIN_SIMILARITY`), it happened at least `MIN_TOGETHER` times, `MIN_LIFT` times more than
independent Poisson arrivals at their rates would give, with a Poisson tail probability below
`ALPHA` over the number of pairs (Bonferroni), and when they landed in different groups in at
least `MIN_APART` of those times. Kept pairs that share a type form one rule (at most
`MAX_RULE_TYPES` types). Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from pydantic import ValidationError
from scipy import sparse
from scipy.stats import poisson
from sklearn.feature_extraction.text import TfidfVectorizer

from incidentd.correlate import matchers
from incidentd.correlate.grouping import compile_rules, rule_for
from incidentd.correlate.matchers import Matcher
from incidentd.errors import ConfigInvalid
from incidentd.insight.suggest_candidate import Candidate, Finding, changed_ruleset
from incidentd.insight.suggest_evidence import Evidence
from incidentd.insight.suggest_history import Episode, History, TypeKey, type_label
from incidentd.rules.loader import RuleSet
from incidentd.rules.schema import CorrelationRule, RulesFile

WITHIN = timedelta(seconds=60)
MIN_TOGETHER = 5
MIN_CONFIDENCE = 0.7
MIN_CONFIDENCE_SIMILAR = 0.5
MIN_SIMILARITY = 0.5
MIN_LIFT = 3.0
ALPHA = 0.01
MIN_APART = 0.5
STORM_TYPES = 25
MAX_RULE_TYPES = 8
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SLUG = re.compile(r"[^a-z0-9]+")
_REGEX_SPECIAL = re.compile(r"[.^$*+?{}\[\]\\|()]")
"""What a literal needs escaped in a regex (re.escape also escapes `-`: noise in YAML)."""


@dataclass(frozen=True, slots=True)
class Starts:
    seconds: np.ndarray[Any, Any]
    """Seconds since the history's first alert, sorted."""
    groups: tuple[str, ...]
    """The group each start landed in (baseline)."""


@dataclass(frozen=True, slots=True)
class Pair:
    a: TypeKey
    b: TypeKey
    starts: tuple[int, int]
    together: tuple[int, int]
    """Starts of A with a start of B within WITHIN, and of B with one of A."""
    expected: tuple[float, float]
    p_value: float
    similarity: float
    apart: float
    """Share of A's starts with B in which the two landed in different groups."""

    @property
    def confidence(self) -> float:
        return min(t / n for t, n in zip(self.together, self.starts, strict=True))

    @property
    def lift(self) -> float:
        return min(t / max(e, 1e-9) for t, e in zip(self.together, self.expected, strict=True))

    def view(self) -> dict[str, Any]:
        return {
            "types": [type_label(self.a), type_label(self.b)],
            "starts": list(self.starts),
            "together": list(self.together),
            "expected_if_independent": [round(e, 3) for e in self.expected],
            "p_value": float(f"{self.p_value:.3g}"),
            "title_similarity": round(self.similarity, 3),
            "apart": round(self.apart, 3),
        }

    def line(self) -> str:
        (na, nb), (ta, tb) = self.starts, self.together
        return (
            f"{type_label(self.a)} and {type_label(self.b)} started within "
            f"{WITHIN.total_seconds():g} s of each other: {ta} of {na} and {tb} of {nb} times "
            f"(independent: {self.expected[0]:.2g}; p = {self.p_value:.2g}); titles alike "
            f"{self.similarity:.2f}; in different groups {self.apart:.0%} of those times"
        )


def starts_of(episodes: Sequence[Episode], history: History) -> dict[TypeKey, Starts]:
    """Each type's starts (instances starting within WITHIN of the last kept start: once)."""
    gap = WITHIN.total_seconds()
    found: dict[TypeKey, tuple[list[float], list[str]]] = {}
    for e in episodes:
        at = (e.start - history.first).total_seconds()
        times, groups = found.setdefault(e.type, ([], []))
        if times and at - times[-1] <= gap:
            continue
        times.append(at)
        groups.append(e.group_id)
    return {k: Starts(np.array(t), tuple(g)) for k, (t, g) in found.items()}


def _without_storms(starts: dict[TypeKey, Starts]) -> dict[TypeKey, Starts]:
    gap = WITHIN.total_seconds()
    per_window: dict[int, int] = {}
    for s in starts.values():
        for window in np.unique((s.seconds // gap).astype(np.int64)):
            per_window[int(window)] = per_window.get(int(window), 0) + 1
    storms = {w for w, n in per_window.items() if n > STORM_TYPES}
    if not storms:
        return starts
    out = {}
    for key, s in starts.items():
        keep = [int(t // gap) not in storms for t in s.seconds]
        groups = tuple(g for g, k in zip(s.groups, keep, strict=True) if k)
        out[key] = Starts(s.seconds[keep], groups)
    return out


def _candidates(keys: list[TypeKey], starts: dict[TypeKey, Starts]) -> list[tuple[int, int]]:
    """Pairs of type indexes that start in neighbouring windows at least MIN_TOGETHER times:
    X (types x windows) times Y (the same, widened by a window each way), transposed."""
    gap = WITHIN.total_seconds()
    rows, cols, wide_rows, wide_cols = [], [], [], []
    for i, key in enumerate(keys):
        windows = np.unique((starts[key].seconds // gap).astype(np.int64))
        rows.append(np.full(len(windows), i))
        cols.append(windows)
        for shift in (-1, 0, 1):
            wide_rows.append(np.full(len(windows), i))
            wide_cols.append(windows + shift + 1)
    width = int(max((c.max() for c in cols if len(c)), default=0)) + 3
    shape = (len(keys), width)
    x = _indicator(np.concatenate(rows), np.concatenate(cols) + 1, shape)
    y = _indicator(np.concatenate(wide_rows), np.concatenate(wide_cols), shape)
    both = (x @ y.T).tocsr()
    counts = sparse.triu(both.maximum(both.T), k=1).tocoo()
    keep = counts.data >= MIN_TOGETHER
    return list(zip(counts.row[keep].tolist(), counts.col[keep].tolist(), strict=True))


def _indicator(
    rows: np.ndarray[Any, Any], cols: np.ndarray[Any, Any], shape: tuple[int, int]
) -> Any:
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
    matrix.data[:] = 1.0  # duplicates were summed
    return matrix


def _near(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """For each time of `a`, the index of the nearest time of `b` within WITHIN, or -1."""
    gap = WITHIN.total_seconds()
    right = np.searchsorted(b, a, side="left")
    left = np.clip(right - 1, 0, len(b) - 1)
    right = np.clip(right, 0, len(b) - 1)
    pick = np.where(np.abs(b[left] - a) <= np.abs(b[right] - a), left, right)
    return np.where(np.abs(b[pick] - a) <= gap, pick, -1)


def _pair(
    a: tuple[TypeKey, Starts], b: tuple[TypeKey, Starts], *, span: float, similarity: float
) -> Pair:
    (a_key, sa), (b_key, sb) = a, b
    gap = WITHIN.total_seconds()
    near_ab, near_ba = _near(sa.seconds, sb.seconds), _near(sb.seconds, sa.seconds)
    together = (int((near_ab >= 0).sum()), int((near_ba >= 0).sum()))
    counts = (len(sa.seconds), len(sb.seconds))
    expected = (
        counts[0] * (1 - math.exp(-counts[1] / span * 2 * gap)),
        counts[1] * (1 - math.exp(-counts[0] / span * 2 * gap)),
    )
    p_value = max(float(poisson.sf(t - 1, e)) for t, e in zip(together, expected, strict=True))
    apart = [sa.groups[i] != sb.groups[j] for i, j in enumerate(near_ab.tolist()) if j >= 0]
    return Pair(
        a_key,
        b_key,
        counts,
        together,
        expected,
        p_value,
        similarity,
        sum(apart) / max(len(apart), 1),
    )


def _similarities(keys: list[TypeKey], history: History) -> Any:
    """TF-IDF rows (L2-normalised: a dot product is the cosine) of each type's name, split
    at capitals, and title; None when no word is long enough to count (one-letter names)."""
    titles: dict[TypeKey, str] = {}
    for info in history.alerts.values():
        titles.setdefault(info.type, f"{_CAMEL.sub(' ', info.type[1])} {info.title}")
    docs = [titles[k].lower() for k in keys]
    try:
        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(docs)
    except ValueError:  # scikit-learn's "empty vocabulary"
        return None


def _strong(pair: Pair, tests: int) -> bool:
    enough = min(pair.together) >= MIN_TOGETHER and pair.lift >= MIN_LIFT
    significant = pair.p_value < ALPHA / max(tests, 1)
    alike = pair.confidence >= MIN_CONFIDENCE_SIMILAR and pair.similarity >= MIN_SIMILARITY
    return enough and significant and (pair.confidence >= MIN_CONFIDENCE or alike)


def pairs(episodes: Sequence[Episode], history: History) -> list[Pair]:
    """Every pair that fires together (whether or not it lands in one group already)."""
    starts = _without_storms(starts_of(episodes, history))
    keys = sorted((k for k, s in starts.items() if len(s.seconds) >= MIN_TOGETHER), key=type_label)
    if len(keys) < 2:
        return []
    span = max(history.span.total_seconds(), WITHIN.total_seconds())
    tests = len(keys) * (len(keys) - 1) // 2
    vectors = _similarities(keys, history)
    out = []
    for i, j in _candidates(keys, starts):
        similarity = 0.0 if vectors is None else float(vectors[i].multiply(vectors[j]).sum())
        a, b = (keys[i], starts[keys[i]]), (keys[j], starts[keys[j]])
        pair = _pair(a, b, span=span, similarity=similarity)
        if _strong(pair, tests):
            out.append(pair)
    return out


# --- rules -----------------------------------------------------------------------------------


def _components(found: Sequence[Pair]) -> list[list[Pair]]:
    parent: dict[TypeKey, TypeKey] = {}

    def root(k: TypeKey) -> TypeKey:
        while parent.setdefault(k, k) != k:
            k = parent[k]
        return k

    for p in found:
        parent[root(p.a)] = root(p.b)
    out: dict[TypeKey, list[Pair]] = {}
    for p in found:
        out.setdefault(root(p.a), []).append(p)
    return sorted(out.values(), key=lambda ps: type_label(ps[0].a))


def _alternatives(field: str, values: Sequence[str]) -> str:
    if len(values) == 1:
        return str(Matcher(field, "=", values[0]))
    regex = "|".join(_REGEX_SPECIAL.sub(r"\\\g<0>", v) for v in values)
    return str(Matcher(field, "=~", regex, re.compile(regex)))


def _rule(types: Sequence[TypeKey], found: Sequence[Pair], *, taken: set[str]) -> dict[str, Any]:
    names = sorted({t[1] for t in types})
    services = sorted({t[0] or "" for t in types})
    slug = "-".join(_SLUG.sub("-", n.lower()).strip("-") for n in names)[:80].strip("-")
    name, n = f"learned-{slug or 'pair'}", 2
    while name in taken:
        name, n = f"learned-{slug}-{n}", n + 1
    together = sum(min(p.together) for p in found)
    return {
        "name": name,
        "description": (
            f"learned by incidentd suggest: {', '.join(type_label(t) for t in types)} started "
            f"together {together} times within {WITHIN.total_seconds():g} s"
        ),
        "match": [_alternatives("name", names), _alternatives("service", services)],
        "group_by": [],
    }


def _position(types: set[TypeKey], rules: RuleSet, *, history: History) -> int:
    """Before the first rule that takes any of the types' alerts now (first match wins)."""
    compiled = compile_rules(rules.rules)
    order = {r.name: i for i, r in enumerate(rules.rules.rules)}
    found = len(rules.rules.rules)
    for info in history.alerts.values():
        if info.type in types:
            rule = rule_for(info.sample, info.type[0], compiled)
            found = min(found, order.get(rule.name, found))
    return found


def _also_taken(rule: CorrelationRule, types: set[TypeKey], *, history: History) -> list[str]:
    """Other types the rule's matchers take in the history (the matchers are per field)."""
    extra = {
        info.type
        for info in history.alerts.values()
        if info.type not in types and matchers.all_match(rule.match, info.sample, info.type[0])
    }
    return sorted(type_label(t) for t in extra)


def _holds(evidence: Evidence) -> str | None:
    before, after = evidence.focus_groups
    return None if after < before else "the rule would not have put them in fewer groups"


def _candidate(found: Sequence[Pair], rules: RuleSet, *, history: History) -> Candidate:
    types = sorted({t for p in found for t in (p.a, p.b)}, key=type_label)
    taken = {r.name for r in rules.rules.rules}
    spec = _rule(types, found, taken=taken)
    rule = CorrelationRule.model_validate(spec)
    at = _position(set(types), rules, history=history)
    listed = list(rules.rules.rules)
    listed.insert(at, rule)
    change = {"file": "rules.yaml", "insert_at": at, "rule": spec}
    where = (
        f"rules: before rule {listed[at + 1].name!r} (rule {at + 1})"
        if at + 1 < len(listed)
        else "rules: at the end"
    )
    extra = _also_taken(rule, set(types), history=history)
    why = [p.line() for p in found]
    if extra:
        why.append(f"its matchers also take {', '.join(extra)}")
    fingerprints = history.types()
    return Candidate(
        kind="correlation",
        summary=f"group {', '.join(type_label(t) for t in types)} together",
        file="rules.yaml",
        where=where,
        snippet={"rules": [spec]},
        patch=change,
        why=tuple(why),
        stats={"pairs": [p.view() for p in found], "also_takes": extra},
        rules=changed_ruleset(
            rules, change, rules=RulesFile(defaults=rules.rules.defaults, rules=tuple(listed))
        ),
        focus=frozenset(fp for t in types for fp in fingerprints.get(t, [])),
        holds=_holds,
    )


def candidates(
    found: Sequence[Pair], rules: RuleSet, *, history: History
) -> tuple[list[Candidate], list[Finding]]:
    """One rule per set of types that fire together and land apart; findings for the rest."""
    apart = [p for p in found if p.apart >= MIN_APART]
    findings = [
        Finding(
            "correlation",
            f"{type_label(p.a)} + {type_label(p.b)}",
            f"fire together, and already land in one group {1 - p.apart:.0%} of the time",
            p.view(),
        )
        for p in found
        if p.apart < MIN_APART
    ]
    out: list[Candidate] = []
    for component in _components(apart):
        types = {t for p in component for t in (p.a, p.b)}
        if len(types) > MAX_RULE_TYPES:
            subject = ", ".join(sorted(type_label(t) for t in types))
            reason = f"{len(types)} types fire together: too many for one learned rule"
            findings.append(Finding("correlation", subject, reason))
            continue
        try:
            out.append(_candidate(component, rules, history=history))
        except (ConfigInvalid, ValidationError) as exc:  # never expected: said, not raised
            subject = ", ".join(sorted(type_label(t) for t in types))
            reason = f"its rule fails the checks: {str(exc).splitlines()[0]}"
            findings.append(Finding("correlation", subject, reason))
    return out, findings
