"""`incidentd suggest` as a user runs it: proposals on stdout, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.unit import suggest_histories as h


def incidentd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "incidentd", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_suggest_prints_the_correlation_rule_and_its_evidence(tmp_path: Path) -> None:
    history = h.write(tmp_path / "history.jsonl", h.pair_history(2))
    result = incidentd("suggest", "--config", str(h.EXAMPLE), str(history), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    [proposal] = data["proposals"]
    assert proposal["kind"] == "correlation"
    assert proposal["file"] == "rules.yaml"
    evidence = proposal["evidence"]
    assert evidence["focus_groups"]["after"] < evidence["focus_groups"]["before"]
    assert evidence["incidents"]["after"] < evidence["incidents"]["before"]
    assert result.stderr.startswith("suggest: 1 proposal(s) from ")


def test_suggest_yaml_is_ready_to_paste_and_reads_several_files(tmp_path: Path) -> None:
    config = h.example_config(tmp_path / "config", sustain="0s")
    alerts = h.transient_history(3)
    half = len(alerts) // 2
    first = h.write(tmp_path / "monday.jsonl", alerts[:half])
    second = h.write(tmp_path / "thursday.jsonl", alerts[half:])
    result = incidentd(
        "suggest", "--config", str(config), str(second), str(first), "--format", "yaml"
    )
    assert result.returncode == 0, result.stderr
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    sustain, learned = documents
    assert sustain == {"policy": {"services": {"search": {"sustain": "3m"}}}}
    assert list(learned["scoring"]["transient"]) == ["search/SearchProbeFailed"]
    assert "#   avoided: " in result.stdout


def test_suggest_markdown_is_the_default_and_says_when_there_is_nothing(tmp_path: Path) -> None:
    history = h.write(tmp_path / "history.jsonl", h.independent_history(5))
    result = incidentd("suggest", "--config", str(h.EXAMPLE), str(history))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Suggestions\n")
    assert "No proposal: nothing in this history supports a change." in result.stdout


def _one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    return result.stderr


def test_a_bad_line_is_named_with_its_file_and_exit_1(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_bytes(h.jsonl(h.pair_history(1)[:3]) + b'{"status": "firing"\n')
    result = incidentd("suggest", "--config", str(h.EXAMPLE), str(history))
    err = _one_line_error(result, 1)
    assert err.startswith(f"incidentd: {history}: line 4: ")


def test_an_empty_history_is_an_error(tmp_path: Path) -> None:
    history = tmp_path / "empty.jsonl"
    history.write_bytes(b"")
    result = incidentd("suggest", "--config", str(h.EXAMPLE), str(history))
    err = _one_line_error(result, 1)
    assert err == f"incidentd: {history}: no alerts in the history\n"


def test_a_missing_history_is_an_error(tmp_path: Path) -> None:
    result = incidentd("suggest", "--config", str(h.EXAMPLE), str(tmp_path / "nope.jsonl"))
    err = _one_line_error(result, 1)
    assert "nope.jsonl: cannot read: No such file or directory" in err


def test_a_bad_config_is_reported_with_file_and_line_and_exit_2(tmp_path: Path) -> None:
    config = h.example_config(tmp_path / "config")
    (config / "rules.yaml").write_text("rules:\n  - name: x\n    windoww: 5m\n", encoding="utf-8")
    history = h.write(tmp_path / "history.jsonl", h.pair_history(1)[:10])
    result = incidentd("suggest", "--config", str(config), str(history))
    err = _one_line_error(result, 2)
    assert err == "rules.yaml:3: unknown key 'windoww'\n"


def test_a_missing_config_directory_is_an_error(tmp_path: Path) -> None:
    history = h.write(tmp_path / "history.jsonl", h.pair_history(1)[:10])
    result = incidentd("suggest", "--config", str(tmp_path / "none"), str(history))
    err = _one_line_error(result, 2)
    assert "not a directory" in err
