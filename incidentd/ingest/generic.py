"""Generic webhook parser (being written)."""

from __future__ import annotations

from datetime import timedelta

from incidentd.ingest.source import ParseError, RawWebhook
from incidentd.model import Alert


class GenericSource:
    default_auto_resolve_after: timedelta | None = None
    name = "generic"

    def parse(self, raw: RawWebhook) -> list[Alert]:
        raise ParseError("$", "the generic parser is not written yet")
