"""`incidentd suggest` end to end in process: reading histories, the report and its formats."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
import yaml

from incidentd.insight.suggest import HistoryError, Report, read, suggest
from incidentd.insight.suggest_render import render, transient_yaml
from incidentd.rules.loader import RuleSet, load
from tests.unit import suggest_histories as h


@pytest.fixture(scope="module")
def example() -> RuleSet:
    return load(h.EXAMPLE)


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, example: RuleSet) -> Report:
    """The pair and the transient type in one history, under incidentd's default policy."""
    tmp = tmp_path_factory.mktemp("both")
    rules = load(h.example_config(tmp / "config", sustain="0s"))
    pair = h.pair_history(4)
    transient = [a for a in h.transient_history(4) if a.name == h.TRANSIENT.name]
    path = h.write(tmp / "history.jsonl", h.ordered([*pair, *transient]))
    return suggest(read([str(path)], rules), rules)


def test_both_structures_are_proposed_and_nothing_else(both: Report) -> None:
    kinds = sorted((p.candidate.kind, p.candidate.summary) for p in both.proposals)
    assert kinds == [
        ("correlation", "group auth/LoginErrorsHigh, search/SearchTimeouts together"),
        (
            "sustain",
            "sustain 3m for search: search/SearchProbeFailed resolve by themselves",
        ),
    ]
    assert both.replays == 3


def test_yaml_output_is_one_document_per_proposal_with_the_evidence_in_comments(
    both: Report,
) -> None:
    text = render(both, "yaml")
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    learned = transient_yaml(both)
    assert learned, "the history has a transient type: its odds are printed too"
    assert documents == [p.candidate.snippet for p in both.proposals] + [yaml.safe_load(learned)]
    assert "# replay with it:" in text
    assert "#   avoided: " in text
    assert "#   merged: " in text


def test_markdown_output_names_each_proposal_its_file_and_its_evidence(both: Report) -> None:
    text = render(both, "md")
    assert text.startswith("# Suggestions\n")
    assert "## 1. " in text
    assert "## 2. " in text
    assert "`declaration.yaml`, policy.services.search" in text
    assert "`rules.yaml`, rules: before rule 'service-outage'" in text
    assert "Replay with it" in text
    assert "| search/SearchProbeFailed | 30 | 30 |" in text
    assert "`urgency.transient +0: " in text


def test_json_output_holds_the_patches_and_the_evidence(both: Report) -> None:
    data = json.loads(render(both, "json"))
    assert {p["kind"] for p in data["proposals"]} == {"sustain", "correlation"}
    sustain = next(p for p in data["proposals"] if p["kind"] == "sustain")
    assert sustain["patch"]["value"] == {"sustain": "3m"}
    assert sustain["evidence"]["avoided"]
    assert sustain["evidence"]["incidents"]["after"] < sustain["evidence"]["incidents"]["before"]
    assert data["transient"][0]["type"] == "search/SearchProbeFailed"
    assert data["transient"][0]["transient_odds"] > 0.8
    assert data["model"]["kind"] == "logistic regression"
    assert data["history"]["alerts"] == len(both.history.lines)


def test_a_history_without_structure_gets_no_proposal_in_every_format(
    tmp_path: Path, example: RuleSet
) -> None:
    path = h.write(tmp_path / "history.jsonl", h.independent_history(31))
    report = suggest(read([str(path)], example), example)
    assert report.proposals == ()
    assert "No proposal" in render(report, "md")
    assert [d for d in yaml.safe_load_all(render(report, "yaml")) if d] == []
    assert json.loads(render(report, "json"))["proposals"] == []


def test_several_files_in_any_order_are_one_history_in_received_order(
    tmp_path: Path, example: RuleSet
) -> None:
    alerts = h.pair_history(1)
    half = len(alerts) // 2
    late = h.write(tmp_path / "late.jsonl", alerts[half:])
    early = h.write(tmp_path / "early.jsonl", alerts[:half])
    whole = h.write(tmp_path / "whole.jsonl", alerts)
    assert read([str(late), str(early)], example).lines == read([str(whole)], example).lines


def test_recorded_webhooks_are_read_as_replay_reads_them(tmp_path: Path, example: RuleSet) -> None:
    body = {"alerts": [{"name": "A", "service": "search", "severity": "error"}]}
    record = {"source": "generic", "received_at": "2026-03-02T09:00:00Z", "body": json.dumps(body)}
    path = tmp_path / "webhooks.jsonl"
    path.write_bytes(orjson.dumps(record) + b"\n")
    history = read([str(path)], example)
    [info] = history.alerts.values()
    assert info.type == ("search", "A")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no alerts in the history"),
        (b"\n  \n", "no alerts in the history"),
        (b"{not json\n", "line 1: "),
        (h.jsonl(h.pair_history(1)[:2]) + b'{"source": "generic"}\n', "line 3: "),
        (b'{"source": "nope", "received_at": "2026-03-02T09:00:00Z", "body": "{}"}\n', "line 1"),
    ],
)
def test_a_bad_history_says_which_file_and_line(
    tmp_path: Path, example: RuleSet, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(HistoryError) as caught:
        read([str(path)], example)
    assert caught.value.message.startswith(f"{path}: ")
    assert message in caught.value.message
    assert "\n" not in caught.value.message


def test_a_missing_history_file_is_named(tmp_path: Path, example: RuleSet) -> None:
    with pytest.raises(HistoryError, match=r"missing\.jsonl: cannot read: No such file"):
        read([str(tmp_path / "missing.jsonl")], example)
