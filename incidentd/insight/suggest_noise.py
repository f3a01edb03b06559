"""Transient noise: which alert types resolve by themselves within minutes, and the sustain
time that would keep them from declaring incidents.

Every episode of the history (an alert firing, from start to end, in engine time) is labelled
**transient** when its sender resolved it within `TRANSIENT_WITHIN`. A logistic regression
(scikit-learn) learns the label from what is known when the episode starts: the type's earlier
episodes (how many, the share that were transient, their typical duration), how often the same
alert fired in the day before (flapping), the time of day, and the source, service and
severity. Its out-of-fold probabilities (the model never scores an episode it was trained on),
averaged over a type's episodes, are the type's **transient odds**.

A type is flagged transient when it has at least `MIN_EPISODES` episodes, the Wilson lower
bound of its transient share is at least `MIN_SHARE`, and its odds are at least `MIN_ODDS`:
the observed record and the model must both say so. Its sustain is the next whole minute above
`MARGIN` x the longest of its transient episodes (at most `MAX_SUSTAIN`): every transient
episode seen, and a quarter more for the ones not seen yet.

declaration.yaml has a global `sustain` and overrides per service and per capability, where
the most eager value wins; there is no sustain per correlation rule. So a proposal is a
per-service override, and it cannot take effect when a capability the service reaches sets a
shorter sustain (that is reported, not proposed). Pure: no I/O, no clock.
"""

from __future__ import annotations

import heapq
import math
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from pydantic import ValidationError
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from incidentd.correlate.impact import ImpactMap
from incidentd.declare.scoring import Signal, transient_factor
from incidentd.errors import ConfigInvalid
from incidentd.insight.suggest_candidate import Candidate, Finding, changed_ruleset, duration_text
from incidentd.insight.suggest_evidence import Evidence, Run, focus_groups
from incidentd.insight.suggest_history import Episode, History, TypeKey, type_label
from incidentd.rules.loader import RuleSet
from incidentd.rules.schema import PolicyOverride

TRANSIENT_WITHIN = timedelta(minutes=5)
MIN_EPISODES = 8
MIN_SHARE = 0.6
"""Wilson 95% lower bound of the transient share (8 of 8 episodes: 0.68; 7 of 8: 0.53)."""
MIN_ODDS = 0.5
MARGIN = 1.25
MAX_SUSTAIN = timedelta(minutes=10)
MODEL_MIN_EPISODES = 40
MODEL_MIN_CLASS = 5
"""The model is fitted when there are this many labelled episodes, and this many of each
label; below that, a type's odds are its smoothed transient share."""
_Z = 1.96
_CATEGORIES = ("source", "service", "severity")
_NUMBERS = (
    "prior_log_count",
    "prior_share",
    "prior_log_minutes",
    "has_prior",
    "flaps_24h",
    "hour_sin",
    "hour_cos",
)
"""The numeric features, in the order `_features` writes them (after the categories)."""


@dataclass(frozen=True, slots=True)
class TypeNoise:
    type: TypeKey
    episodes: int
    transient: int
    share_low: float
    """Wilson 95% lower bound of the transient share."""
    odds: float
    """Mean out-of-fold model probability over its episodes."""
    p95_seconds: float | None
    """95th percentile of its transient episodes' durations."""
    max_seconds: float | None
    """The longest of them."""
    median_seconds: float
    flagged: bool

    @property
    def sustain(self) -> timedelta:
        """What would hold its declarations until it has resolved: the next whole minute
        above MARGIN x its longest transient episode (at most MAX_SUSTAIN)."""
        if self.max_seconds is None:
            return timedelta(0)
        cover = self.max_seconds * MARGIN
        return min(timedelta(minutes=int(cover // 60) + 1), MAX_SUSTAIN)

    def view(self) -> dict[str, Any]:
        return {
            "type": type_label(self.type),
            "service": self.type[0],
            "name": self.type[1],
            "episodes": self.episodes,
            "transient": self.transient,
            "share_low": round(self.share_low, 3),
            "transient_odds": round(self.odds, 3),
            "p95_transient_seconds": None if self.p95_seconds is None else round(self.p95_seconds),
            "max_transient_seconds": None if self.max_seconds is None else round(self.max_seconds),
            "median_seconds": round(self.median_seconds),
            "flagged": self.flagged,
        }


@dataclass(frozen=True, slots=True)
class ModelSummary:
    episodes: int
    transient: int
    auc: float | None
    """Out-of-fold ROC AUC (None without a model or with one label only)."""
    brier: float
    brier_base: float
    """Brier score of always answering the base rate: the model should do better."""
    fitted: bool

    def view(self) -> dict[str, Any]:
        return {
            "kind": "logistic regression" if self.fitted else "smoothed share per type",
            "episodes": self.episodes,
            "transient": self.transient,
            "auc": None if self.auc is None else round(self.auc, 3),
            "brier": round(self.brier, 4),
            "brier_base": round(self.brier_base, 4),
        }


def wilson_low(hits: int, n: int) -> float:
    if n == 0:
        return 0.0
    p = hits / n
    centre = p + _Z * _Z / (2 * n)
    spread = _Z * math.sqrt(p * (1 - p) / n + _Z * _Z / (4 * n * n))
    return (centre - spread) / (1 + _Z * _Z / n)


# --- features --------------------------------------------------------------------------------


def _label(episode: Episode, last: datetime, *, within: timedelta) -> int | None:
    """1 transient, 0 not, None unknown (still firing, and not for long when history ends)."""
    if episode.end is None:
        return 0 if last - episode.start > within else None
    return int(episode.by == "resolve" and episode.end - episode.start <= within)


@dataclass(slots=True)
class _Prior:
    count: int = 0
    transient: int = 0
    log_minutes: float = 0.0


def _features(
    labelled: Sequence[tuple[Episode, int]], history: History
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """One row per labelled episode, from what was known when it started: earlier episodes
    count once they have ended (a heap releases them in time order)."""
    priors: dict[TypeKey, _Prior] = {}
    pending: list[tuple[datetime, int, TypeKey, int, float]] = []
    starts: dict[str, deque[datetime]] = {}
    rows: list[list[Any]] = []
    for n, (episode, label) in enumerate(labelled):
        while pending and pending[0][0] <= episode.start:
            _, _, key, was, minutes = heapq.heappop(pending)
            prior = priors.setdefault(key, _Prior())
            prior.count += 1
            prior.transient += was
            prior.log_minutes += math.log1p(minutes)
        recent = starts.setdefault(episode.fingerprint, deque())
        while recent and episode.start - recent[0] > timedelta(hours=24):
            recent.popleft()
        prior = priors.get(episode.type, _Prior())
        info = history.alerts[episode.fingerprint]
        hour = (episode.start.hour + episode.start.minute / 60) / 24 * 2 * math.pi
        rows.append(
            [
                info.source,
                episode.type[0] or "unmapped",
                info.severity.value,
                math.log1p(prior.count),
                (prior.transient + 1) / (prior.count + 2),
                prior.log_minutes / prior.count if prior.count else math.log1p(5.0),
                float(prior.count > 0),
                math.log1p(len(recent)),
                math.sin(hour),
                math.cos(hour),
            ]
        )
        recent.append(episode.start)
        if episode.end is not None:
            minutes = (episode.end - episode.start).total_seconds() / 60
            heapq.heappush(pending, (episode.end, n, episode.type, label, minutes))
    return np.array(rows, dtype=object), np.array([label for _, label in labelled], dtype=int)


def _odds(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | None:
    """Out-of-fold probabilities of the transient label, or None when too few to learn."""
    positives = int(y.sum())
    if len(y) < MODEL_MIN_EPISODES or min(positives, len(y) - positives) < MODEL_MIN_CLASS:
        return None
    columns = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), [0, 1, 2]),
            ("numbers", StandardScaler(), list(range(3, 3 + len(_NUMBERS)))),
        ]
    )
    model = make_pipeline(columns, LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        # a fit that stopped short still gives probabilities, and its AUC says how good they
        # are: no warning on the user's terminal
        warnings.simplefilter("ignore", ConvergenceWarning)
        found = cross_val_predict(model, x, y, cv=folds, method="predict_proba")
    return np.asarray(found[:, 1], dtype=float)


# --- per type --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoiseModel:
    types: dict[TypeKey, TypeNoise]
    model: ModelSummary


def _type_noise(
    key: TypeKey, rows: list[tuple[Episode, int, float]], *, within: timedelta
) -> TypeNoise:
    n = len(rows)
    hits = sum(label for _, label, _ in rows)
    short = [
        (e.end - e.start).total_seconds() for e, label, _ in rows if label and e.end is not None
    ]
    durations = [
        (e.end - e.start).total_seconds() if e.end is not None else within.total_seconds() * 2
        for e, _, _ in rows
    ]
    share_low = wilson_low(hits, n)
    odds = float(np.mean([p for _, _, p in rows]))
    return TypeNoise(
        type=key,
        episodes=n,
        transient=hits,
        share_low=share_low,
        odds=odds,
        p95_seconds=float(np.quantile(short, 0.95)) if short else None,
        max_seconds=max(short) if short else None,
        median_seconds=float(np.median(durations)),
        flagged=n >= MIN_EPISODES and share_low >= MIN_SHARE and odds >= MIN_ODDS,
    )


def learn(
    episodes: Sequence[Episode], history: History, *, within: timedelta = TRANSIENT_WITHIN
) -> NoiseModel:
    """The transient odds of every type with labelled episodes, and how good the model is."""
    labelled = [
        (e, label)
        for e in episodes
        if (label := _label(e, history.last, within=within)) is not None
    ]
    if not labelled:
        return NoiseModel({}, ModelSummary(0, 0, None, 0.0, 0.0, fitted=False))
    x, y = _features(labelled, history)
    learned = _odds(x, y)
    odds = _smoothed(labelled) if learned is None else learned
    rows: dict[TypeKey, list[tuple[Episode, int, float]]] = {}
    for (e, label), p in zip(labelled, odds, strict=True):
        rows.setdefault(e.type, []).append((e, label, float(p)))
    positives = int(y.sum())
    summary = ModelSummary(
        episodes=len(y),
        transient=positives,
        auc=float(roc_auc_score(y, odds)) if 0 < positives < len(y) else None,
        brier=float(np.mean((odds - y) ** 2)),
        brier_base=float(np.mean((positives / len(y) - y) ** 2)),
        fitted=learned is not None,
    )
    types = {key: _type_noise(key, found, within=within) for key, found in rows.items()}
    return NoiseModel(types, summary)


def _smoothed(labelled: Sequence[tuple[Episode, int]]) -> np.ndarray[Any, Any]:
    """Without a model: each episode gets its type's smoothed transient share."""
    by_type: dict[TypeKey, list[int]] = {}
    for e, label in labelled:
        by_type.setdefault(e.type, []).append(label)
    shares = {k: (sum(v) + 1) / (len(v) + 2) for k, v in by_type.items()}
    return np.array([shares[e.type] for e, _ in labelled], dtype=float)


def explanation(noise: TypeNoise, history: History) -> str:
    """The `urgency.transient` line a score explanation shows for an alert of this type."""
    signal = Signal(
        fingerprint="",
        name=noise.type[1],
        service=noise.type[0],
        severity=next(a.severity for a in history.alerts.values() if a.type == noise.type),
        host=None,
        region=None,
        first_seen=history.first,
    )
    factor = transient_factor([signal], {noise.type: noise.odds})
    return f"{factor.name} {factor.contribution:+g}: {factor.note}"


# --- proposals -------------------------------------------------------------------------------


def _effective(
    service: str, rules: RuleSet, *, impact: ImpactMap
) -> tuple[timedelta, tuple[str, timedelta] | None]:
    """The sustain a group driven by `service` alone gets now, and the shortest capability
    override it reaches (the most eager value wins: declare/policy.thresholds), which no
    override on the service can lengthen."""
    policy = rules.declaration.policy
    own = policy.services.get(service)
    sustain = own.sustain if own is not None and own.sustain is not None else policy.sustain
    shortest: tuple[str, timedelta] | None = None
    for capability in sorted(impact.blast_radius([service]).capabilities):
        override = policy.capabilities.get(capability)
        if override is None or override.sustain is None:
            continue
        if shortest is None or override.sustain < shortest[1]:
            shortest = (capability, override.sustain)
    if shortest is not None:
        sustain = min(sustain, shortest[1])
    return sustain, shortest


def _override(service: str, sustain: timedelta, *, rules: RuleSet) -> dict[str, Any]:
    own = rules.declaration.policy.services.get(service)
    kept = {} if own is None else own.model_dump(mode="json", exclude_none=True)
    kept.pop("sustain", None)
    return {**kept, "sustain": duration_text(sustain)}


def _hopeless(focus: frozenset[str]) -> Callable[[Run], str | None]:
    def hopeless(baseline: Run) -> str | None:
        groups, reached, declared = focus_groups(baseline, focus)
        if declared:
            return None
        if not reached:
            return f"none of its {groups} groups reached an incident in the baseline replay"
        return (
            f"none of its groups declared an incident in the baseline replay: {reached} of "
            f"{groups} joined open incidents, and a join is never held by a sustain"
        )

    return hopeless


def _holds(focus_types: str) -> Callable[[Evidence], str | None]:
    def holds(evidence: Evidence) -> str | None:
        before, after = evidence.focus_incident_groups
        if evidence.avoided or after < before:
            return None
        return f"no incident of {focus_types} would have been avoided on this history"

    return holds


def _candidate(
    service: str, types: list[TypeNoise], *, rules: RuleSet, history: History
) -> Candidate:
    sustain = max(t.sustain for t in types)
    override = _override(service, sustain, rules=rules)
    policy = rules.declaration.policy
    services = {**policy.services, service: PolicyOverride.model_validate(override)}
    declaration = rules.declaration.model_copy(
        update={"policy": policy.model_copy(update={"services": services})}
    )
    path = ["policy", "services", service]
    change = {"file": "declaration.yaml", "path": path, "value": override}
    labels = ", ".join(type_label(t.type) for t in types)
    fingerprints = history.types()
    focus = frozenset(fp for t in types for fp in fingerprints.get(t.type, []))
    return Candidate(
        kind="sustain",
        summary=f"sustain {duration_text(sustain)} for {service}: {labels} resolve by themselves",
        file="declaration.yaml",
        where=f"policy.services.{service} (merge with what is there)",
        snippet={"policy": {"services": {service: override}}},
        patch=change,
        why=tuple(
            f"{type_label(t.type)}: {t.transient} of {t.episodes} episodes resolved by "
            f"themselves within {duration_text(TRANSIENT_WITHIN)} (share >= {t.share_low:.0%} "
            f"at 95%), model odds {t.odds:.0%}, 95% of them within {t.p95_seconds or 0:.0f} s, "
            f"all within {t.max_seconds or 0:.0f} s"
            for t in types
        ),
        stats={"service": service, "sustain_seconds": sustain.total_seconds()},
        rules=changed_ruleset(rules, change, declaration=declaration),
        focus=focus,
        holds=_holds(labels),
        hopeless=_hopeless(focus),
    )


def _not_proposed(noise: TypeNoise, reason: str) -> Finding:
    return Finding("transient", type_label(noise.type), reason, noise.view())


def candidates(
    model: NoiseModel, rules: RuleSet, *, history: History
) -> tuple[list[Candidate], list[Finding]]:
    """One sustain override per service with flagged types, or why none."""
    impact = ImpactMap.build(rules.services)
    by_service: dict[str, list[TypeNoise]] = {}
    findings: list[Finding] = []
    for noise in sorted(model.types.values(), key=lambda t: type_label(t.type)):
        if not noise.flagged:
            continue
        service = noise.type[0]
        if service is None:
            reason = "unmapped: map it in services.yaml to give its service a sustain override"
            findings.append(_not_proposed(noise, reason))
            continue
        current, shortest = _effective(service, rules, impact=impact)
        if noise.sustain <= current:
            reason = f"already held: its sustain is {duration_text(current)}"
            findings.append(_not_proposed(noise, reason))
        elif shortest is not None and shortest[1] < noise.sustain:
            findings.append(
                _not_proposed(
                    noise,
                    f"capability {shortest[0]} sets sustain {duration_text(shortest[1])} and "
                    f"the most eager value wins: an override on {service} would change nothing",
                )
            )
        else:
            by_service.setdefault(service, []).append(noise)
    out: list[Candidate] = []
    for service, types in sorted(by_service.items()):
        try:
            out.append(_candidate(service, types, rules=rules, history=history))
        except (ConfigInvalid, ValidationError) as exc:  # never expected: said, not raised
            reason = f"its override fails the checks: {str(exc).splitlines()[0]}"
            findings += [_not_proposed(t, reason) for t in types]
    return out, findings
