"""`incidentd report` as a user runs it: from recorded webhooks, from a running daemon's API
(a real `incidentd serve` process), and from the Redis store; one-line errors, exit codes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from incidentd.rules.loader import load
from incidentd.store.redis_state import RedisState
from tests.integration.test_daemon_process import Daemon, free_port, wall_clock_example
from tests.scenarios.shop_history import (
    ALERT_FIRINGS,
    EXAMPLE,
    recording,
    shop_history,
    store_history,
)

TOKEN = "change-me-local-dev-token"  # noqa: S105 (config/example/api.yaml's)
SHOP_PERIOD = ("--since", "2026-03-02", "--until", "2026-03-22")
OUTAGE = [
    {
        "name": "PostgresDown",
        "severity": "critical",
        "labels": {"job": "postgres", "cluster": "orders", "instance": "orders-db-1:9187"},
    },
    {
        "name": "CheckoutErrors",
        "severity": "critical",
        "labels": {"namespace": "shop", "app": "checkout", "pod": "checkout-7d9f-a"},
    },
]


def incidentd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTD_")}
    return subprocess.run(
        [sys.executable, "-m", "incidentd", "report", "--config", str(EXAMPLE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**clean, **(env or {})},
    )


def table(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    path = tmp_path / "webhooks.jsonl"
    path.write_bytes(recording(shop_history()))
    return path


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--since", "yesterday"],
            "incidentd: report: --since: 'yesterday' is not a time like 2026-03-02T09:00:00Z "
            "or a date like 2026-03-02",
        ),
        (
            ["--until", "2026-03-02T09:00"],
            "incidentd: report: --until: '2026-03-02T09:00' has no UTC offset",
        ),
        (
            ["--since", "2026-03-10", "--until", "2026-03-01"],
            "incidentd: report: --since (2026-03-10 00:00 UTC) is not before --until",
        ),
        (["--url", "http://a", "--redis-url", "redis://b"], "incidentd: report: give --url or"),
        (["--top", "0"], "incidentd: report: --top must be 1 or more"),
        (["--format", "pdf"], "invalid choice: 'pdf'"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(recorded: Path, args: list[str], says: str) -> None:
    result = incidentd("--alerts", str(recorded), *args)
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_history_that_cannot_be_read_exits_1_naming_it(tmp_path: Path) -> None:
    nothing = incidentd(*SHOP_PERIOD)
    assert (nothing.returncode, nothing.stderr) == (
        1,
        "incidentd: report: no history to read: give --url, --redis-url or --alerts\n",
    )
    missing = incidentd(*SHOP_PERIOD, "--alerts", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"incidentd: report: cannot read {tmp_path / 'nope.jsonl'}")
    url = f"http://127.0.0.1:{free_port()}"
    down = incidentd(*SHOP_PERIOD, "--url", url)
    assert down.returncode == 1
    assert down.stderr.startswith(f"incidentd: report: {url}/api/v1/incidents?limit=1000: ")
    bad_url = incidentd(*SHOP_PERIOD, "--redis-url", "localhost:6379")
    assert bad_url.returncode == 1
    assert bad_url.stderr.startswith("incidentd: report: --redis-url: Redis URL must specify")
    assert "Traceback" not in down.stderr + missing.stderr + bad_url.stderr


def test_from_recorded_webhooks_csv_to_stdout_and_markdown_with_charts(
    recorded: Path, tmp_path: Path
) -> None:
    result = incidentd(*SHOP_PERIOD, "--alerts", str(recorded), "--format", "csv")
    assert result.returncode == 0, result.stderr
    [row] = table(result.stdout)  # what the engine declares from the alerts alone
    assert (row["id"], row["priority"], row["root_causes"]) == ("INC-1001", "P1", "auth")

    out = tmp_path / "report"
    written = incidentd(*SHOP_PERIOD, "--alerts", str(recorded), "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "alerts_per_week.png",
        "incidents_per_week.png",
        "report.md",
        "sla_compliance.png",
    ]
    text = (out / "report.md").read_text()
    assert text.startswith("# Incident report 2026-03-02 00:00 to 2026-03-23 00:00 UTC\n")
    assert f"| alert firings (new or again after resolving) | {ALERT_FIRINGS} |" in text
    assert "![alerts per week](alerts_per_week.png)" in text


@pytest.fixture
def locked_config(tmp_path: Path) -> Path:
    """The example, with reads that need a token."""
    target = wall_clock_example(tmp_path)
    api = target / "api.yaml"
    api.write_text(api.read_text().replace("anonymous_read: true", "anonymous_read: false"))
    return target


@pytest.fixture
async def daemon(locked_config: Path, tmp_path: Path) -> AsyncIterator[Daemon]:
    record = {"INCIDENTD_RECORD_PATH": str(tmp_path / "webhooks.jsonl")}
    proc = Daemon(locked_config, free_port(), tmp_path / "daemon.log", env=record)
    try:
        await proc.wait_ready()
        yield proc
    finally:
        proc.stop()


async def _call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> Any:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    data = None if body is None else json.dumps(body).encode()
    async with http.request(method, url, data=data, headers=headers) as response:
        assert response.status in (200, 202), await response.text()
        return await response.json()


async def _p1(http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(100):
        listed = await _call(http, "GET", url + "/api/v1/incidents")
        if listed["incidents"] and listed["incidents"][0]["priority"] == "P1":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no P1 incident: {listed}")


async def test_from_a_running_daemons_api_with_its_recorded_webhooks(
    daemon: Daemon, tmp_path: Path
) -> None:
    url = daemon.url
    async with aiohttp.ClientSession() as http:
        for body in OUTAGE:
            await _call(http, "POST", url + "/webhooks/generic", body)
        await _p1(http, url)
        incident = url + "/api/v1/incidents/INC-1000/status"
        await _call(http, "POST", incident, {"status": "acknowledged", "by": "alice"})
        await _call(http, "POST", incident, {"status": "resolved", "by": "alice"})
    now = datetime.now(UTC)
    period = ("--since", f"{now - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}")
    period += ("--until", f"{now + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}")

    refused = await asyncio.to_thread(incidentd, *period, "--url", url)
    assert refused.returncode == 1
    assert "401: the API needs a token with the read scope (--token)" in refused.stderr

    result = await asyncio.to_thread(
        incidentd, *period, "--url", url, "--token", TOKEN, "--format", "csv"
    )
    assert result.returncode == 0, result.stderr
    [row] = table(result.stdout)
    assert (row["id"], row["priority"], row["status"]) == ("INC-1000", "P1", "resolved")
    assert (row["sla_declare"], row["sla_acknowledge"], row["sla_resolve"]) == ("met",) * 3
    assert 0 <= float(row["minutes_to_acknowledge"]) < 1

    recorded = tmp_path / "webhooks.jsonl"
    for _ in range(50):  # the recorder writes in the background
        if recorded.exists() and len(recorded.read_bytes().splitlines()) == 2:
            break
        await asyncio.sleep(0.1)
    out = tmp_path / "csv"
    env = {"INCIDENTD_TOKEN": TOKEN}
    args = (*period, "--url", url, "--alerts", str(recorded), "--format", "csv", "--out", str(out))
    written = await asyncio.to_thread(incidentd, *args, env=env)
    assert written.returncode == 0, written.stderr
    noise = {r["measure"]: r["value"] for r in table((out / "noise.csv").read_text())}
    assert noise["alert firings (new or again after resolving)"] == "2"
    assert noise["incidents declared"] == "1"
    assert noise["noise reduction pct"] == "50.0"
    summary = (out / "summary.csv").read_text()
    assert "Incidents declared,1 (P1: 1)" in summary


@pytest.mark.redis
async def test_from_the_redis_store(
    redis_url: str, redis_prefix: str, recorded: Path, tmp_path: Path
) -> None:
    store = RedisState.from_url(redis_url, prefix=redis_prefix)
    try:
        await store_history(store, shop_history(), load(EXAMPLE, env={}))
    finally:
        await store.close()
    env = {"INCIDENTD_REDIS_URL": redis_url, "INCIDENTD_REDIS_PREFIX": redis_prefix}
    out = tmp_path / "csv"
    args = (*SHOP_PERIOD, "--alerts", str(recorded), "--format", "csv", "--out", str(out))
    result = await asyncio.to_thread(incidentd, *args, env=env)
    assert result.returncode == 0, result.stderr
    by_priority = table((out / "by_priority.csv").read_text())
    assert [(r["priority"], r["incidents"], r["open"]) for r in by_priority] == [
        ("P1", "4", "1"),
        ("P3", "1", "0"),
    ]
    sla = {
        (r["priority"], r["clock"]): (r["met"], r["breached"])
        for r in table((out / "sla.csv").read_text())
    }
    assert sla[("P1", "acknowledge")] == ("2", "2")
    assert sla[("P3", "acknowledge")] == ("0", "1")
    [recurring] = table((out / "recurring.csv").read_text())
    assert recurring["ids"] == "INC-1001, INC-1003, INC-1005"

    quiet = await asyncio.to_thread(
        incidentd, "--since", "2025-01-01", "--until", "2025-01-31", env=env
    )
    assert quiet.returncode == 0, quiet.stderr
    assert (
        "No incidents were declared between 2025-01-01 00:00 and 2025-02-01 00:00 UTC"
        in quiet.stdout
    )
