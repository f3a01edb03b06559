"""Datadog Webhooks integration: our published payload template, or whatever template a user
wrote (Datadog's default payload included).

Datadog has no fixed body: it substitutes `$VARIABLES` into a template. A body with every key of
`_REQUIRED` (and `org.id`) is our template (config/example/datadog-webhook-template.json), read
at full fidelity. Any other body is read at low fidelity (label `incidentd_fidelity: low`) if it
carries at least one of `_SIGNALS`, after its keys are brought to our names: camelCase keys are
snake_cased (`alertTransition`), the variable-named keys of a `metadata` object are lower-cased
(`ALERT_ID`), the keys of an `alert` object are prefixed (`alert.cycle_key` ->
`alert_cycle_key`), `org_id`/`org_name` make `org`, and `_ALIASES` maps names seen in published
templates (`event_id` -> `id`, `transition` -> `alert_transition`, `url` -> `link`, ...); a
key already under our name wins. Missing keys are empty: no `date` falls back on
`last_updated`, then on received_at; no org id is "". The default payload's state comes from
the title prefix (`[P1] [Warn on {host:a}]`), its monitor id from the `[Monitor Status](...)`
link of the message.
Identity: the source's `sender` (when configured) + org id + monitor id (`alert_id`) + sorted
scope tags, or the prefix-free title + scope without a monitor id; `[TEST]` notifications are
told apart. The cycle key changes per trigger -> recover cycle, so it is part of `event_id`
(with `$ID`, or the date when there is no `$ID`), never of the fingerprint.
State: `Recovered` or `alert_type` success resolves; every other transition, known or not, fires;
`No Data`/`Re-No Data` and `[TEST]` carry the auto-resolve TTL (Alert -> No Data -> OK sends no
recovery). Severity: `alert_priority` P1 critical, P2 error, P3 warning, P4/P5 info; else
`alert_type` error/warning/info; else error; `Warn`/`Re-Warn` or `alert_type` warning cap it at
warning. Labels: tags and scope (a string `a:b, c` or a list of such strings; `a:b` -> a=b, bare
`a` -> a="", several values of a key sorted and joined with ","); `service` is the first
`service:` tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, RootModel, ValidationError

from incidentd.correlate.fingerprint import event_id, fingerprint
from incidentd.ingest.source import ParseError, RawWebhook, decode, json_path
from incidentd.model import Alert, Severity, Status

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant datetime holds
_PRIORITY = {"P1": Severity.CRITICAL, "P2": Severity.ERROR, "P3": Severity.WARNING}
_PRIORITY |= {"P4": Severity.INFO, "P5": Severity.INFO}
_TYPE = {"error": Severity.ERROR, "warning": Severity.WARNING, "info": Severity.INFO}
_WARN = frozenset({"Warn", "Re-Warn"})
_NO_DATA = frozenset({"No Data", "Re-No Data"})
_REQUIRED: tuple[str, ...] = ("id", "date", "org", "alert_id", "alert_scope", "alert_transition")
_REQUIRED += ("alert_type", "alert_priority", "alert_title", "tags")
_SIGNALS = frozenset({"alert_transition", "alert_type", "alert_id", "alert_title", "title"})
_SIGNALS |= {"event_title"}
_ALIASES = {
    "event_id": "id",
    "transition": "alert_transition",
    "aggregation_key": "aggreg_key",
    "aggregate": "aggreg_key",
    "monitor_id": "alert_id",
    "monitor_title": "alert_title",
    "scope": "alert_scope",
    "metric": "alert_metric",
    "query": "alert_query",
    "text_msg": "text_only_msg",
    "event_message": "text_only_msg",
    "url": "link",
    "event_url": "link",
    "datadog_event_url": "link",
}
"""Names that published templates give Datadog's variables, and ours for them."""
_NESTED = {"alert": "alert_", "metadata": ""}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_MONITOR_LINK = re.compile(r"\[Monitor Status\]\((https?://[^)\s]*/monitors[/#]([0-9]+)[^)\s]*)\)")
_PREFIX = re.compile(
    r"\s*\[(?:(?P<priority>P[1-5])|(?P<test>TEST)|(?P<transition>Triggered|Re-Triggered|"
    r"Recovered|Warn|Re-Warn|No Data|Re-No Data|Renotify)(?: on \{(?P<scope>[^}]*)\})?)\]"
)


def _text(value: object) -> object:
    """Null is empty; an unquoted integer keeps its exact digits (a 19-digit $ID > 2**53)."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _epoch_ms(value: object) -> datetime:
    text = _text(value)
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{1,16}", text.strip()):
        raise ValueError("must be epoch milliseconds, like $DATE")
    if int(text) > _MAX_MS:
        raise ValueError("epoch milliseconds out of range")
    return _EPOCH + timedelta(milliseconds=int(text))


def _tag_list(value: object) -> object:
    """`$TAGS` is a string; a template may also list tags: `["a:b", "c"]` is `"a:b,c"`."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ",".join(value)
    return _text(value)


Text = Annotated[str, BeforeValidator(_text)]
Tags = Annotated[str, BeforeValidator(_tag_list)]
EpochMs = Annotated[datetime, BeforeValidator(_epoch_ms)]


class _Keys(RootModel[dict[str, object]]):
    """The top-level keys only: tells our template from Datadog's default payload."""


class _Org(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Text = ""
    name: Text = ""


class _Body(BaseModel):
    """Our template, or any other with its keys brought to our names (`_flatten`)."""

    model_config = ConfigDict(extra="ignore")
    id: Text = ""
    date: EpochMs | None = None
    last_updated: Text = ""
    org: _Org = _Org()
    title: Text = ""
    body: Text = ""
    alert_id: Text = ""
    alert_scope: Tags = ""
    alert_transition: Text = ""
    alert_type: Text = ""
    alert_priority: Text = ""
    alert_title: Text = ""
    tags: Tags = ""
    alert_cycle_key: Text = ""
    aggreg_key: Text = ""
    alert_status: Text = ""
    alert_metric: Text = ""
    alert_query: Text = ""
    event_title: Text = ""
    event_type: Text = ""
    text_only_msg: Text = ""
    event_msg: Text = ""
    hostname: Text = ""
    link: Text = ""
    snapshot: Text = ""


@dataclass(frozen=True, slots=True)
class _Event:
    """One notification, whichever payload carried it."""

    wire: _Body
    name: str
    test: bool
    monitor: str
    transition: str
    alert_type: str
    priority: str
    scope: str
    low_fidelity: bool
    monitor_url: str


def _prefixes(title: str) -> tuple[dict[str, str], str]:
    """`[P1] [Warn on {host:a}] [TEST] Disk` -> the prefixes found, and `Disk`."""
    found: dict[str, str] = {}
    pos = 0
    while match := _PREFIX.match(title, pos):
        found |= {key: value for key, value in match.groupdict().items() if value is not None}
        pos = match.end()
    return found, title[pos:].strip()


def _event(wire: _Body, *, low_fidelity: bool) -> _Event:
    """Prefer our template's fields; fall back on what the title prefixes say."""
    found, name = _prefixes(wire.alert_title or wire.event_title or wire.title)
    link = _MONITOR_LINK.search(wire.event_msg or wire.body)
    monitor = wire.alert_id.strip() or (link[2] if link else "")
    return _Event(
        wire=wire,
        name=name or f"Datadog monitor {monitor}".strip(),
        test="test" in found or "test" in _prefixes(wire.event_title)[0],
        monitor=monitor,
        transition=wire.alert_transition.strip() or found.get("transition", ""),
        alert_type=wire.alert_type.strip().lower(),
        priority=wire.alert_priority.strip().upper()
        or found.get("priority")
        or (
            _prefixes(wire.event_title or wire.title)[0].get("priority", "") if low_fidelity else ""
        ),
        scope=wire.alert_scope.strip() or found.get("scope", "").strip(),
        low_fidelity=low_fidelity,
        monitor_url=link[1] if link else "",
    )


def _tags(*texts: str) -> dict[str, list[str]]:
    """`"a:b, c,a:d"` -> {"a": ["b", "d"], "c": [""]}, values in order of appearance."""
    out: dict[str, list[str]] = {}
    for text in texts:
        for item in text.split(","):
            key, _, value = (part.strip() for part in item.partition(":"))
            if key and value not in out.setdefault(key, []):
                out[key].append(value)
    return out


def _severity(event: _Event) -> Severity:
    severity = _PRIORITY.get(event.priority) or _TYPE.get(event.alert_type, Severity.ERROR)
    if event.transition in _WARN or event.alert_type == "warning":
        return min(severity, Severity.WARNING)
    return severity


def _snake(key: str) -> str:
    return _CAMEL.sub("_", key).lower()


def _full_template(keys: dict[str, object]) -> bool:
    org = keys.get("org")
    return all(key in keys for key in _REQUIRED) and isinstance(org, dict) and "id" in org


def _flatten(keys: dict[str, object]) -> tuple[dict[str, object], dict[str, str]]:
    """The body's values under our names (see the module docstring), and the JSON path each
    came from. Our own names come first, then renamed top-level keys, then nested ones."""
    flat: dict[str, object] = {}
    origin: dict[str, str] = {}
    renamed: list[tuple[str, object, str]] = []
    nested: list[tuple[str, object, str]] = []
    for key, value in keys.items():
        name = _snake(key)
        prefix = _NESTED.get(name)
        if prefix is not None and isinstance(value, dict):
            for sub, item in value.items():
                sub_name = _snake(str(sub))
                if not sub_name.startswith(prefix):
                    sub_name = prefix + sub_name
                nested.append((_ALIASES.get(sub_name, sub_name), item, f"$.{key}.{sub}"))
        elif name == key and name not in _ALIASES:
            flat[name], origin[name] = value, f"$.{key}"
        elif name == "priority":
            if isinstance(value, str) and re.fullmatch(r"\s*P[1-5]\s*", value):
                renamed.append(("alert_priority", value, f"$.{key}"))
        else:
            renamed.append((_ALIASES.get(name, name), value, f"$.{key}"))
    for name, value, path in (*renamed, *nested):
        if name not in flat:
            flat[name], origin[name] = value, path
    _put_org(flat, origin)
    return flat, origin


def _put_org(flat: dict[str, object], origin: dict[str, str]) -> None:
    """`org` as our template has it, from `org_id`/`org_name` when it has no id (a string
    `org` is its name)."""
    org = flat.get("org")
    if isinstance(org, dict) and "id" in org:
        return
    base = org if isinstance(org, dict) else {"name": org if isinstance(org, str) else ""}
    if not isinstance(org, dict) and "org_name" in flat:
        base = {"name": flat["org_name"]}
    flat["org"] = base | {"id": flat.get("org_id", "")}
    origin["org"] = origin.get("org_id", origin.get("org", "$.org"))


def _body(raw: RawWebhook) -> tuple[_Body, bool]:
    """The body as `_Body`, and whether it is our full template."""
    keys = decode(_Keys, raw.body).root
    if _full_template(keys):
        return decode(_Body, raw.body), True
    flat, origin = _flatten(keys)
    if not _SIGNALS & flat.keys():
        reason = "missing: this is neither the incidentd payload template nor Datadog's default"
        raise ParseError("$.alert_transition", reason)
    try:
        return _Body.model_validate(flat), False
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        loc = tuple(first["loc"])
        path = origin.get(str(loc[0]), f"$.{loc[0]}") if loc else "$"
        path += json_path(loc[1:])[1:]
        raise ParseError(path, str(first["msg"]).removeprefix("Value error, ")) from None


def _epoch_ms_or_none(text: str) -> datetime | None:
    try:
        return _epoch_ms(text) if text.strip() else None
    except ValueError:
        return None


def _labels(event: _Event, tags: dict[str, list[str]]) -> dict[str, str]:
    labels = {key: ",".join(sorted(v for v in values if v)) for key, values in tags.items()}
    if event.wire.hostname.strip() and "host" not in labels:
        labels["host"] = event.wire.hostname.strip()
    extra = {
        "datadog_monitor_id": event.monitor,
        "datadog_event_type": event.wire.event_type.strip(),
        "datadog_priority": event.priority,
        "datadog_test": "true" if event.test else "",
        "incidentd_fidelity": "low" if event.low_fidelity else "",
    }
    return labels | {key: value for key, value in extra.items() if value}


def _annotations(event: _Event) -> dict[str, str]:
    wire = event.wire
    markdown = (wire.event_msg or wire.body).strip().removeprefix("%%%").removesuffix("%%%")
    out = {"transition": event.transition, "message": wire.text_only_msg or markdown}
    out |= {"datadog_id": wire.id, "org_name": wire.org.name, "snapshot": wire.snapshot}
    out |= {"alert_cycle_key": wire.alert_cycle_key, "aggreg_key": wire.aggreg_key}
    out |= {"alert_status": wire.alert_status, "alert_metric": wire.alert_metric}
    out["alert_query"] = wire.alert_query
    return {key: value.strip() for key, value in out.items() if value.strip()}


def _on_scope(name: str, scope: str) -> str:
    return f"{name} on {scope}" if scope else name


class DatadogSource:
    default_auto_resolve_after: timedelta | None = timedelta(hours=1)
    name = "datadog"

    def check(self, raw: RawWebhook) -> int:
        return len(self.parse(raw))  # one alert per body, or few: no cheaper check worth it

    def parse(self, raw: RawWebhook) -> list[Alert]:
        wire, full = _body(raw)
        return [self._alert(_event(wire, low_fidelity=not full), raw)]

    def _alert(self, event: _Event, raw: RawWebhook) -> Alert:
        wire = event.wire
        scope = _tags(event.scope)
        scope_key = ",".join(sorted(f"{k}:{v}" if v else k for k in scope for v in scope[k]))
        identity = ("monitor", event.monitor) if event.monitor else ("title", event.name)
        test = "test" if event.test else None
        fp = fingerprint(self.name, raw.options.sender, wire.org.id, *identity, scope_key, test)
        resolved = event.transition == "Recovered" or event.alert_type == "success"
        expires = (event.transition in _NO_DATA or event.test) and not resolved
        tags = _tags(event.scope, wire.tags)
        date = wire.date or _epoch_ms_or_none(wire.last_updated)
        starts = date or raw.received_at
        no_id = () if wire.id else (starts.isoformat(),)  # then the date tells reports apart
        return Alert(
            source=self.name,
            fingerprint=fp,
            event_id=event_id(fp, wire.alert_cycle_key, wire.id, event.transition, *no_id),
            status=Status.RESOLVED if resolved else Status.FIRING,
            severity=_severity(event),
            name=event.name,
            title=("[TEST] " if event.test else "") + _on_scope(event.name, event.scope),
            service=next((value for value in tags.get("service", []) if value), None),
            labels=_labels(event, tags),
            annotations=_annotations(event),
            starts_at=starts,
            ends_at=starts if resolved else None,
            received_at=raw.received_at,
            url=wire.link.strip() or event.monitor_url or None,
            group_key=f"datadog/{wire.org.id}/monitor/{event.monitor}" if event.monitor else None,
            auto_resolve_after=raw.options.auto_resolve_after if expires else None,
        )
