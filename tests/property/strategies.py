"""Hypothesis settings and strategies shared by the parser property tests."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from incidentd.errors import InputError
from incidentd.ingest.source import RawWebhook, Source
from incidentd.model import Alert

HOSTILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INVARIANTS = settings(HOSTILE, max_examples=120)  # parses each body several times

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)


def parse_or_none(source: Source, body: bytes, received_at: datetime) -> list[Alert] | None:
    """The parser's answer, None for an InputError; any other exception fails the test."""
    raw = RawWebhook(source=source.name, body=body, headers={}, received_at=received_at)
    try:
        return source.parse(raw)
    except InputError:
        return None


def dump(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()
