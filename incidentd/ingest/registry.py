"""Every source incidentd accepts, registered explicitly: one line per source.

The HTTP layer looks a source up here by the name in the URL; a name that is not a key is a
404. Nothing is imported by a name that comes from a request or a file.
"""

from __future__ import annotations

from incidentd.ingest.alertmanager import AlertmanagerSource
from incidentd.ingest.datadog import DatadogSource
from incidentd.ingest.generic import GenericSource
from incidentd.ingest.grafana import GrafanaSource
from incidentd.ingest.source import ParseError, RawWebhook, Source, run_parser
from incidentd.ingest.splunk import SplunkSource
from incidentd.model import Alert

SOURCES: dict[str, Source] = {
    "alertmanager": AlertmanagerSource(),
    "grafana": GrafanaSource(),
    "datadog": DatadogSource(),
    "splunk": SplunkSource(),
    "generic": GenericSource(),
}


def parse_webhook(raw: RawWebhook) -> list[Alert]:
    """The alerts of an accepted webhook, by the parser of its source: what the queue's
    consumer runs on every entry (the request path only ran `check`)."""
    source = SOURCES.get(raw.source)
    if source is None:
        raise ParseError("$", f"no parser for source {raw.source!r}")
    return run_parser(source, raw)
