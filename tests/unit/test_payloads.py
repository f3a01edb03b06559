"""Golden payload files: every `tests/payloads/<source>/<case>.json` through its real parser.

Beside each body lies exactly one of:
- `<case>.expected.json`: the list of normalized alerts, as `incidentd normalize` prints them;
- `<case>.error.json`: `{"status": 400|422, "path": "$.x" (422 only), "contains": "text"}`.
Optional `<case>.headers.json` (lower-case names) and `<case>.options.json`
(`{"auto_resolve_after": seconds}`). Every case is parsed at RECEIVED_AT.

Regenerate an expected file only after reading the diff: `python -m tests.unit.test_payloads
SOURCE CASE` prints what the parser produces now.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentd.errors import InputError, WrongShape
from incidentd.ingest.registry import SOURCES
from incidentd.ingest.source import RawWebhook, SourceOptions

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"
RECEIVED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def _cases() -> list[tuple[str, str]]:
    out = []
    for body in sorted(PAYLOADS.glob("*/*.json")):
        if body.name.count(".") == 1:
            out.append((body.parent.name, body.stem))
    return out


def _raw(source: str, case: str) -> RawWebhook:
    folder = PAYLOADS / source
    headers_file = folder / f"{case}.headers.json"
    options_file = folder / f"{case}.options.json"
    headers = json.loads(headers_file.read_text()) if headers_file.exists() else {}
    ttl = SOURCES[source].default_auto_resolve_after
    if options_file.exists():
        seconds = json.loads(options_file.read_text()).get("auto_resolve_after")
        ttl = None if seconds is None else timedelta(seconds=seconds)
    return RawWebhook(
        source=source,
        body=(folder / f"{case}.json").read_bytes(),
        headers=headers,
        received_at=RECEIVED_AT,
        options=SourceOptions(auto_resolve_after=ttl),
    )


def normalized(source: str, case: str) -> list[dict[str, Any]]:
    alerts = SOURCES[source].parse(_raw(source, case))
    return [json.loads(a.model_dump_json()) for a in alerts]


@pytest.mark.parametrize(("source", "case"), _cases())
def test_payload_normalizes_as_expected(source: str, case: str) -> None:
    folder = PAYLOADS / source
    expected_file = folder / f"{case}.expected.json"
    error_file = folder / f"{case}.error.json"
    assert expected_file.exists() != error_file.exists(), f"{case}: need one expectation file"
    if expected_file.exists():
        assert normalized(source, case) == json.loads(expected_file.read_text())
        return
    expected = json.loads(error_file.read_text())
    with pytest.raises(InputError) as caught:
        SOURCES[source].parse(_raw(source, case))
    assert caught.value.status == expected["status"]
    if "path" in expected:
        assert isinstance(caught.value, WrongShape)
        assert caught.value.path == expected["path"]
    assert expected.get("contains", "") in caught.value.message


def test_every_source_has_payload_cases() -> None:
    sources = {source for source, _ in _cases()}
    assert sources == set(SOURCES)


if __name__ == "__main__":
    print(json.dumps(normalized(sys.argv[1], sys.argv[2]), indent=2, ensure_ascii=False))  # noqa: T201
