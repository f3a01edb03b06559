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


def _feed(out: list[bytes], part: Part) -> None:
    if part is None:
        out.append(b"\x00")
    elif isinstance(part, str):
        data = part.encode("utf-8", "surrogatepass")
        out.append(b"s%d:" % len(data))
        out.append(data)
    else:
        out.append(b"m%d:" % len(part))
        for key in sorted(part):
            _feed(out, key)
            _feed(out, part[key])


def digest(kind: str, parts: Iterable[Part]) -> str:
    """One hash over the length-prefixed encoding of `kind` and `parts`, fed in one call
    (the same digest as feeding each piece, at a fraction of the cost)."""
    out: list[bytes] = []
    _feed(out, kind)
    for part in parts:
        _feed(out, part)
    return hashlib.blake2b(b"".join(out), digest_size=FINGERPRINT_HEX // 2).hexdigest()


def fingerprint(source: str, *identity: Part) -> str:
    """The identity of one alert: the same on every repeat and on its resolve."""
    return digest("fp:" + source, identity)


def event_id(fingerprint_: str, *state: Part) -> str:
    """The identity of one report of an alert: the same when a webhook is delivered again."""
    return digest("ev", (fingerprint_, *state))
