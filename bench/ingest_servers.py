"""The three servers the ingest benchmark loads, each a subprocess on 127.0.0.1:

- incidentd: `incidentd serve` on the example config with the Redis queue under a key prefix of
  its own (the Redis server may be shared), a high-water mark the run never reaches, its
  stream deleted between runs and every key of the prefix deleted at the end; an ingest-only
  replica (`INCIDENTD_ENGINE=false`) unless `engine=True`;
- aiohttp: the bare app of bench/ingest_bare_app.py, the ceiling for Python;
- alertmanager: the real Prometheus Alertmanager started as the end-to-end tests start it
  (temporary storage, no clustering), routing everything to a receiver with no integrations.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Protocol

import redis
import yaml

from incidentd.store.keys import Keys

REPO = Path(__file__).resolve().parent.parent
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
START_TIMEOUT = 20.0
QUEUE_MAX_DEPTH = 50_000_000
"""incidentd's high-water mark in entries (one per webhook): far more than a run appends."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - our own URL
                if resp.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    proc.kill()
    tail = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{url} did not become ready; log {log}:\n{tail}")


class Server(Protocol):
    name: str
    url: str
    """Where the load goes (POST)."""
    body_kind: str
    """"webhook" (Alertmanager's notification) or "api" (Alertmanager's postable alerts)."""
    ok_status: int

    @property
    def pid(self) -> int: ...
    def start(self) -> None: ...
    def reset(self) -> int | None: ...
    def stop(self) -> None: ...


class _Process:
    """A server subprocess with its log file in the benchmark's work folder."""

    name = "server"
    ready_path = "/healthz"

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = work / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.proc.pid

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        _wait_ready(self.base + self.ready_path, self.proc, self.log)

    def reset(self) -> int | None:
        """Called between runs; returns what the server stored since the last reset, if known."""
        return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log_file is not None:
            self._log_file.close()


class Incidentd(_Process):
    name = "incidentd"
    body_kind = "webhook"
    ok_status = 202
    ready_path = "/readyz"

    def __init__(self, work: Path, *, redis_url: str, engine: bool = False) -> None:
        super().__init__(work)
        self.url = self.base + "/webhooks/alertmanager"
        self.redis_url = redis_url
        self.engine = engine
        self.prefix = f"bench-ingest-{os.getpid()}-{secrets.token_hex(3)}"
        self.keys = Keys(self.prefix)
        self.redis = redis.Redis.from_url(redis_url)

    def start(self) -> None:
        env = {
            **os.environ,
            "INCIDENTD_REDIS_URL": self.redis_url,
            "INCIDENTD_REDIS_PREFIX": self.prefix,
            "INCIDENTD_QUEUE_MAX_DEPTH": str(QUEUE_MAX_DEPTH),
            "INCIDENTD_LOG_LEVEL": "warning",
            # An ingest-only replica unless asked: the engine would share the process's core.
            "INCIDENTD_ENGINE": "true" if self.engine else "false",
        }
        argv = [sys.executable, "-m", "incidentd", "serve", "--config", "config/example"]
        self._spawn([*argv, "--port", str(self.port)], env)

    def reset(self) -> int:
        """Delete the queue stream; returns the entries it held (with the engine on: the ones
        it had not consumed yet)."""
        depth = int(self.redis.xlen(self.keys.alerts))
        self.redis.delete(self.keys.alerts)
        return depth

    def stop(self) -> None:
        super().stop()
        keys = list(self.redis.scan_iter(match=self.keys.pattern, count=1000))
        if keys:
            self.redis.delete(*keys)
        self.redis.close()


class BareAiohttp(_Process):
    name = "aiohttp"
    body_kind = "webhook"
    ok_status = 202

    def __init__(self, work: Path) -> None:
        super().__init__(work)
        self.url = self.base + "/webhooks/alertmanager"

    def start(self) -> None:
        app = str(REPO / "bench" / "ingest_bare_app.py")
        self._spawn([sys.executable, app, "--port", str(self.port)])


class Alertmanager(_Process):
    name = "alertmanager"
    body_kind = "api"
    ok_status = 200
    ready_path = "/-/ready"

    def __init__(self, work: Path, *, binary: str = ALERTMANAGER) -> None:
        super().__init__(work)
        self.url = self.base + "/api/v2/alerts"
        self.binary = binary
        self.work = work

    def start(self) -> None:
        config = {
            "route": {
                "receiver": "blackhole",
                "group_by": ["alertname"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
            },
            "receivers": [{"name": "blackhole"}],  # no integrations: notifications go nowhere
        }
        conf = self.work / "alertmanager.yml"
        conf.write_text(yaml.safe_dump(config))
        self._spawn(
            [
                self.binary,
                f"--config.file={conf}",
                f"--storage.path={self.work / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ]
        )


def version_of(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not found"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""
