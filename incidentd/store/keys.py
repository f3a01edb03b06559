"""Every Redis key name incidentd uses, in one place, all under one hash tag.

The tag is the configured prefix in braces (`{incidentd}:alerts`), so that Redis Cluster keeps
every key of one deployment in one slot and the Lua scripts and MULTI blocks that touch several
of them stay legal. Tests use a unique prefix each and delete `Keys(prefix).pattern` afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    def __post_init__(self) -> None:
        if not self.prefix or "{" in self.prefix or "}" in self.prefix:
            raise ValueError(f"redis key prefix must be non-empty without braces: {self.prefix!r}")

    @property
    def tag(self) -> str:
        return "{" + self.prefix + "}"

    @property
    def alerts(self) -> str:
        """The alert queue stream: one entry per accepted webhook, field `webhook`."""
        return f"{self.tag}:alerts"

    @property
    def alerts_dead(self) -> str:
        """Queue entries that could not be decoded or parsed, moved aside so consumers go on."""
        return f"{self.tag}:alerts:dead"

    @property
    def pattern(self) -> str:
        """A SCAN MATCH pattern for every key under this prefix (glob characters escaped)."""
        return _GLOB_SPECIAL.sub(r"\\\1", self.tag) + ":*"

    @property
    def silences(self) -> str:
        """The silences created through the API: one hash, silence id -> JSON."""
        return f"{self.tag}:silences"
