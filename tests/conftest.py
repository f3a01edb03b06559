"""Shared fixtures: a real Redis for the tests marked `redis`, with a key prefix per test.

`redis_url` uses the server on 127.0.0.1:6379 when it answers PING (it may be shared: tests
only touch keys under their own prefix), else starts a private redis-server for the session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from incidentd.declare.declarer import Declarer
from incidentd.store.keys import Keys
from tests.redis_server import RedisServer, answers_ping, redis_server_binary

SHARED_PORT = 6379


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if answers_ping(SHARED_PORT):
        yield f"redis://127.0.0.1:{SHARED_PORT}/0"
        return
    if redis_server_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Redis: scripts/test installs redis-server; it is missing")
        pytest.skip(
            "needs Redis: nothing answers PING on 127.0.0.1:6379 and no redis-server binary "
            "is on PATH to start one (install the redis-server package)"
        )
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key under `prefix`: `{prefix}:*` (keys.py) and plain `prefix*` keys."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        patterns = (Keys(prefix).pattern, f"{prefix}*")
        keys = {key for pattern in patterns for key in client.scan_iter(match=pattern, count=1000)}
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted when the test ends."""
    prefix = f"incidentd-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    delete_prefix(redis_url, prefix)


@pytest.fixture(autouse=True)
def verify_incremental_declarer_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every engine a test runs in this process checks its declarer's incremental state
    (tallies, alert sets) against the state it is kept for, at every assessment."""
    monkeypatch.setattr(Declarer, "verify", True)
