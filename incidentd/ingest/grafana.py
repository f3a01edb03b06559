"""Grafana webhook parser (being written)."""

from __future__ import annotations

from datetime import timedelta

from incidentd.ingest.source import ParseError, RawWebhook
from incidentd.model import Alert


class GrafanaSource:
    default_auto_resolve_after: timedelta | None = None
    name = "grafana"

    def parse(self, raw: RawWebhook) -> list[Alert]:
        raise ParseError("$", "the grafana parser is not written yet")
