"""Learned suggestions (`incidentd suggest`): sustain times for alerts that resolve by
themselves, and correlation rules for alerts that fire together but land apart, each with
the replay that supports it.

`suggest(history, rules)` replays the recorded history under the current configuration (the
baseline), learns from what the engine saw (suggest_noise, suggest_correlation), applies each
candidate change to the RuleSet in memory, replays the history again under it, and keeps the
candidate only when its replay shows what it promises (incidents avoided, fewer groups). What
it proposes is text for a person to read and paste: nothing here writes a configuration.
Reads no clock and does no I/O but the replays' own work (see docs/suggestions.md).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

from incidentd.insight import suggest_correlation, suggest_noise
from incidentd.insight.suggest_candidate import Candidate, Finding
from incidentd.insight.suggest_evidence import Evidence, Run, compare, run
from incidentd.insight.suggest_history import History, HistoryError, episodes, read, type_label
from incidentd.insight.suggest_noise import ModelSummary, TypeNoise
from incidentd.rules.loader import RuleSet

__all__ = ["History", "HistoryError", "Proposal", "Report", "read", "suggest"]

MAX_REPLAYS = 20
"""Candidates replayed at most (strongest first); the others are reported, not proposed."""
TRANSIENT_LISTED = 20


@dataclass(frozen=True, slots=True)
class Proposal:
    candidate: Candidate
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Report:
    history: History
    rules_version: str
    baseline: Run
    episodes: int
    types: int
    model: ModelSummary
    transient: tuple[TypeNoise, ...]
    """Types by transient odds, highest first (the flagged ones and the likeliest others)."""
    explanations: dict[str, str]
    """Per flagged type: the `urgency.transient` line its score explanation would show."""
    proposals: tuple[Proposal, ...]
    findings: tuple[Finding, ...]
    notes: tuple[str, ...]
    replays: int
    seconds: float
    learning_seconds: float
    """What was not replaying: reading the history, learning, comparing."""


def _for_evidence(rules: RuleSet, *, as_configured: bool) -> tuple[RuleSet, tuple[str, ...]]:
    """The RuleSet the replays run: the configuration, except that auto-resolve resolves
    instead of mitigating. In a replay nobody confirms a mitigation, so a mitigated incident
    would stay open for good and every later failure near it would join it."""
    policy = rules.declaration.policy
    auto = policy.auto_resolve
    if as_configured or not auto.enabled or auto.status == "resolved":
        return rules, ()
    resolving = auto.model_copy(update={"status": "resolved"})
    declaration = rules.declaration.model_copy(
        update={"policy": policy.model_copy(update={"auto_resolve": resolving})}
    )
    note = (
        "replays resolve incidents where auto-resolve would mark them mitigated (nobody "
        "confirms in a replay); --as-configured replays the configuration exactly"
    )
    changed = dataclasses.replace(
        rules, declaration=declaration, version=f"{rules.version}+resolving"
    )
    return changed, (note,)


@dataclass(slots=True)
class _Judged:
    proposals: list[Proposal] = dataclasses.field(default_factory=list)
    findings: list[Finding] = dataclasses.field(default_factory=list)
    replays: int = 0
    seconds: float = 0.0
    """Spent replaying."""


def _judge(candidates: Sequence[Candidate], baseline: Run, *, history: History) -> _Judged:
    """Replay each candidate (strongest first, MAX_REPLAYS at most) and keep those whose
    evidence holds; the others become findings."""
    out = _Judged()
    for candidate in candidates:
        hopeless = None if candidate.hopeless is None else candidate.hopeless(baseline)
        if hopeless is not None:
            out.findings.append(
                Finding(candidate.kind, candidate.summary, f"not proposed: {hopeless}")
            )
            continue
        if out.replays >= MAX_REPLAYS:
            reason = f"not replayed: only the {MAX_REPLAYS} strongest candidates are"
            out.findings.append(Finding(candidate.kind, candidate.summary, reason))
            continue
        after = run(history.lines, candidate.rules)
        out.replays += 1
        out.seconds += after.seconds
        evidence = compare(baseline, after, focus=candidate.focus)
        why_not = candidate.holds(evidence)
        if why_not is None:
            out.proposals.append(Proposal(candidate, evidence))
        else:
            reason = f"not proposed: {why_not}"
            out.findings.append(Finding(candidate.kind, candidate.summary, reason))
    return out


def suggest(history: History, rules: RuleSet, *, as_configured: bool = False) -> Report:
    """Learn from `history` under `rules`; every proposal carries its replay evidence."""
    started = time.perf_counter()
    base, notes = _for_evidence(rules, as_configured=as_configured)
    baseline = run(history.lines, base)
    found = episodes(baseline, history)
    noise = suggest_noise.learn(found, history)
    noisy, noise_findings = suggest_noise.candidates(noise, base, history=history)
    pairs = suggest_correlation.pairs(found, history)
    linked, link_findings = suggest_correlation.candidates(pairs, base, history=history)
    noisy.sort(key=lambda c: -len(c.focus))
    linked.sort(key=lambda c: -sum(min(p["together"]) for p in c.stats["pairs"]))
    judged = _judge([*noisy, *linked], baseline, history=history)
    ranked = sorted(noise.types.values(), key=lambda t: (-t.flagged, -t.odds, t.type[1]))
    listed = tuple(t for t in ranked[:TRANSIENT_LISTED] if t.flagged or t.odds >= 0.5)
    return Report(
        history=history,
        rules_version=rules.version,
        baseline=baseline,
        episodes=len(found),
        types=len(history.types()),
        model=noise.model,
        transient=listed,
        explanations={
            type_label(t.type): suggest_noise.explanation(t, history) for t in listed if t.flagged
        },
        proposals=tuple(judged.proposals),
        findings=(*noise_findings, *link_findings, *judged.findings),
        notes=notes,
        replays=1 + judged.replays,
        seconds=(seconds := time.perf_counter() - started),
        learning_seconds=seconds - baseline.seconds - judged.seconds,
    )
