"""Learned correlation rules on synthetic histories whose structure is known (fixed seeds)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from incidentd.insight import suggest_correlation as sc
from incidentd.insight.suggest import Report, read, suggest
from incidentd.insight.suggest_evidence import run
from incidentd.insight.suggest_history import History, episodes, type_label
from incidentd.model import Alert, Severity
from incidentd.rules.loader import RuleSet, load
from tests.unit import suggest_histories as h

PAIR_LABELS = {type_label((k.service, k.name)) for k in h.PAIR}


@pytest.fixture(scope="module")
def example() -> RuleSet:
    return load(h.EXAMPLE)


def _history(tmp: Path, alerts: list[Alert], rules: RuleSet) -> History:
    return read([str(h.write(tmp / "history.jsonl", alerts))], rules)


def _pairs(tmp: Path, alerts: list[Alert], rules: RuleSet) -> list[sc.Pair]:
    history = _history(tmp, alerts, rules)
    return sc.pairs(episodes(run(history.lines, rules), history), history)


@pytest.fixture(scope="module")
def pair_report(tmp_path_factory: pytest.TempPathFactory, example: RuleSet) -> Report:
    tmp = tmp_path_factory.mktemp("pair")
    return suggest(_history(tmp, h.pair_history(1), example), example)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_types_that_always_start_together_are_found_and_nothing_else(
    tmp_path: Path, example: RuleSet, seed: int
) -> None:
    found = _pairs(tmp_path, h.pair_history(seed), example)
    assert [{type_label(p.a), type_label(p.b)} for p in found] == [PAIR_LABELS]
    [pair] = found
    assert pair.together == (20, 20)
    assert pair.apart >= 0.5  # the example rules keep auth and search apart
    assert pair.p_value < 1e-20


def test_the_proposed_rule_groups_them_and_the_replay_shows_fewer_groups_and_incidents(
    pair_report: Report,
) -> None:
    [proposal] = pair_report.proposals
    c, ev = proposal.candidate, proposal.evidence
    assert c.kind == "correlation"
    [rule] = c.snippet["rules"]
    assert rule["group_by"] == []
    assert set(rule["match"]) == {
        'name=~"LoginErrorsHigh|SearchTimeouts"',
        'service=~"auth|search"',
    }
    assert c.patch["insert_at"] == 3  # before service-outage, which takes them now
    focus_before, focus_after = ev.focus_groups
    assert focus_after == 20 < focus_before  # one group per time they fired together
    assert ev.groups[1] < ev.groups[0]
    assert ev.focus_incidents[1] < ev.focus_incidents[0]
    assert ev.incidents[1] < ev.incidents[0]
    assert ev.merged
    assert ev.side_effects == 0


def test_the_proposed_rule_loads_with_the_loader_and_replays_as_in_memory(
    pair_report: Report, tmp_path: Path
) -> None:
    [proposal] = pair_report.proposals
    config = h.example_config(tmp_path / "config")
    data = yaml.safe_load((config / "rules.yaml").read_text(encoding="utf-8"))
    [rule] = yaml.safe_load(proposal.candidate.yaml())["rules"]
    data["rules"].insert(proposal.candidate.patch["insert_at"], rule)
    (config / "rules.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    loaded = load(config)
    assert loaded.rules == proposal.candidate.rules.rules
    assert not [w for w in loaded.warnings if "rules.yaml" in w]


def test_types_that_already_land_in_one_group_are_a_finding_not_a_proposal(
    tmp_path: Path, example: RuleSet
) -> None:
    """orders-db and checkout errors: service-outage (topology) already groups them."""
    rng = np.random.default_rng(7)
    alerts = h.background(rng)
    db = h.Kind("PostgresDown", "orders-db", Severity.CRITICAL, "postgres is down")
    api = h.Kind("CheckoutErrors", "checkout", Severity.ERROR, "checkout 5xx above 5 percent")
    for hour in range(0, 7 * 24 - 4, 8):
        onset = h.T0 + timedelta(hours=hour, minutes=float(rng.uniform(0, 60)))
        alerts += h.alerts_of(db, onset, timedelta(minutes=20))
        alerts += h.alerts_of(api, onset + timedelta(seconds=15), timedelta(minutes=18))
    report = suggest(_history(tmp_path, h.ordered(alerts), example), example)
    assert not [p for p in report.proposals if p.candidate.kind == "correlation"]
    [finding] = [f for f in report.findings if f.kind == "correlation"]
    assert finding.subject == "checkout/CheckoutErrors + orders-db/PostgresDown"
    assert "already land in one group" in finding.reason


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_independent_random_alerts_give_no_pair(
    tmp_path: Path, example: RuleSet, seed: int
) -> None:
    assert _pairs(tmp_path, h.independent_history(seed), example) == []


def test_busy_independent_alerts_give_no_pair(tmp_path: Path, example: RuleSet) -> None:
    """60 types starting every half hour on average: chance meetings are many, none holds."""
    rng = np.random.default_rng(21)
    kinds = h.random_kinds(rng, 60)
    alerts = h.background(rng, days=3, kinds=kinds, mean_gap=timedelta(minutes=30))
    assert _pairs(tmp_path, h.ordered(alerts), example) == []


def _pair(confidence: float, similarity: float) -> sc.Pair:
    together = round(40 * confidence)
    return sc.Pair(
        ("a", "A"), ("b", "B"), (40, 40), (together, together), (0.5, 0.5), 1e-30, similarity, 1.0
    )


def test_alike_titles_let_a_looser_pair_through_and_only_them() -> None:
    assert sc._strong(_pair(0.8, 0.0), tests=100)
    assert not sc._strong(_pair(0.6, 0.1), tests=100)
    assert sc._strong(_pair(0.6, 0.7), tests=100)
    assert not sc._strong(_pair(0.4, 0.9), tests=100)


def test_titles_without_a_word_to_weigh_give_no_similarity_rather_than_an_error(
    tmp_path: Path, example: RuleSet
) -> None:
    a, b = h.Kind("A", "auth", Severity.ERROR, "A"), h.Kind("B", "search", Severity.ERROR, "B")
    alerts: list[Alert] = []
    for hour in range(0, 60, 6):
        onset = h.T0 + timedelta(hours=hour)
        alerts += h.alerts_of(a, onset, timedelta(minutes=20))
        alerts += h.alerts_of(b, onset + timedelta(seconds=5), timedelta(minutes=20))
    [pair] = _pairs(tmp_path, h.ordered(alerts), example)
    assert pair.similarity == 0.0
    assert pair.together == (10, 10)
