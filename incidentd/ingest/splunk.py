"""Splunk webhook alert action: `{sid, search_name, app, owner, results_link, result}`.

Splunk never resolves and never retries: every alert fires with the auto-resolve TTL. Identity,
stable across scheduled runs (the sid changes every run): the Splunk server (the source's
`sender` when configured, else the host of `results_link`), `app`, `owner`, the search
(`search_name`, or when it is null, empty or missing the sid without its per-run suffix
`_at_<epoch>_<n>[_<guid>]`), and the thing that is wrong: result field `incidentd_key` when it
is set, else `host`, `service` and `sourcetype`. `event_id` is the fingerprint + sid: one run
delivered twice is one event. Severity: the first recognised value of result `urgency`,
`severity`, `priority` (Splunk ES words, case-insensitive): critical -> critical; high, error ->
error; medium, warning, warn -> warning; low, info, informational -> info; none recognised ->
warning. Labels: result fields, multivalues joined with ",", except `_*` internals and Splunk's
per-event housekeeping (`date_*`, `punct`, `linecount`, `timestartpos`, `timeendpos`), plus
`splunk_app`, `splunk_owner`, `splunk_server` (the search head). A result field of one of those
names (`splunk_server` is on every indexed event: the indexer that held it) is kept as
`exported_<name>`, as Prometheus keeps a scraped label that collides with a target label.
`starts_at` is result `_time` (epoch seconds,
optional fraction), else `received_at`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from incidentd.correlate.fingerprint import event_id, fingerprint
from incidentd.ingest.source import RawWebhook, decode
from incidentd.model import Alert, Severity, Status

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second datetime holds
_RUN_SUFFIX = re.compile(r"_at_[0-9]+_[0-9.]+(?:_[0-9A-Fa-f-]+)?$")
_TIME = re.compile(r"([0-9]{1,12})(?:\.([0-9]*))?")
_IDENTITY = ("host", "service", "sourcetype")
_HOUSEKEEPING = frozenset({"punct", "linecount", "timestartpos", "timeendpos"})
_SEVERITY = {"critical": Severity.CRITICAL, "high": Severity.ERROR, "error": Severity.ERROR}
_SEVERITY |= {"medium": Severity.WARNING, "warning": Severity.WARNING, "warn": Severity.WARNING}
_SEVERITY |= {"low": Severity.INFO, "info": Severity.INFO, "informational": Severity.INFO}

Result = Mapping[str, tuple[str, ...]]


def _values(value: object) -> object:
    """A result field: a string, or a list of strings for a multivalue field."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError("must be a string or a list of strings")


class _Body(BaseModel):
    """The body of Splunk's webhook.py; any key but `sid` may be null or missing."""

    model_config = ConfigDict(extra="ignore")
    sid: str = Field(min_length=1)
    search_name: str | None = None
    app: str | None = None
    owner: str | None = None
    results_link: str | None = None
    result: dict[str, Annotated[tuple[str, ...], BeforeValidator(_values)]] | None = None


def _server(link: str | None) -> str | None:
    """The host of `results_link`: which Splunk sent the alert."""
    try:
        return urlsplit(link).hostname if link else None
    except ValueError:  # a malformed link names no server
        return None


def _time(result: Result) -> datetime | None:
    """`_time` is epoch seconds as a string, sometimes with a fraction: `"1700000000.123"`."""
    values = result.get("_time", ())
    match = _TIME.fullmatch(values[0].strip()) if values else None
    if match is None or int(match[1]) > _MAX_SECONDS:
        return None
    micro = int((match[2] or "").ljust(6, "0")[:6])
    return _EPOCH + timedelta(seconds=int(match[1]), microseconds=micro)


def _severity(result: Result) -> Severity:
    for field in ("urgency", "severity", "priority"):
        values = result.get(field, ())
        if values and (severity := _SEVERITY.get(values[0].strip().lower())):
            return severity
    return Severity.WARNING


def _identity(result: Result) -> dict[str, str]:
    """The result fields naming the thing that is wrong (never counts or values)."""
    fields = ("incidentd_key",) if ",".join(result.get("incidentd_key", ())) else _IDENTITY
    joined = {field: ",".join(result.get(field, ())) for field in fields}
    return {field: value for field, value in joined.items() if value}


def _labels(result: Result, extra: dict[str, str | None]) -> dict[str, str]:
    labels = {
        key: ",".join(values)
        for key, values in result.items()
        if values and not key.startswith(("_", "date_")) and key not in _HOUSEKEEPING
    }
    for key, value in extra.items():
        if value:
            if key in labels:
                labels[f"exported_{key}"] = labels[key]
            labels[key] = value
    return labels


class SplunkSource:
    default_auto_resolve_after: timedelta | None = timedelta(hours=1)
    name = "splunk"

    def check(self, raw: RawWebhook) -> int:
        return len(self.parse(raw))  # one alert per body, or few: no cheaper check worth it

    def parse(self, raw: RawWebhook) -> list[Alert]:
        body = decode(_Body, raw.body)
        result: Result = body.result or {}
        server = _server(body.results_link)
        search = body.search_name or _RUN_SUFFIX.sub("", body.sid) or body.sid
        identity = _identity(result)
        sender = raw.options.sender or server
        fp = fingerprint(self.name, sender, body.app, body.owner, search, identity)
        detail = ", ".join(f"{key}={value}" for key, value in identity.items())
        service = result.get("service", ())
        extra = {"splunk_app": body.app, "splunk_owner": body.owner, "splunk_server": server}
        alert = Alert(
            source=self.name,
            fingerprint=fp,
            event_id=event_id(fp, body.sid),
            status=Status.FIRING,
            severity=_severity(result),
            name=search,
            title=f"{search} ({detail})" if detail else search,
            service=(service[0].strip() or None) if service else None,
            labels=_labels(result, extra),
            annotations={"sid": body.sid},
            starts_at=_time(result) or raw.received_at,
            received_at=raw.received_at,
            url=body.results_link or None,
            auto_resolve_after=raw.options.auto_resolve_after,
        )
        return [alert]
