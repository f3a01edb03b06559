"""Real processes for the end-to-end tests: `incidentd serve`, prometheus-alertmanager, and a
reader of incidentd's Redis queue.

Every process is started through the `processes` ExitStack, so it is stopped (SIGTERM, then
SIGKILL) when the test ends, whether it passed or not, in the reverse order of its start.
Alertmanager runs as in tests/payloads/alertmanager/capture.py: a temporary config and storage,
no clustering, `group_wait: 0s`, and a fixed `--web.external-url` (the sender identity that
goes into every fingerprint).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from incidentd.model import Alert
from incidentd.store.redis import RedisQueue
from tests.redis_server import RedisServer, free_port, redis_server_binary

ALERTMANAGER_BINARY = Path("/usr/bin/prometheus-alertmanager")
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config" / "example"
EXTERNAL_URL = "http://am-e2e.test:9093"
RECEIVER = "incidentd"
TOKEN_ENV = "E2E_ALERTMANAGER_TOKEN"  # noqa: S105 - the name of a variable, not a secret
GROUP_INTERVAL = 1.0
START_TIMEOUT = 15.0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Until `url` answers 200; fails with the process log if it exits or takes too long."""
    name = log.stem
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{_tail(log)}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    pytest.fail(f"{url} not ready after {START_TIMEOUT} s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` (a counter's `_total` sample name) matching `labels`."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as response:
        response.raise_for_status()
        return await response.text()


class Incidentd:
    """`python -m incidentd serve` on a free port, on the Redis queue `redis_url`/`prefix`,
    with a config dir whose sources.yaml requires `Authorization: Bearer <token>` from
    Alertmanager (the token read from the environment, as an operator would set it)."""

    def __init__(
        self,
        work: Path,
        *,
        redis_url: str,
        prefix: str,
        token: str,
        engine: bool = False,
        alertmanager_api: dict[str, Any] | None = None,
    ) -> None:
        config = work / "config"
        shutil.copytree(EXAMPLE_CONFIG, config)
        alertmanager: dict[str, Any] = {"auth": {"type": "bearer", "token": {"env": TOKEN_ENV}}}
        if alertmanager_api is not None:
            alertmanager["api"] = [alertmanager_api]
        sources = {"sources": {"alertmanager": alertmanager}}
        (config / "sources.yaml").write_text(yaml.safe_dump(sources))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.webhook_url = self.url + "/webhooks/alertmanager"
        self.log = work / "incidentd.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("INCIDENTD_")}
        env |= {
            "INCIDENTD_CONFIG_DIR": str(config),
            "INCIDENTD_PORT": str(self.port),
            "INCIDENTD_REDIS_URL": redis_url,
            "INCIDENTD_REDIS_PREFIX": prefix,
            "INCIDENTD_LOG_FORMAT": "json",
            # Ingest-only unless asked: then the test reads the queue itself, as the engine would.
            "INCIDENTD_ENGINE": "true" if engine else "false",
            TOKEN_ENV: token,
        }
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "incidentd", "serve"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    async def wait_ready(self) -> None:
        await _wait_ready(self.proc, self.url + "/readyz", self.log)

    async def metric(self, name: str, **labels: str) -> float:
        return metric(await scrape(self.url), name, **labels)

    def stop(self) -> None:
        _stop(self.proc)


class Alertmanager:
    """prometheus-alertmanager on 127.0.0.1 with one route to one webhook receiver that posts
    to `webhook_url` with `Authorization: Bearer <credentials>` and sends resolves."""

    def __init__(
        self,
        work: Path,
        *,
        webhook_url: str,
        credentials: str,
        group_interval: float = GROUP_INTERVAL,
        port: int | None = None,
    ) -> None:
        work.mkdir()
        config = {
            "route": {
                "receiver": RECEIVER,
                "group_by": ["alertname"],
                "group_wait": "0s",
                "group_interval": f"{group_interval:g}s",
                "repeat_interval": "4h",
            },
            "receivers": [
                {
                    "name": RECEIVER,
                    "webhook_configs": [
                        {
                            "url": webhook_url,
                            "send_resolved": True,
                            "http_config": {"authorization": {"credentials": credentials}},
                        }
                    ],
                }
            ],
        }
        (work / "alertmanager.yml").write_text(yaml.safe_dump(config))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / "alertmanager.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    str(ALERTMANAGER_BINARY),
                    f"--config.file={work / 'alertmanager.yml'}",
                    f"--storage.path={work / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",
                    f"--web.external-url={EXTERNAL_URL}",
                    "--log.level=debug",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self) -> None:
        await _wait_ready(self.proc, self.url + "/-/ready", self.log)

    async def post(self, alerts: list[dict[str, Any]]) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url + "/api/v2/alerts", json=alerts) as response,
        ):
            assert response.status == 200, await response.text()

    async def metric(self, name: str, **labels: str) -> float:
        return metric(await scrape(self.url), name, **labels)

    def stop(self) -> None:
        _stop(self.proc)

    def tail(self) -> str:
        return _tail(self.log)


class QueueReader:
    """Reads incidentd's queue as the engine would (same prefix, group and XREADGROUP) and
    keeps every alert in arrival order. Blocks on the stream; never polls with sleeps."""

    def __init__(self, queue: RedisQueue) -> None:
        self.queue = queue
        self.alerts: list[Alert] = []

    async def _read_once(self, block: float) -> None:
        entries = await self.queue.read("e2e", count=100, block_ms=max(1, int(block * 1000)))
        for entry in entries:
            self.alerts.extend(entry.alerts)
        await self.queue.ack([entry.id for entry in entries])

    async def until(self, done: Callable[[list[Alert]], bool], *, within: float) -> list[Alert]:
        """Read until `done(all alerts so far)`; fail with what arrived after `within` s."""
        deadline = time.monotonic() + within
        while not done(self.alerts):
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"not there after {within} s; the queue got: {self.summary()}")
            await self._read_once(min(left, 0.5))
        return self.alerts

    async def for_(self, seconds: float) -> list[Alert]:
        """Everything that arrives during the next `seconds`, on top of what already did."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            await self._read_once(min(left, 0.5))
        return self.alerts

    def summary(self) -> list[tuple[str, str, str]]:
        return [(a.name, a.labels.get("instance", ""), a.status.value) for a in self.alerts]


@pytest.fixture(scope="session")
def alertmanager_binary() -> Path:
    """The real Alertmanager; on CI (env CI set) its absence fails the run instead of skipping."""
    if not ALERTMANAGER_BINARY.exists():
        message = (
            f"{ALERTMANAGER_BINARY} is missing: scripts/test installs it (Debian package "
            "prometheus-alertmanager)"
        )
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return ALERTMANAGER_BINARY


@pytest.fixture
def processes() -> Iterator[contextlib.ExitStack]:
    """Stops whatever a test registered, in reverse order, even when the test failed."""
    with contextlib.ExitStack() as stack:
        yield stack


class StartIncidentd(Protocol):
    async def __call__(
        self,
        *,
        redis_url: str,
        prefix: str,
        token: str,
        engine: bool = False,
        alertmanager_api: dict[str, Any] | None = None,
    ) -> Incidentd: ...


class StartAlertmanager(Protocol):
    async def __call__(
        self,
        *,
        webhook_url: str,
        credentials: str,
        group_interval: float = GROUP_INTERVAL,
        port: int | None = None,
    ) -> Alertmanager: ...


class OpenQueue(Protocol):
    async def __call__(self, redis_url: str, prefix: str) -> QueueReader: ...


@pytest.fixture
def start_incidentd(processes: contextlib.ExitStack, tmp_path: Path) -> StartIncidentd:
    async def start(
        *,
        redis_url: str,
        prefix: str,
        token: str,
        engine: bool = False,
        alertmanager_api: dict[str, Any] | None = None,
    ) -> Incidentd:
        work = tmp_path / f"incidentd-{free_port()}"
        work.mkdir()
        daemon = Incidentd(
            work,
            redis_url=redis_url,
            prefix=prefix,
            token=token,
            engine=engine,
            alertmanager_api=alertmanager_api,
        )
        processes.callback(daemon.stop)
        await daemon.wait_ready()
        return daemon

    return start


@pytest.fixture
def start_alertmanager(
    alertmanager_binary: Path, processes: contextlib.ExitStack, tmp_path: Path
) -> StartAlertmanager:
    async def start(
        *,
        webhook_url: str,
        credentials: str,
        group_interval: float = GROUP_INTERVAL,
        port: int | None = None,
    ) -> Alertmanager:
        am = Alertmanager(
            tmp_path / f"alertmanager-{free_port()}",
            webhook_url=webhook_url,
            credentials=credentials,
            group_interval=group_interval,
            port=port,
        )
        processes.callback(am.stop)
        await am.wait_ready()
        return am

    return start


@pytest.fixture
async def open_queue() -> AsyncIterator[OpenQueue]:
    """Opens QueueReaders on a Redis URL and prefix; closes them after the test."""
    opened: list[RedisQueue] = []

    async def open_(redis_url: str, prefix: str) -> QueueReader:
        queue = RedisQueue.from_url(redis_url, prefix=prefix)
        opened.append(queue)
        await queue.start()
        return QueueReader(queue)

    yield open_
    for queue in opened:
        await queue.close()


@pytest.fixture
def private_redis(processes: contextlib.ExitStack, tmp_path: Path) -> RedisServer:
    """A redis-server of this test alone, on a free port: the one a test may stop and restart
    (never the shared server on 6379). Stopped after the processes started before it."""
    if redis_server_binary() is None:
        pytest.skip("needs a redis-server binary on PATH (scripts/test installs it)")
    directory = tmp_path / "private-redis"
    directory.mkdir()
    server = RedisServer(directory)
    processes.callback(server.stop)
    server.start()
    return server
