"""Datadog: an event in the event stream for every declaration, status change, reopen and SLA
breach, through datadog-api-client's Events API v1 (a reminder to the commander and an overdue
follow-up post nothing); and, when `incident.enabled`, one Datadog incident per incident
(datadog_incident.py), its state and severity following the incident's.

Documented behaviour this module relies on (docs.datadoghq.com: "Post an event", "Rate
Limits"; datadog-api-client's `EventCreateRequest` model):

- POST `https://api.<site>/api/v1/events` with `DD-API-KEY`; `title` and `text` required,
  `text` at most 4000 characters (markdown between `%%% \\n` and `\\n %%%`),
  `aggregation_key` at most 100 characters (groups an incident's events), `alert_type` in
  error/warning/info/success/..., `tags`. Answers 202 `{"status": "ok", "event": {...}}`.
- 400 `{"errors": [...]}`, 403 and 404 are permanent (the Incidents API answers the same
  way); 429 comes with `X-RateLimit-Reset` (seconds until the limit resets), used when there
  is no Retry-After; 5xx is retried.

One attempt posts the event first, then makes or changes the incident: an incident step that
fails does not hold back the event stream. The refs keep `event_for` and `incident_for` (the
action whose event or incident step is done), `incident_id` and `incident_public_id`, so that
a retry after a partial success redoes only the missing step.

The client is synchronous (urllib3): each request builds its own `ApiClient` and runs in a
worker thread under the target's timeout. The client's own retries are switched off (urllib3
`retries=False`; datadog `enable_retry` stays off) so that one call is one attempt, and its
host is set explicitly so that `DD_SITE` in the environment cannot redirect events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import aiohttp
import urllib3
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException, OpenApiException
from datadog_api_client.v1.api.events_api import EventsApi
from datadog_api_client.v1.model.event_alert_type import EventAlertType
from datadog_api_client.v1.model.event_create_request import EventCreateRequest

from incidentd.act.config import DatadogConfig
from incidentd.act.http import attempt, host_of, retry_after
from incidentd.act.target import ActionEvent, ActionRequest, Outcome
from incidentd.act.targets import datadog_incident as dd_incident
from incidentd.errors import PermanentError, TransientError

T = TypeVar("T")

TEXT_LIMIT = 4000
AGGREGATION_LIMIT = 100
ALERT_TYPES: Mapping[ActionEvent, str] = {
    ActionEvent.DECLARED: "error",
    ActionEvent.ESCALATED: "error",
    ActionEvent.ACKNOWLEDGED: "warning",
    ActionEvent.MITIGATED: "info",
    ActionEvent.RESOLVED: "success",
    ActionEvent.UPDATED: "info",
    ActionEvent.REOPENED: "error",
    ActionEvent.SLA_BREACHED: "warning",
}


# --- what is sent (pure) ----------------------------------------------------------------------


def event_fields(request: ActionRequest, config: DatadogConfig) -> dict[str, Any]:
    """The event's fields (JSON-native), before the client's model validates them."""
    facts = request.facts
    lines = [facts.score.summary, *facts.score.explanation()]
    if request.note:
        lines.insert(0, request.note)
    if request.event is ActionEvent.SLA_BREACHED and facts.breach_summary():
        lines.insert(0, facts.breach_summary())
    if request.bridge_url:
        lines.append(f"Bridge: {request.bridge_url}")
    lines += [f"[{link.text or link.href}]({link.href})" for link in request.links]
    markdown = "\n".join(lines)
    room = TEXT_LIMIT - len("%%% \n\n %%%")
    text = f"%%% \n{markdown[:room]}\n %%%"
    tags = [
        "source:incidentd",
        f"incident:{facts.id.lower()}",
        f"priority:{facts.priority.value.lower()}",
        f"incident_status:{facts.status}",
        *(f"service:{s}" for s in facts.services[:20]),
        *config.tags,
    ]
    fields: dict[str, Any] = {
        "title": f"[{facts.priority}] {facts.id} {request.event.value}: {facts.title}"[:500],
        "text": text,
        "aggregation_key": facts.id[:AGGREGATION_LIMIT],
        "alert_type": ALERT_TYPES[request.event],
        "tags": tags,
    }
    if config.source_type_name:
        fields["source_type_name"] = config.source_type_name
    return fields


# --- the client (blocking: run in a worker thread) ---------------------------------------------


def _configuration(config: DatadogConfig) -> Configuration:
    keys = {"apiKeyAuth": config.api_key.get_secret_value()}
    if config.app_key is not None:
        keys["appKeyAuth"] = config.app_key.get_secret_value()
    # the client's constructors are untyped (its models are typed)
    conf = Configuration(  # type: ignore[no-untyped-call]
        host=config.host,
        api_key=keys,
        request_timeout=config.seconds,
        enable_retry=False,
        retry_policy=False,  # urllib3 would retry connection errors 3 times by default
    )
    # an explicit host: DD_SITE in the environment only fills server variables, unused here
    if config.incident.enabled:
        dd_incident.switch_on(conf)
    return conf


def _post(conf: Configuration, fields: dict[str, Any]) -> str:
    """Blocking: one POST through the client; returns the event id. Raises the client's
    errors (classified by `_classify`)."""
    body = EventCreateRequest(
        title=fields["title"],
        text=fields["text"],
        aggregation_key=fields["aggregation_key"],
        alert_type=EventAlertType(fields["alert_type"]),  # type: ignore[no-untyped-call]
        tags=fields["tags"],
        **(
            {"source_type_name": fields["source_type_name"]} if "source_type_name" in fields else {}
        ),
    )
    with ApiClient(conf) as client:
        answer = EventsApi(client).create_event(body=body)  # type: ignore[no-untyped-call]
    event = getattr(answer, "event", None)
    return str(getattr(event, "id_str", None) or getattr(event, "id", "") or "")


# --- failures ---------------------------------------------------------------------------------


class IncidentGone(PermanentError):
    """The Datadog incident the refs name is not there (404): deleted in Datadog."""


def _classify(exc: ApiException, what: str) -> Exception:
    status = int(exc.status or 0)
    headers = {str(k): str(v) for k, v in (exc.headers or {}).items()}
    body = exc.body
    errors = body.get("errors") if isinstance(body, dict) else None
    said = "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
    message = f"{what}: HTTP {status}" + (f": {said}" if said else "")
    if status in (408, 429) or status >= 500:
        wait = retry_after(headers)
        if wait is None and headers.get("X-RateLimit-Reset", "").isdigit():
            wait = float(headers["X-RateLimit-Reset"])
        return TransientError(message, retry_after=wait)
    if status == 404:
        return IncidentGone(message)
    return PermanentError(message)


class DatadogTarget:
    def __init__(self, name: str, config: DatadogConfig) -> None:
        self.name = name
        self.config = config
        if config.incident.enabled:
            dd_incident.quiet_unstable_warnings()

    async def _run(self, what: str, call: Callable[..., T], *args: Any) -> T:
        """One blocking client call in a worker thread; its failures classified."""
        # the thread's request is bounded by request_timeout; this bounds the wait for it
        try:
            async with asyncio.timeout(self.config.seconds + 1):
                return await asyncio.to_thread(call, _configuration(self.config), *args)
        except ApiException as exc:
            raise _classify(exc, what) from exc
        except OpenApiException as exc:
            raise PermanentError(f"{what} rejected by the client: {exc}") from exc
        except (TimeoutError, urllib3.exceptions.TimeoutError) as exc:
            where, seconds = host_of(self.config.host), self.config.seconds
            raise TransientError(f"{what}: no answer from {where} within {seconds:g}s") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            where = host_of(self.config.host)
            raise TransientError(f"{what}: {where}: {type(exc).__name__}") from exc

    async def _event(self, request: ActionRequest, found: dict[str, str]) -> str:
        event_id = await self._run("Datadog event", _post, event_fields(request, self.config))
        found["event_for"] = request.key
        return f"event {event_id} posted" if event_id else "event posted"

    async def _incident(self, request: ActionRequest, found: dict[str, str]) -> str:
        """Make sure the refs name the incident (found again, else created), then apply what
        the event changes."""
        adopted = False
        if "incident_id" not in found:
            start = dd_incident.title_start(request.facts, self.config)
            existing = await self._run("Datadog incident search", dd_incident.search, start)
            if existing is None:
                plan = dd_incident.new_incident(request, self.config)
                made = await self._run("Datadog incident create", dd_incident.create, plan)
                found.update(incident_id=made[0], incident_public_id=made[1])
                shown = ", ".join(plan.fields[k] for k in ("severity", "state"))
                return f"Datadog incident {_shown(found)} created ({shown})"
            found.update(incident_id=existing[0], incident_public_id=existing[1])
            adopted = True
        name = f"Datadog incident {_shown(found)}"
        change = dd_incident.incident_change(request, self.config)
        if change is None:
            return f"{name} adopted" if adopted else f"{name}: nothing to change"
        try:
            what, incident_id = "Datadog incident update", found["incident_id"]
            await self._run(what, dd_incident.update, incident_id, change)
        except IncidentGone:
            # deleted in Datadog: a retry by hand finds or makes it again
            found.pop("incident_id", None)
            found.pop("incident_public_id", None)
            raise
        return f"{name} adopted, {change.summary()}" if adopted else f"{name}: {change.summary()}"

    async def send(
        self, request: ActionRequest, session: aiohttp.ClientSession, refs: Mapping[str, str]
    ) -> Outcome:
        if request.event not in ALERT_TYPES:
            return Outcome.nothing(request.event, refs=refs)
        with_incident = self.config.incident.enabled and request.event in dd_incident.EVENTS

        async def steps(found: dict[str, str]) -> str:
            done = []
            if found.get("event_for") != request.key:
                done.append(await self._event(request, found))
            if with_incident and found.get("incident_for") != request.key:
                done.append(await self._incident(request, found))
                found["incident_for"] = request.key
            return "; ".join(done) or "nothing new"

        return await attempt(refs, steps, secrets=self.config.secrets())


def _shown(found: Mapping[str, str]) -> str:
    """`#42` (the public id people see in Datadog), else the id."""
    public = found.get("incident_public_id")
    return f"#{public}" if public else found.get("incident_id", "?")
