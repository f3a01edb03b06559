"""`incidentd postmortem INCIDENT_ID` as a user runs it, against a real daemon: the draft from
the API (flags or INCIDENTD_URL / INCIDENTD_TOKEN) or straight from the Redis store
(INCIDENTD_REDIS_URL), the chart beside it, and one-line errors with their exit codes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from tests.integration.test_daemon_process import EXAMPLE, Daemon, free_port, wall_clock_example
from tests.integration.test_incidents_api import OUTAGE, TOKEN, _first_incident


def incidentd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTD_")}
    return subprocess.run(
        [sys.executable, "-m", "incidentd", "postmortem", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**clean, **(env or {})},
    )


async def _declared(daemon: Daemon) -> None:
    async with aiohttp.ClientSession() as http:
        for body in OUTAGE:
            async with http.post(daemon.url + "/webhooks/generic", json=body) as r:
                assert r.status == 202
        await _first_incident(http, daemon.url)


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    proc = Daemon(wall_clock_example(tmp_path), free_port(), tmp_path / "daemon.log")
    try:
        await proc.wait_ready()
        await _declared(proc)
        yield proc
    finally:
        proc.stop()


def _as_given(path: Path) -> str:
    """How the draft links a --chart path given without --output: from the working folder."""
    return Path(os.path.relpath(path)).as_posix()


def _one_line_error(result: subprocess.CompletedProcess[str], code: int, start: str) -> None:
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"incidentd: postmortem: {start}"), result.stderr
    assert "Traceback" not in result.stderr


async def test_the_draft_and_its_chart_from_the_api(daemon: Daemon, tmp_path: Path) -> None:
    out = tmp_path / "review"
    (out / "img").mkdir(parents=True)
    result = incidentd(
        "INC-1000",
        "--url",
        daemon.url,
        "--token",
        TOKEN,
        "--chart",
        str(out / "img" / "INC-1000.png"),
        "--output",
        str(out / "INC-1000.md"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    text = (out / "INC-1000.md").read_text()
    assert text.startswith("# Post-incident review: INC-1000\n")
    assert "![Alerts attached to the incident over time](img/INC-1000.png)" in text
    image = Image.open(io.BytesIO((out / "img" / "INC-1000.png").read_bytes()))
    assert (image.format, image.size) == ("PNG", (900, 360))
    # the environment names the daemon; without --output the draft is on stdout
    result = incidentd("INC-1000", env={"INCIDENTD_URL": daemon.url, "INCIDENTD_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Post-incident review: INC-1000\n")
    assert "## Alert volume" not in result.stdout, "no --chart: no chart to link"
    assert "| First alert |" in result.stdout


async def test_errors_are_one_line_with_their_exit_code(daemon: Daemon, tmp_path: Path) -> None:
    missing = incidentd("INC-9", "--url", daemon.url)
    _one_line_error(missing, 1, "no incident 'INC-9'")
    refused = incidentd("INC-1000", "--url", daemon.url, "--token", "wrong")
    _one_line_error(refused, 2, f"{daemon.url}/api/v1/incidents/INC-1000/postmortem answered 401")
    assert "invalid token" in refused.stderr
    nobody = incidentd("INC-1000", "--url", f"http://127.0.0.1:{free_port()}")
    _one_line_error(nobody, 2, "cannot reach http://127.0.0.1:")
    both = incidentd("INC-1000", "--url", daemon.url, "--redis-url", "redis://127.0.0.1:1/0")
    _one_line_error(both, 2, "give --url or --redis-url, not both")
    result = incidentd(
        "INC-1000", "--url", daemon.url, "--chart", str(tmp_path / "no" / "such" / "c.png")
    )
    _one_line_error(result, 2, f"cannot write {tmp_path / 'no' / 'such' / 'c.png'}")


@pytest.mark.redis
async def test_the_draft_straight_from_the_redis_store(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = {"INCIDENTD_REDIS_URL": redis_url, "INCIDENTD_REDIS_PREFIX": redis_prefix}
    proc = Daemon(wall_clock_example(tmp_path), free_port(), tmp_path / "daemon.log", env=env)
    try:
        await proc.wait_ready()
        await _declared(proc)
    finally:
        proc.stop()  # the store has it all: no daemon needed to read it
    chart = tmp_path / "c.png"
    result = incidentd("INC-1000", "--config", str(EXAMPLE), "--chart", str(chart), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Post-incident review: INC-1000\n")
    assert "### orders-db (1 alert)" in result.stdout
    assert f"]({_as_given(chart)})" in result.stdout
    assert Image.open(io.BytesIO(chart.read_bytes())).format == "PNG"
    missing = incidentd("INC-9", "--config", str(EXAMPLE), env=env)
    _one_line_error(missing, 1, f"no incident 'INC-9' in the store (prefix '{redis_prefix}')")
    down = {**env, "INCIDENTD_REDIS_URL": f"redis://:secret@127.0.0.1:{free_port()}/0"}
    unreachable = incidentd("INC-1000", "--config", str(EXAMPLE), env=down)
    _one_line_error(unreachable, 2, "the Redis store: redis unreachable")
    assert "secret" not in unreachable.stderr
