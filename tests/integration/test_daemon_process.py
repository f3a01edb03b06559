"""`incidentd serve` as a real process: start-up, SIGHUP reload, graceful SIGTERM, bad config."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"
ALERT = json.dumps({"name": "DiskFull", "severity": "critical"}).encode()
JSON = {"Content-Type": "application/json"}


def wall_clock_example(folder: Path) -> Path:
    """config/example for a daemon on the wall clock: a copy without its silences. Its weekly
    maintenance window (Sundays 02:00-04:00 Europe/Paris) silences orders-db, where these
    tests' outages start, and a test run during that window must see the same outcome."""
    target = folder / "config"
    shutil.copytree(EXAMPLE, target)
    (target / "silences.yaml").write_text("silences: []\n", encoding="utf-8")
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Daemon:
    def __init__(
        self, config: Path, port: int, log: Path, *, env: dict[str, str] | None = None
    ) -> None:
        self.config = config
        self.port = port
        self.log_path = log
        self.url = f"http://127.0.0.1:{port}"
        self._log = log.open("ab")
        extra = env or {}
        env = {**os.environ, "INCIDENTD_LOG_FORMAT": "json", "INCIDENTD_RELOAD_INTERVAL": "0.2"}
        env.pop("INCIDENTD_REDIS_URL", None)
        env |= extra
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "incidentd",
                "serve",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def logs(self) -> list[dict[str, object]]:
        lines = self.log_path.read_bytes().splitlines()
        return [json.loads(line) for line in lines if line.startswith(b"{")]

    def raw_log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_ready(self) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                assert self.proc.poll() is None, self.raw_log()
                try:
                    async with http.get(self.url + "/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("daemon did not become ready:\n" + self.raw_log())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(EXAMPLE, target)
    return target


@pytest.fixture
async def daemon(config: Path, tmp_path: Path) -> AsyncIterator[Daemon]:
    proc = Daemon(config, free_port(), tmp_path / "daemon.log")
    try:
        await proc.wait_ready()
        yield proc
    finally:
        proc.stop()


async def post(url: str, body: bytes = ALERT, headers: dict[str, str] = JSON) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status


async def test_serve_starts_on_the_memory_store_and_says_so(daemon: Daemon) -> None:
    assert await post(daemon.url + "/webhooks/generic") == 202
    events = {line["event"]: line for line in daemon.logs()}
    assert events["daemon.started"]["store"] == "memory"
    assert "store.in_memory" in events


async def test_bad_edit_keeps_running_rules_and_good_edit_swaps_them(daemon: Daemon) -> None:
    sources = daemon.config / "sources.yaml"
    sources.write_text("sources:\n  generic:\n    auth: {type: bearr}\n")
    daemon.proc.send_signal(signal.SIGHUP)
    for _ in range(50):
        if any(line["event"] == "config.invalid" for line in daemon.logs()):
            break
        await asyncio.sleep(0.1)
    [invalid, *_] = [line for line in daemon.logs() if line["event"] == "config.invalid"]
    assert any(str(p).startswith("sources.yaml:3:") for p in invalid["problems"])  # type: ignore[attr-defined]
    assert await post(daemon.url + "/webhooks/generic") == 202, "old rules keep running"
    async with aiohttp.ClientSession() as http, http.get(daemon.url + "/readyz") as r:
        assert r.status == 200

    sources.write_text("sources:\n  generic:\n    auth: {type: bearer, token: t0ken}\n")
    for _ in range(50):  # picked up by the file watcher, no signal needed
        if await post(daemon.url + "/webhooks/generic") == 401:
            break
        await asyncio.sleep(0.1)
    assert await post(daemon.url + "/webhooks/generic") == 401
    authorized = {**JSON, "Authorization": "Bearer t0ken"}
    assert await post(daemon.url + "/webhooks/generic", headers=authorized) == 202


async def test_sigterm_finishes_the_request_in_flight(daemon: Daemon) -> None:
    async def slow_body() -> AsyncIterator[bytes]:
        yield ALERT[:5]
        await asyncio.sleep(0.3)  # the request is now being handled by the daemon
        daemon.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        yield ALERT[5:]

    status = await post(daemon.url + "/webhooks/generic", body=slow_body())  # type: ignore[arg-type]
    assert status == 202
    assert await asyncio.to_thread(daemon.proc.wait, 10) == 0
    events = [line["event"] for line in daemon.logs()]
    assert events.index("daemon.stopping") < events.index("daemon.stopped")


def test_bad_config_at_start_exits_2_with_file_and_line(config: Path, tmp_path: Path) -> None:
    (config / "sources.yaml").write_text("sources:\n  splunk:\n    auto_resolve_after: soon\n")
    result = subprocess.run(
        [sys.executable, "-m", "incidentd", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("sources.yaml:3: sources.splunk.auto_resolve_after:")
    assert "Traceback" not in result.stderr


def test_port_in_use_is_a_one_line_error(config: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "incidentd",
                "serve",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 2
    assert f"cannot serve on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
