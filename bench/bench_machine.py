"""What every benchmark driver records about the machine and the code it measured, and how it
stops on SIGTERM. Shared by bench/ingest.py, bench/engine.py and bench/declare.py."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import redis
from ingest_servers import version_of

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("aiohttp", "orjson", "pydantic", "redis")


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return ""


def _redis_version(url: str) -> str | None:
    try:
        found = redis.Redis.from_url(url).info("server").get("redis_version")
    except redis.RedisError:
        return None
    return None if found is None else str(found)


def _git(*args: str) -> str:
    git = ["git", "--no-optional-locks", "-C", str(REPO), *args]
    return subprocess.run(git, capture_output=True, text=True).stdout


def describe(redis_url: str, tools: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """CPU, kernel, Python, package and tool versions (`tools`: name -> the command that
    prints its version), Redis server, the commit and what of incidentd/ it has modified,
    the load average at the start."""
    return {
        "cpu": _cpu(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {p: version(p) for p in PACKAGES},
        "redis_server": _redis_version(redis_url),
        **{name: version_of(list(command)) for name, command in tools.items()},
        "commit": _git("rev-parse", "--short", "HEAD").strip(),
        "modified_in_incidentd": _git("diff", "--name-only", "HEAD", "--", "incidentd").split(),
        "loadavg_at_start": os.getloadavg(),
    }


def exit_on_sigterm(signum: int, _: object) -> None:
    """SIGTERM unwinds like an exception: servers and daemons stopped, Redis keys deleted,
    temporary files removed."""
    sys.exit(128 + signum)
