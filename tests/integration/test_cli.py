"""The `incidentd` command as a user runs it: output on stdout, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PAYLOADS = Path(__file__).resolve().parents[1] / "payloads"
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"


def incidentd(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "incidentd", *args],
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_normalize_prints_one_json_alert_per_line_from_a_file_or_stdin() -> None:
    body = json.dumps({"alerts": [{"name": "A"}, {"name": "B", "status": "resolved"}]}).encode()
    result = incidentd("normalize", "generic", "-", stdin=body)
    assert result.returncode == 0, result.stderr
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(a["name"], a["status"]) for a in alerts] == [("A", "firing"), ("B", "resolved")]
    assert {
        "source",
        "fingerprint",
        "severity",
        "title",
        "service",
        "labels",
        "starts_at",
        "ends_at",
        "received_at",
        "url",
    } <= set(alerts[0])


def test_normalize_uses_the_servers_parser_on_payload_files() -> None:
    [sample] = sorted((PAYLOADS / "alertmanager").glob("single_firing.json"))
    result = incidentd("normalize", "alertmanager", str(sample))
    assert result.returncode == 0, result.stderr
    [alert] = [json.loads(line) for line in result.stdout.splitlines()]
    assert alert["source"] == "alertmanager"
    assert alert["status"] == "firing"


def test_normalize_rejects_a_bad_body_with_one_line_naming_the_path() -> None:
    result = incidentd("normalize", "generic", "-", stdin=b'{"name": 5}')
    assert result.returncode == 1
    err = result.stderr.decode()
    assert err.count("\n") == 1
    assert err.startswith("incidentd: generic: $.name")
    assert result.stdout == b""


def test_normalize_rejects_truncated_json_without_traceback() -> None:
    result = incidentd("normalize", "alertmanager", "-", stdin=b'{"version": "4", "alerts": [')
    assert result.returncode == 1
    assert b"not valid JSON" in result.stderr
    assert b"Traceback" not in result.stderr


def test_normalize_missing_file_and_unknown_source() -> None:
    missing = incidentd("normalize", "generic", "/nonexistent/body.json")
    assert missing.returncode == 2
    assert missing.stderr.decode().startswith("incidentd: cannot read /nonexistent/body.json")
    unknown = incidentd("normalize", "nagios", "-", stdin=b"{}")
    assert unknown.returncode == 2
    assert b"invalid choice: 'nagios'" in unknown.stderr


def test_check_accepts_the_example_and_reports_every_problem(tmp_path: Path) -> None:
    ok = incidentd("check", str(EXAMPLE))
    assert ok.returncode == 0, ok.stderr
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  splunk: {auto_resolve_after: x}\n  grafana: {enabeld: true}\n"
    )
    bad = incidentd("check", str(tmp_path))
    assert bad.returncode == 1
    assert bad.stderr.decode().splitlines() == [
        "sources.yaml:2: sources.splunk.auto_resolve_after: 'x' is not a duration like "
        "90s, 15m, 4h or 1d",
        "sources.yaml:3: unknown key 'enabeld'",
    ]


def test_replay_reports_the_incidents_that_would_have_been_declared(tmp_path: Path) -> None:
    """Webhook records of a database outage, as the daemon records them."""
    bodies = [
        {
            "name": "PostgresDown",
            "severity": "critical",
            "labels": {"job": "postgres", "cluster": "orders"},
        },
        {
            "name": "CheckoutErrors",
            "severity": "critical",
            "labels": {"namespace": "shop", "app": "checkout"},
        },
    ]
    lines = [
        json.dumps(
            {"source": "generic", "received_at": f"2026-03-02T09:0{i}:00Z", "body": json.dumps(b)}
        )
        for i, b in enumerate(bodies)
    ]
    records = tmp_path / "webhooks.jsonl"
    records.write_text("\n".join(lines) + "\n")
    result = incidentd("replay", "--incidents", "--config", str(EXAMPLE), str(records))
    assert result.returncode == 0, result.stderr
    [incident] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (incident["id"], incident["priority"]) == ("INC-1000", "P1")
    assert incident["timeline"][0]["kind"] == "declared"
    summary = result.stderr.decode()
    assert "1 incidents" in summary
    assert "INC-1000 P1 Checkout and browse degraded: orders-db failing" in summary
    assert "declared 0 s after its first alert" in summary
