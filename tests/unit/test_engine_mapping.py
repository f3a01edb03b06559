"""The engine keeps an alert's service and rule across its reports while what the selectors
and the rules read of it stays the same, and maps it again when that or the rules change."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path
from typing import Any

import pytest

from incidentd.correlate.matchers import parse
from incidentd.engine import Decision, Engine
from incidentd.model import Alert, Severity
from incidentd.rules.loader import RuleSet, load
from incidentd.rules.schema import RulesFile
from tests.unit.alerts import alert, at

CONFIG = Path(__file__).resolve().parents[1] / "scenarios" / "config"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load(CONFIG, env={})


def _again(first: Alert, minute: float, **changes: Any) -> Alert:
    """Another report of the same alert (the same fingerprint) at `minute`."""
    update = {"event_id": f"{first.event_id}-{minute}", "received_at": at(minute), **changes}
    return first.model_copy(update=update)


def _repeat(decisions: list[Decision]) -> Decision:
    [repeat] = [d for d in decisions if d.kind == "alert.repeat"]
    return repeat


def test_a_repeat_with_other_labels_is_mapped_again(rules: RuleSet) -> None:
    engine = Engine()
    first = alert("PoolExhausted", minute=0, labels={"job": "postgres"})
    engine.process([first], rules=rules)
    assert engine.state.alerts[first.fingerprint].service == "orders-db"
    engine.process([_again(first, 1, labels={"app": "orders-api"})], rules=rules)
    assert engine.state.alerts[first.fingerprint].service == "orders-api"


def test_a_repeat_naming_another_service_is_mapped_and_ruled_again(rules: RuleSet) -> None:
    engine = Engine()
    first = alert("Errors", minute=0, service="search")
    engine.process([first], rules=rules)
    decisions = engine.process([_again(first, 1, service="checkout-web")], rules=rules)
    assert engine.state.alerts[first.fingerprint].service == "checkout-web"
    assert "rule shop-cascade" in _repeat(decisions).reasons


def test_a_repeat_with_another_severity_is_ruled_again(rules: RuleSet) -> None:
    by_severity = RulesFile.model_validate(
        {"rules": [{"name": "criticals", "match": ['severity="critical"']}]}
    )
    rules = dataclasses.replace(rules, rules=by_severity, version="by-severity")
    engine = Engine()
    first = alert("Errors", minute=0, service="search", severity=Severity.ERROR)
    engine.process([first], rules=rules)
    decisions = engine.process([_again(first, 1)], rules=rules)
    assert "rule by-service" in _repeat(decisions).reasons
    decisions = engine.process([_again(first, 2, severity=Severity.CRITICAL)], rules=rules)
    assert "rule criticals" in _repeat(decisions).reasons


def test_the_next_report_after_a_rules_change_follows_the_new_rules(rules: RuleSet) -> None:
    engine = Engine()
    first = alert("Errors", minute=0, service="search")
    engine.process([first], rules=rules)
    decisions = engine.process([_again(first, 1)], rules=rules)
    assert "rule by-service" in _repeat(decisions).reasons
    search_only = RulesFile.model_validate(
        {"rules": [{"name": "search-only", "match": ['service="search"']}]}
    )
    changed = dataclasses.replace(rules, rules=search_only, version="search-only")
    decisions = engine.process([_again(first, 2)], rules=changed)
    assert "rule search-only" in _repeat(decisions).reasons


def test_an_engine_with_its_compiled_rules_pickles_and_still_matches(rules: RuleSet) -> None:
    """Regex matchers bind their test once (no lambda): an engine, compiled rules included,
    can be copied whole by pickle (bench/engine.py's flatness section starts each run from a
    pickled engine)."""
    matchers = [parse('job=~"post.*"'), parse('job!~"post.*"'), parse('job="postgres"')]
    copies = pickle.loads(pickle.dumps(matchers))  # noqa: S301 (bytes made just here)
    labelled = alert("PostgresDown", labels={"job": "postgres"})
    assert [m.matches(labelled) for m in copies] == [True, False, True]
    engine = Engine()
    engine.process([labelled], rules=rules)
    again: Engine = pickle.loads(pickle.dumps(engine))  # noqa: S301 (bytes made just above)
    assert again.state.alerts == engine.state.alerts
    later = alert("PostgresDown", minute=1, labels={"job": "postgres"}, report="2")
    assert again.process([later], rules=rules)
