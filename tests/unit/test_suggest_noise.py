"""Learned transient noise and sustain proposals on synthetic histories (fixed seeds)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from incidentd.correlate.grouping import Group
from incidentd.correlate.impact import ImpactMap
from incidentd.declare.scoring import GroupFacts, Signal, Tally, score
from incidentd.insight import suggest_noise as sn
from incidentd.insight.suggest import Report, read, suggest
from incidentd.insight.suggest_evidence import run
from incidentd.insight.suggest_history import History, episodes, type_label
from incidentd.insight.suggest_render import transient_yaml, yaml_text
from incidentd.model import Alert, Severity
from incidentd.rules.loader import RuleSet, load
from tests.unit import suggest_histories as h

TRANSIENT = (h.TRANSIENT.service, h.TRANSIENT.name)


def _history(tmp: Path, alerts: list[Alert], rules: RuleSet) -> History:
    return read([str(h.write(tmp / "history.jsonl", alerts))], rules)


def _learn(tmp: Path, alerts: list[Alert], rules: RuleSet) -> sn.NoiseModel:
    history = _history(tmp, alerts, rules)
    return sn.learn(episodes(run(history.lines, rules), history), history)


@pytest.fixture(scope="module")
def declaring(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example configuration with incidentd's default policy: no sustain."""
    return h.example_config(tmp_path_factory.mktemp("config"), sustain="0s")


@pytest.fixture(scope="module")
def transient_report(tmp_path_factory: pytest.TempPathFactory, declaring: Path) -> Report:
    rules = load(declaring)
    tmp = tmp_path_factory.mktemp("transient")
    return suggest(_history(tmp, h.transient_history(1), rules), rules)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_alert_that_always_clears_within_two_minutes_is_flagged_and_nothing_else(
    tmp_path: Path, seed: int
) -> None:
    model = _learn(tmp_path, h.transient_history(seed), load(h.EXAMPLE))
    flagged = [t for t in model.types.values() if t.flagged]
    assert [t.type for t in flagged] == [TRANSIENT]
    [noise] = flagged
    assert noise.transient == noise.episodes == 30
    assert noise.odds > 0.8
    assert noise.sustain > timedelta(minutes=2)
    assert model.model.fitted
    assert model.model.auc is not None
    assert model.model.auc > 0.6


def test_the_sustain_proposal_shows_the_incidents_it_would_have_avoided(
    transient_report: Report,
) -> None:
    [proposal] = transient_report.proposals
    c, ev = proposal.candidate, proposal.evidence
    assert c.kind == "sustain"
    assert c.snippet == {"policy": {"services": {"search": {"sustain": "3m"}}}}
    assert c.patch == {
        "file": "declaration.yaml",
        "path": ["policy", "services", "search"],
        "value": {"sustain": "3m"},
    }
    assert len(ev.avoided) >= 15
    assert all(ref.focus for ref in ev.avoided)
    # every incident avoided is gone from the count; a focus incident that is not declared
    # may let its alerts join another one (a merge), never make a new one
    assert ev.incidents[0] - ev.incidents[1] >= len(ev.avoided)
    assert not ev.new
    assert all(any(ref.focus for ref in m.before) for m in ev.merged)
    before, after = ev.focus_incident_groups
    assert after < before / 4
    assert not ev.split
    assert ev.side_effects == sum(1 for m in ev.merged if not m.after.focus) <= 1
    assert ev.focus_groups[0] == ev.focus_groups[1]  # sustain changes no grouping


def test_the_sustain_proposal_loads_with_the_loader(
    transient_report: Report, declaring: Path, tmp_path: Path
) -> None:
    [proposal] = transient_report.proposals
    config = h.example_config(tmp_path / "config", sustain="0s")
    path = config / "declaration.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    snippet = yaml.safe_load(proposal.candidate.yaml())
    data["policy"]["services"].update(snippet["policy"]["services"])
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    loaded = load(config)
    replayed = proposal.candidate.rules.declaration.policy
    assert loaded.declaration.policy.services == replayed.services
    assert loaded.declaration.policy.services["search"].sustain == timedelta(minutes=3)
    assert loaded.declaration.policy.services["payments"].declare_at == "P3"  # kept


def test_the_report_exposes_the_odds_and_the_score_explanation_note(
    transient_report: Report,
) -> None:
    [top, *_] = transient_report.transient
    assert top.type == TRANSIENT
    assert top.flagged
    line = transient_report.explanations[type_label(TRANSIENT)]
    assert line.startswith("urgency.transient +0: 1 of 1 driving alerts likely resolve")
    assert "search/SearchProbeFailed (" in line


def test_with_the_example_sustain_of_2m_nothing_is_left_to_avoid(tmp_path: Path) -> None:
    """The example already holds declarations for 2 minutes: the flagged type is reported,
    and its proposal dropped: the replay shows that a longer sustain would avoid nothing
    (at most one replay of the proposal)."""
    rules = load(h.EXAMPLE)
    report = suggest(_history(tmp_path, h.transient_history(1), rules), rules)
    assert not report.proposals
    assert report.replays <= 2
    [finding] = [f for f in report.findings if f.kind == "sustain"]
    assert finding.reason.startswith(
        (
            "not proposed: none of its groups declared an incident",
            "not proposed: no incident of search/SearchProbeFailed would have been avoided",
        )
    )


def test_a_capability_override_that_wins_blocks_the_proposal(
    tmp_path: Path, declaring: Path
) -> None:
    """kafka reaches checkout, whose override sets sustain 0s: the most eager value wins."""
    rules = load(declaring)
    rng = np.random.default_rng(3)
    alerts = h.background(rng)
    flaky = h.Kind("ConsumerLagSpike", "kafka", Severity.ERROR, "consumer lag spike")
    for slot in np.sort(rng.choice(7 * 24 - 1, size=20, replace=False)):
        onset = h.T0 + timedelta(hours=float(slot), minutes=float(rng.uniform(0, 30)))
        alerts += h.alerts_of(flaky, onset, timedelta(seconds=float(rng.uniform(20, 100))))
    report = suggest(_history(tmp_path, h.ordered(alerts), rules), rules)
    assert not report.proposals
    [finding] = [f for f in report.findings if f.kind == "transient"]
    assert finding.subject == "kafka/ConsumerLagSpike"
    assert finding.reason.startswith("capability checkout sets sustain 0s")


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_independent_random_alerts_flag_nothing(tmp_path: Path, seed: int) -> None:
    model = _learn(tmp_path, h.independent_history(seed), load(h.EXAMPLE))
    assert [type_label(t.type) for t in model.types.values() if t.flagged] == []


def test_wilson_lower_bound() -> None:
    assert sn.wilson_low(0, 0) == 0.0
    assert sn.wilson_low(8, 8) == pytest.approx(0.676, abs=1e-3)
    assert sn.wilson_low(7, 8) == pytest.approx(0.529, abs=1e-3)
    assert sn.wilson_low(30, 30) == pytest.approx(0.886, abs=1e-3)


def _facts(*signals: Signal) -> GroupFacts:
    group = Group("G-1", "rule", "k", "v1", opened_at=h.T0, last_seen=h.T0)
    group.services = {"search": len(signals)}
    group.root_causes = ("search",)
    tally = Tally()
    for signal in signals:
        tally.add(signal)
    return tally.facts(group)


def test_the_transient_note_adds_no_points_and_is_absent_unless_asked() -> None:
    rules = load(h.EXAMPLE)
    impact = ImpactMap.build(rules.services)
    signal = Signal("f", "SearchProbeFailed", "search", Severity.ERROR, None, None, h.T0)
    spec = rules.declaration.scoring
    now = h.T0 + timedelta(minutes=1)
    plain = score(_facts(signal), impact, spec=spec, now=now)
    noted = score(_facts(signal), impact, spec=spec, now=now, transient={TRANSIENT: 0.92})
    assert "urgency.transient" not in {f.name for f in plain.factors}
    assert noted.factors[:-1] == plain.factors
    assert (noted.value, noted.priority, noted.urgency_points) == (
        plain.value,
        plain.priority,
        plain.urgency_points,
    )
    [note] = [f for f in noted.factors if f.name == "urgency.transient"]
    assert note.contribution == 0.0
    assert note.value == 1
    assert "search/SearchProbeFailed (92%)" in note.note
    calm = score(_facts(signal), impact, spec=spec, now=now, transient={TRANSIENT: 0.2})
    assert calm.factors[-1].note == "no driving alert is known to be transient"


def test_the_learned_odds_load_as_scoring_transient_and_only_flagged_types_are_listed(
    transient_report: Report, tmp_path: Path
) -> None:
    """The `scoring.transient` snippet suggest prints merges into declaration.yaml, loads, and
    gives the daemon's scorer the flagged type's odds."""
    snippet = yaml.safe_load(transient_yaml(transient_report))
    flagged = [t for t in transient_report.transient if t.flagged]
    assert list(snippet["scoring"]["transient"]) == [f"{t.type[0]}/{t.type[1]}" for t in flagged]
    config = h.example_config(tmp_path / "config", sustain="0s")
    path = config / "declaration.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.setdefault("scoring", {}).update(snippet["scoring"])
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    odds = load(config).declaration.scoring.transient_odds
    assert odds is not None
    assert odds[TRANSIENT] == round(flagged[0].odds, 2)
    assert "scoring:\n  transient:" in yaml_text(transient_report)
