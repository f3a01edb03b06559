"""Hostile bodies at every webhook endpoint of a running daemon: never a 5xx, never a crash.

The daemon runs as a real process (memory store, a small body limit so that oversized bodies
are cheap to make). Hypothesis throws random bytes, random JSON, real payloads cut short or
with a value swapped for junk, deep nesting and non-ASCII at each source, with and without
a JSON content type. Every answer must be one of the documented ones, as a JSON body naming
the problem; the daemon must still be healthy at the end.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentd.ingest.registry import SOURCES
from tests.integration.test_daemon_process import free_port

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = ROOT / "tests" / "payloads"
LIMIT = 64 * 1024
TOKEN = "property-test-token"  # noqa: S105
DOCUMENTED = {202, 400, 413, 415, 422}

REAL_BODIES = {
    source: [
        p.read_bytes() for p in sorted((PAYLOADS / source).glob("*.json")) if p.name.count(".") == 1
    ][:6]
    for source in SOURCES
}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    config = tmp_path_factory.mktemp("config")
    example = (ROOT / "config" / "example" / "sources.yaml").read_text()
    assert "max_body_bytes: 1048576" in example
    limited = example.replace("max_body_bytes: 1048576", f"max_body_bytes: {LIMIT}")
    (config / "sources.yaml").write_text(limited)
    api = f"tokens:\n  - {{name: prop, token: {TOKEN}, scopes: [write]}}\n"
    (config / "api.yaml").write_text(api)
    port = free_port()
    env = {**os.environ, "INCIDENTD_LOG_LEVEL": "error"}
    env.pop("INCIDENTD_REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "incidentd", "serve", "--config", str(config), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):
            assert proc.poll() is None, proc.communicate()[1].decode(errors="replace")
            try:
                if _request(port, "GET", "/readyz", b"", {})[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the daemon did not become ready")
        yield port
        assert proc.poll() is None, "the daemon died"
        assert _request(port, "GET", "/healthz", b"", {})[0] == 200
    finally:
        proc.kill()
        _, stderr = proc.communicate(timeout=10)
        assert b"Traceback" not in stderr, stderr.decode(errors="replace")


def _request(
    port: int, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)


def _replace_somewhere(doc: Any, junk: Any, choice: int) -> Any:
    """Replace the choice-th value reached in a walk of `doc` by `junk` (on a copy)."""
    counter = [choice]

    def walk(node: Any) -> Any:
        counter[0] -= 1
        if counter[0] < 0:
            return junk
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(doc)


@st.composite
def hostile_bodies(draw: st.DrawFn, source: str) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "truncated", "mutated", "deep", "big", "text"]))
    real = draw(st.sampled_from(REAL_BODIES[source])) if REAL_BODIES[source] else b"{}"
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "truncated":
        return real[: draw(st.integers(0, max(0, len(real) - 1)))]
    if kind == "mutated":
        try:
            doc = json.loads(real)
        except ValueError:
            return real
        junk = draw(json_values)
        return json.dumps(_replace_somewhere(doc, junk, draw(st.integers(0, 60)))).encode()
    if kind == "deep":
        depth = draw(st.integers(100, 50_000))
        return b"[" * depth + b"]" * draw(st.sampled_from([0, depth]))
    if kind == "big":
        return b'{"alerts": [' + b'"x",' * (LIMIT // 4) + b'"x"]}'
    text = draw(
        st.text(
            alphabet=st.characters(
                min_codepoint=0x80, max_codepoint=0x10FFFF, blacklist_categories=("Cs",)
            ),
            max_size=40,
        )
    )
    return json.dumps(
        {"name": text, "status": text, "labels": {text: text}}, ensure_ascii=draw(st.booleans())
    ).encode()


content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        None,
    ]
)


@pytest.mark.parametrize("source", sorted(SOURCES))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_bodies_get_a_documented_answer(
    daemon: int, source: str, data: st.DataObject
) -> None:
    body = data.draw(hostile_bodies(source))
    ctype = data.draw(content_types)
    headers = {} if ctype is None else {"Content-Type": ctype}
    status, answer = _request(daemon, "POST", f"/webhooks/{source}", body, headers)
    assert status in DOCUMENTED, (status, answer[:300])
    parsed = json.loads(answer)
    if status == 202:
        assert parsed["status"] == "accepted"
    else:
        assert parsed["status"] == "rejected"
        assert parsed["reason"]
        assert parsed["message"]


@settings(max_examples=100, deadline=None)
@given(
    path=st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="/?#%"),
        max_size=40,
    )
)
def test_unknown_sources_are_404_not_500(daemon: int, path: str) -> None:
    if path in SOURCES:
        return
    status, _ = _request(
        daemon, "POST", f"/webhooks/{path}", b"{}", {"Content-Type": "application/json"}
    )
    assert status in {404, 405}, status


INCIDENT_ANSWERS = {404, 422}
"""No incident exists in this daemon: a body that passes its model reaches the engine, which
answers 404; anything else is a 422 naming the path."""


@pytest.mark.parametrize("action", ["status", "reopen", "notes", "commander"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_bodies_at_the_incident_api_get_a_documented_answer(
    daemon: int, action: str, data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from(["bytes", "json", "shaped"]))
    if kind == "bytes":
        body = data.draw(st.binary(max_size=200))
    elif kind == "json":
        body = json.dumps(data.draw(json_values)).encode()
    else:
        fields = st.fixed_dictionaries(
            {},
            optional={
                "by": json_values,
                "status": st.sampled_from(["acknowledged", "resolved", "declared", "x"]),
                "note": json_values,
                "text": json_values,
                "commander": json_values,
            },
        )
        body = json.dumps(data.draw(fields)).encode()
    incident = data.draw(st.sampled_from(["INC-1000", "INC-%00", "x" * 300, "INC-1"]))
    status, answer = _request(
        daemon,
        "POST",
        f"/api/v1/incidents/{incident}/{action}",
        body,
        {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    assert status in INCIDENT_ANSWERS, (status, answer[:300])
    parsed = json.loads(answer)
    assert parsed["reason"]
    assert parsed["message"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_requests_at_the_actions_api_get_a_documented_answer(
    daemon: int, data: st.DataObject
) -> None:
    """No action exists in this daemon (nothing is routed): a retry is a 404 for a well-formed
    body and a 422 for a bad one; a listing with a bad state is a 422; never a 500."""
    key = data.draw(
        st.text(
            alphabet=st.characters(
                min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="/?#%"
            ),
            min_size=1,
            max_size=120,
        )
    )
    kind = data.draw(st.sampled_from(["empty", "bytes", "json", "by"]))
    if kind == "empty":
        body = b""
    elif kind == "bytes":
        body = data.draw(st.binary(max_size=200))
    elif kind == "json":
        body = json.dumps(data.draw(json_values)).encode()
    else:
        body = json.dumps({"by": data.draw(json_values)}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    status, answer = _request(daemon, "POST", f"/api/v1/actions/{key}/retry", body, headers)
    assert status in {404, 422}, (status, answer[:300])
    parsed = json.loads(answer)
    assert parsed["reason"]
    assert parsed["message"]
    state = data.draw(
        st.text(
            alphabet=st.characters(
                min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters="#%&"
            ),
            max_size=20,
        )
    )
    status, answer = _request(daemon, "GET", f"/api/v1/actions?state={state}", b"", {})
    assert status in {200, 422}, (status, answer[:300])
    status, answer = _request(daemon, "GET", f"/api/v1/incidents/{key}/actions", b"", {})
    assert status == 404, (status, answer[:300])
