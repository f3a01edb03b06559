"""Every source incidentd accepts, registered explicitly: one line per source.

The HTTP layer looks a source up here by the name in the URL; a name that is not a key is a
404. Nothing is imported by a name that comes from a request or a file.
"""

from __future__ import annotations

from incidentd.ingest.alertmanager import AlertmanagerSource
from incidentd.ingest.datadog import DatadogSource
from incidentd.ingest.generic import GenericSource
from incidentd.ingest.grafana import GrafanaSource
from incidentd.ingest.source import Source
from incidentd.ingest.splunk import SplunkSource

SOURCES: dict[str, Source] = {
    "alertmanager": AlertmanagerSource(),
    "grafana": GrafanaSource(),
    "datadog": DatadogSource(),
    "splunk": SplunkSource(),
    "generic": GenericSource(),
}
