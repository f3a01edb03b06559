"""The Datadog incident (Incidents API v2): what is created and what each event changes, as
plain values; and the blocking client calls that send them (run by the Datadog target).

Documented behaviour this module relies on (docs.datadoghq.com: "Create an incident", "Update
an existing incident", "Search for incidents"; datadog-api-client's `IncidentCreateRequest`,
`IncidentUpdateRequest` and `IncidentSearchResponse` models):

- The Incidents API takes `DD-API-KEY` and `DD-APPLICATION-KEY` (an application key whose
  user has `incident_write`; search needs `incident_read`). The endpoints are in public beta;
  the client calls the operations "unstable" and refuses them unless switched on one by one.
- POST `/api/v2/incidents` `{"data": {"type": "incidents", "attributes": {title,
  customer_impacted (required), customer_impact_scope (required when impacted), fields:
  {severity: {type: dropdown, value: SEV-n}, state: {type: dropdown, value: active, stable
  or resolved}}, notification_handles, is_test}, "relationships": {commander_user: {data:
  {type: users, id}}}}}` answers 201 `{"data": {id (a UUID), attributes: {public_id, ...}}}`.
- PATCH `/api/v2/incidents/{id}` `{"data": {"type": "incidents", "id", "attributes": {...}}}`
  takes only the attributes to change (fields, customer_impact_end, ...) and answers 200.
  Datadog stamps `resolved` itself when the state becomes resolved.
- GET `/api/v2/incidents/search?query=...` takes facet queries (`state:(active OR stable)`),
  `sort=-created` and `page[size]` (at most 100), and answers `{"data": {"attributes":
  {"incidents": [{"data": <incident>}], "facets", "total"}}}`.

Datadog has no idempotency key for incidents: before creating, the target reads the newest
incidents (one page, newest first) and adopts the one whose title starts with
`<title_prefix><incident id>: `. A title edited in Datadog, more than a page of incidents made
in between, or a search index that lags a fresh create defeat it: the incident would be made
twice.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from datadog_api_client import ApiClient, Configuration
from datadog_api_client.v2.api.incidents_api import IncidentsApi
from datadog_api_client.v2.model.incident_create_attributes import IncidentCreateAttributes
from datadog_api_client.v2.model.incident_create_data import IncidentCreateData
from datadog_api_client.v2.model.incident_create_relationships import IncidentCreateRelationships
from datadog_api_client.v2.model.incident_create_request import IncidentCreateRequest
from datadog_api_client.v2.model.incident_field_attributes_single_value import (
    IncidentFieldAttributesSingleValue,
)
from datadog_api_client.v2.model.incident_field_attributes_single_value_type import (
    IncidentFieldAttributesSingleValueType,
)
from datadog_api_client.v2.model.incident_notification_handle import IncidentNotificationHandle
from datadog_api_client.v2.model.incident_search_sort_order import IncidentSearchSortOrder
from datadog_api_client.v2.model.incident_type import IncidentType
from datadog_api_client.v2.model.incident_update_attributes import IncidentUpdateAttributes
from datadog_api_client.v2.model.incident_update_data import IncidentUpdateData
from datadog_api_client.v2.model.incident_update_request import IncidentUpdateRequest
from datadog_api_client.v2.model.nullable_relationship_to_user import NullableRelationshipToUser
from datadog_api_client.v2.model.nullable_relationship_to_user_data import (
    NullableRelationshipToUserData,
)
from datadog_api_client.v2.model.users_type import UsersType

from incidentd.act.comms import stakes
from incidentd.act.config import DatadogConfig
from incidentd.act.target import ActionEvent, ActionRequest, IncidentFacts
from incidentd.errors import PermanentError

TITLE_LIMIT = 255
EVENTS = frozenset(
    {
        ActionEvent.DECLARED,
        ActionEvent.ESCALATED,
        ActionEvent.ACKNOWLEDGED,
        ActionEvent.MITIGATED,
        ActionEvent.RESOLVED,
        ActionEvent.REOPENED,
    }
)
"""The events that make or change the Datadog incident; notes and SLA breaches are events only."""
STATES: Mapping[str, str] = {
    "declared": "active",
    "acknowledged": "active",
    "mitigated": "stable",
    "resolved": "resolved",
}
"""Our status -> Datadog's incident state."""
UNSTABLE = ("create_incident", "update_incident", "search_incidents")
"""Switched on by their bare names: the client's setter raises KeyError for a `v2.` name (it
stores it, then looks for `v1.v2.<name>`; datadog-api-client 2.62)."""
SEARCH_QUERY = "state:(active OR stable OR resolved)"
SEARCH_PAGE = 100


def switch_on(conf: Configuration) -> None:
    """Let the client call the incident operations (it refuses "unstable" ones by default)."""
    for operation in UNSTABLE:
        conf.unstable_operations[operation] = True


def quiet_unstable_warnings() -> None:
    """The client warns on every call of an unstable operation; we opt in knowingly, and a
    warning per call would be noise in the logs (an error under `-W error`). Idempotent: the
    same filter added again replaces itself."""
    warnings.filterwarnings(
        "ignore",
        message=r"Using unstable operation '(create|update|search)_incidents?'",
        category=UserWarning,
        module=r"datadog_api_client\.api_client",
    )


# --- what is sent (pure) ----------------------------------------------------------------------


def title_start(facts: IncidentFacts, config: DatadogConfig) -> str:
    """How the incident's title starts: what a retried create looks for."""
    return f"{config.incident.title_prefix}{facts.id}: "


def incident_title(facts: IncidentFacts, config: DatadogConfig) -> str:
    text = title_start(facts, config) + " ".join(facts.title.split())
    return text if len(text) <= TITLE_LIMIT else text[: TITLE_LIMIT - 1] + "…"


def customer_impact(facts: IncidentFacts) -> str | None:
    """What customers suffer (Datadog's `customer_impact_scope`), or None when the score says
    no customer-facing service is reached (or does not say)."""
    at_stake = stakes(facts)
    if not at_stake["customer_facing"]:
        return None
    touched = ", ".join(facts.capabilities or facts.services) or "services"
    return str(at_stake["customers"] or f"customer-facing {touched} impaired")


@dataclass(frozen=True, slots=True)
class NewIncident:
    """The Datadog incident to create, before the client's models validate it."""

    title: str
    fields: Mapping[str, str]
    """Dropdown fields: severity and state."""
    customer_impact_scope: str | None
    commander_user: str | None = None
    notification_handles: tuple[str, ...] = ()
    is_test: bool = False


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """A partial update of the Datadog incident."""

    fields: Mapping[str, str]
    impact_end: datetime | None = None
    """`customer_impact_end`: when the customers' impact ended."""
    impact_resumed: bool = False
    """Clear `customer_impact_end`: the customers suffer again."""

    def summary(self) -> str:
        return ", ".join(f"{name} {value}" for name, value in self.fields.items())


def new_incident(request: ActionRequest, config: DatadogConfig) -> NewIncident:
    """The incident as it stands: a create on a later event (the declaration's create failed,
    or the incident predates the configuration) shows the current state."""
    facts = request.facts
    return NewIncident(
        title=incident_title(facts, config),
        fields={
            "severity": config.incident.severity[facts.priority],
            "state": STATES.get(facts.status, "active"),
        },
        customer_impact_scope=customer_impact(facts),
        commander_user=config.incident.commander_user,
        notification_handles=config.incident.notification_handles,
        is_test=config.incident.test,
    )


def incident_change(request: ActionRequest, config: DatadogConfig) -> IncidentChange | None:
    """What an event changes on an existing incident; None: nothing (a declaration whose
    incident exists). Only what the event is about, so that a person's edits in Datadog (a
    severity set by hand) survive the other events."""
    facts = request.facts
    severity = config.incident.severity[facts.priority]
    impacted = customer_impact(facts) is not None
    ended = facts.mitigated_at or facts.resolved_at
    match request.event:
        case ActionEvent.ESCALATED:
            return IncidentChange({"severity": severity})
        case ActionEvent.ACKNOWLEDGED:
            return IncidentChange({"state": "active"})
        case ActionEvent.MITIGATED | ActionEvent.RESOLVED:
            state = "stable" if request.event is ActionEvent.MITIGATED else "resolved"
            return IncidentChange({"state": state}, impact_end=ended if impacted else None)
        case ActionEvent.REOPENED:
            fields = {"state": "active", "severity": severity}
            return IncidentChange(fields, impact_resumed=impacted)
    return None


# --- the client calls (blocking: the target runs them in a worker thread) ---------------------


def _dropdowns(values: Mapping[str, str]) -> dict[str, Any]:
    dropdown = IncidentFieldAttributesSingleValueType("dropdown")  # type: ignore[no-untyped-call]
    return {
        name: IncidentFieldAttributesSingleValue(type=dropdown, value=value)
        for name, value in values.items()
    }


def _ids(incident: Any) -> tuple[str, str]:
    """The id and public id of an incident in an answer."""
    incident_id = str(getattr(incident, "id", "") or "")
    if not incident_id:
        raise PermanentError("Datadog incident: no id in the answer")
    public_id = getattr(getattr(incident, "attributes", None), "public_id", None)
    return incident_id, str(public_id or "")


def search(conf: Configuration, start: str) -> tuple[str, str] | None:
    """Blocking: the oldest incident among the newest page whose title starts with `start`."""
    with ApiClient(conf) as client:
        answer = IncidentsApi(client).search_incidents(  # type: ignore[no-untyped-call]
            query=SEARCH_QUERY,
            sort=IncidentSearchSortOrder("-created"),  # type: ignore[no-untyped-call]
            page_size=SEARCH_PAGE,
        )
    found = getattr(getattr(getattr(answer, "data", None), "attributes", None), "incidents", [])
    for item in reversed(list(found or [])):
        incident = getattr(item, "data", None)
        title = getattr(getattr(incident, "attributes", None), "title", None)
        if isinstance(title, str) and title.startswith(start):
            return _ids(incident)
    return None


def create(conf: Configuration, plan: NewIncident) -> tuple[str, str]:
    """Blocking: one create; returns the incident's id and public id."""
    optional: dict[str, Any] = {}
    if plan.customer_impact_scope:
        optional["customer_impact_scope"] = plan.customer_impact_scope
    if plan.notification_handles:
        optional["notification_handles"] = [
            IncidentNotificationHandle(handle=h) for h in plan.notification_handles
        ]
    if plan.is_test:
        optional["is_test"] = True
    data: dict[str, Any] = {}
    if plan.commander_user:
        user = NullableRelationshipToUserData(
            id=plan.commander_user,
            type=UsersType("users"),  # type: ignore[no-untyped-call]
        )
        commander = NullableRelationshipToUser(data=user)
        data["relationships"] = IncidentCreateRelationships(commander_user=commander)
    body = IncidentCreateRequest(
        data=IncidentCreateData(
            type=IncidentType("incidents"),  # type: ignore[no-untyped-call]
            attributes=IncidentCreateAttributes(
                title=plan.title,
                customer_impacted=plan.customer_impact_scope is not None,
                fields=_dropdowns(plan.fields),
                **optional,
            ),
            **data,
        )
    )
    with ApiClient(conf) as client:
        answer = IncidentsApi(client).create_incident(body=body)  # type: ignore[no-untyped-call]
    return _ids(getattr(answer, "data", None))


def update(conf: Configuration, incident_id: str, change: IncidentChange) -> None:
    """Blocking: one partial update."""
    impact: dict[str, Any] = {}
    if change.impact_end is not None:
        impact["customer_impact_end"] = change.impact_end
    elif change.impact_resumed:
        impact["customer_impact_end"] = None
    body = IncidentUpdateRequest(
        data=IncidentUpdateData(
            id=incident_id,
            type=IncidentType("incidents"),  # type: ignore[no-untyped-call]
            attributes=IncidentUpdateAttributes(fields=_dropdowns(change.fields), **impact),
        )
    )
    with ApiClient(conf) as client:
        IncidentsApi(client).update_incident(  # type: ignore[no-untyped-call]
            incident_id=incident_id, body=body
        )
