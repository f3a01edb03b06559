"""Slack channel names derived from the incident: always valid for Slack, the id whole."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from incidentd.act.targets.slack import channel_name

VALID = re.compile(r"^[a-z0-9_\-]{1,80}$")


def test_a_plain_title() -> None:
    assert channel_name("INC-1042", "Checkout and browse degraded: orders-db failing") == (
        "inc-1042-checkout-and-browse-degraded-orders-db-failing"
    )


def test_accents_are_folded_and_other_scripts_dropped() -> None:
    assert channel_name("INC-7", "Überlastung der Zahlungen — café") == (
        "inc-7-uberlastung-der-zahlungen-cafe"
    )
    assert channel_name("INC-8", "決済サービス停止") == "inc-8"
    assert channel_name("INC-9", "🔥🔥 DB  on fire!!") == "inc-9-db-on-fire"


def test_a_long_title_is_cut_at_80_without_a_trailing_dash() -> None:
    name = channel_name("INC-1042", "Checkout " * 20)
    assert len(name) <= 80
    assert name.startswith("inc-1042-checkout-checkout")
    assert not name.endswith("-")


def test_a_prefix_comes_first() -> None:
    assert channel_name("INC-3", "x", prefix="ir-") == "ir-inc-3-x"


@given(st.text(max_size=300), st.integers(min_value=1, max_value=10**12))
def test_every_title_gives_a_valid_name_that_starts_with_the_id(title: str, number: int) -> None:
    name = channel_name(f"INC-{number}", title)
    assert VALID.match(name)
    assert name.startswith(f"inc-{number}")
    assert "--" not in name
