"""Stable identities: the fingerprint of an alert and the id of one report of it.

Both are hashes over the source name and the identity fields the source module chooses,
length-prefixed so that no two different field lists can collide by concatenation
(`("ab", "c")` and `("a", "bc")` hash differently). Mappings are hashed sorted by key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

FINGERPRINT_HEX = 32
"""128 bits: collision-free for any realistic number of alerts, short enough to read."""

Part = str | Mapping[str, str] | None


def _feed(h: hashlib.blake2b, part: Part) -> None:
    if part is None:
        h.update(b"\x00")
    elif isinstance(part, str):
        data = part.encode("utf-8", "surrogatepass")
        h.update(b"s%d:" % len(data))
        h.update(data)
    else:
        h.update(b"m%d:" % len(part))
        for key in sorted(part):
            _feed(h, key)
            _feed(h, part[key])


def digest(kind: str, parts: Iterable[Part]) -> str:
    h = hashlib.blake2b(digest_size=FINGERPRINT_HEX // 2)
    _feed(h, kind)
    for part in parts:
        _feed(h, part)
    return h.hexdigest()


def fingerprint(source: str, *identity: Part) -> str:
    """The identity of one alert: the same on every repeat and on its resolve."""
    return digest("fp:" + source, identity)


def event_id(fingerprint_: str, *state: Part) -> str:
    """The identity of one report of an alert: the same when a webhook is delivered again."""
    return digest("ev", (fingerprint_, *state))
