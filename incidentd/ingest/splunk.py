"""Splunk webhook parser (being written)."""

from __future__ import annotations

from datetime import timedelta

from incidentd.ingest.source import ParseError, RawWebhook
from incidentd.model import Alert


class SplunkSource:
    default_auto_resolve_after: timedelta | None = timedelta(hours=1)
    name = "splunk"

    def parse(self, raw: RawWebhook) -> list[Alert]:
        raise ParseError("$", "the splunk parser is not written yet")
