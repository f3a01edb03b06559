"""`routing.yaml`: which targets act on which incidents, and how the outbox sends.

A route matches an action when every condition it sets holds (an unset condition matches
anything): the incident's priority, one of its impacted services, one of their owner teams,
one of its capabilities, and the event. Every route that matches adds its targets, in order,
each target once; `stop: true` ends the walk at that route (Alertmanager's `continue: false`).
With no routing.yaml nothing is sent: a daemon never pages by surprise.

```yaml
routes:
  - name: page-majors
    priorities: [P1, P2]
    events: [declared, escalated, reopened, acknowledged, resolved]
    targets: [pagerduty-payments, zoom, slack-incidents]
  - name: tell-the-business
    priorities: [P1]
    targets: [teams-leadership]
outbox:
  max_attempts: 12        # then dead-lettered (a timeline entry, a metric, a log line)
  max_age: 1h             # or dead-lettered when still unsent this long after the decision
  backoff: {initial: 1s, max: 5m}   # exponential with full jitter; Retry-After wins
  concurrency: 16         # sends in flight per daemon
  bridge_wait: 10s        # a declaration message waits this long for the bridge link
reminders:                # status update reminders to the commander, per priority
  P1: 30m
  P2: 1h
```

Pure: no I/O. `match` is what the planner calls for each timeline event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from incidentd.act.target import ActionEvent
from incidentd.model import Priority
from incidentd.rules.schema import Duration, Strict

_NAME = r"^[a-z0-9][a-z0-9_.\-]{0,99}$"


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be above 0")
    return value


Positive = Annotated[Duration, AfterValidator(_positive)]


class Route(Strict):
    name: str = Field(pattern=_NAME)
    priorities: tuple[Priority, ...] = ()
    services: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    events: tuple[ActionEvent, ...] = ()
    targets: tuple[str, ...] = Field(min_length=1)
    stop: bool = False

    def matches(self, facts: RouteFacts) -> bool:
        return (
            (not self.priorities or facts.priority in self.priorities)
            and (not self.events or facts.event in self.events)
            and (not self.services or _meets(self.services, facts.services))
            and (not self.teams or _meets(self.teams, facts.teams))
            and (not self.capabilities or _meets(self.capabilities, facts.capabilities))
        )


def _meets(wanted: Sequence[str], present: Iterable[str]) -> bool:
    return any(p in wanted for p in present)


class Backoff(Strict):
    initial: Positive = timedelta(seconds=1)
    max: Positive = timedelta(minutes=5)

    @model_validator(mode="after")
    def _ordered(self) -> Backoff:
        if self.max < self.initial:
            raise ValueError("backoff.max is below backoff.initial")
        return self


class OutboxSpec(Strict):
    max_attempts: int = Field(default=12, ge=1, le=1000)
    max_age: Positive = timedelta(hours=1)
    backoff: Backoff = Field(default_factory=Backoff)
    concurrency: int = Field(default=16, ge=1, le=1000)
    bridge_wait: Duration = timedelta(seconds=10)
    claim_for: Positive = timedelta(minutes=3)
    """How long a claimed entry is another worker's: past it (the worker died between the
    send and its record), the entry is sent again, with the same idempotency key."""
    keep: Positive = timedelta(days=30)
    """How long settled entries are kept for the API and the post-incident review."""


class RoutingFile(Strict):
    """`routing.yaml`."""

    routes: tuple[Route, ...] = ()
    outbox: OutboxSpec = Field(default_factory=OutboxSpec)
    reminders: dict[Priority, Positive] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_names(self) -> RoutingFile:
        seen: set[str] = set()
        for route in self.routes:
            if route.name in seen:
                raise ValueError(f"two routes are named {route.name!r}")
            seen.add(route.name)
        return self

    def targets_for(self, facts: RouteFacts) -> tuple[str, ...]:
        """The targets that act, in route order, each once."""
        found: dict[str, None] = {}
        for route in self.routes:
            if route.matches(facts):
                found.update(dict.fromkeys(route.targets))
                if route.stop:
                    break
        return tuple(found)


@dataclass(frozen=True, slots=True)
class RouteFacts:
    """What a route looks at: one event of one incident."""

    event: ActionEvent
    priority: Priority
    services: tuple[str, ...]
    teams: tuple[str, ...]
    capabilities: tuple[str, ...]
