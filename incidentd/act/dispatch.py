"""The outbox workers: claim due actions, make one attempt each, settle, record the outcome.

One `Dispatcher` task per daemon (every replica runs one: claims are atomic, so replicas
share the work). Each round it claims as many due actions as it has free slots
(`outbox.concurrency`), and runs each in its own task:

1. the target, as configured now (removed from targets.yaml: dead-lettered);
2. the incident as stored now, with its timeline, and the refs its chain and the bridge made;
3. one attempt (`Target.send`) under a time budget, never raising;
4. the outcome settles the action: sent; retry at the vendor's Retry-After or the backoff;
   dead after `max_attempts` or `max_age`, or on a permanent failure. A dead action is a
   metric, a log line and a timeline entry, and waits for a person;
5. the outcome goes to the incident's timeline through the engine (a command posted without
   waiting: only the engine writes incidents): the first retry, the send, the dead letter.

Reminders recur: at their due time, a reminder whose incident had a status update within the
interval is re-armed from that update without sending; a resolved incident ends them.
A declaration message to a chat waits up to `bridge_wait` for the bridge link (pages never
wait).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

import aiohttp
import structlog

from incidentd import metrics
from incidentd.act import registry
from incidentd.act.outbox import Action, ActionState, Claimed, Outbox, backoff
from incidentd.act.plan import bridge_targets
from incidentd.act.routing import OutboxSpec
from incidentd.act.target import (
    ActionRequest,
    Link,
    Outcome,
    OutcomeKind,
    Person,
    Target,
    idempotency_key,
)
from incidentd.act.targets.opsgenie import OpsgenieTarget
from incidentd.act.targets.pagerduty import PagerDutyTarget
from incidentd.clock import Clock, pause
from incidentd.declare import incident as inc
from incidentd.declare.declarer import Command
from incidentd.declare.incident import Incident, IncidentStatus
from incidentd.declare.timeline import ENGINE, EntryKind, TimelineEntry
from incidentd.errors import IncidentdError, Overloaded, PermanentError
from incidentd.rules.loader import RuleSet
from incidentd.rules.reload import RulesHandle
from incidentd.store.base import CommandBus, StateStore

log = structlog.get_logger(__name__)

PAGERS = (PagerDutyTarget, OpsgenieTarget)
WAIT_STEP = 0.25
"""Seconds between looks at the bridge while a declaration message waits for it."""
IDLE_WAIT = 1.0
"""Longest sleep between claims when nothing is due (a new action wakes the worker)."""
PURGE_EVERY = 300.0
GAUGES_EVERY = 10.0


class Dispatcher:
    def __init__(
        self,
        *,
        outbox: Outbox,
        state: StateStore,
        commands: CommandBus,
        rules: RulesHandle,
        clock: Clock,
        name: str,
        public_url: str | None = None,
    ) -> None:
        self._outbox = outbox
        self._state = state
        self._commands = commands
        self._rules = rules
        self._clock = clock
        self._name = name
        self._public_url = public_url.rstrip("/") if public_url else None
        self._built: tuple[str, dict[str, Target]] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._purged = 0.0
        self._counted = 0.0
        self.stopping = asyncio.Event()

    def targets(self, rules: RuleSet) -> dict[str, Target]:
        """The targets of the current configuration, built once per version."""
        if self._built is None or self._built[0] != rules.version:
            self._built = (rules.version, registry.build(rules.targets))
        return self._built[1]

    async def run(self) -> None:
        """Until `stopping`: then the attempts under way finish (their outcomes are kept)."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self.stopping.is_set():
                try:
                    await self._round(session)
                except Overloaded as exc:
                    log.warning("outbox.unavailable", reason=str(exc))
                    await pause(self.stopping, 1.0)
                except Exception:  # task boundary: log, count, keep going
                    log.exception("outbox.round_failed")
                    metrics.OUTBOX_FAILURES.inc()
                    await pause(self.stopping, 1.0)
            if self._running:
                await asyncio.wait(self._running)

    async def _round(self, session: aiohttp.ClientSession) -> None:
        spec = self._rules.current.routing.outbox
        free = spec.concurrency - len(self._running)
        if free <= 0:
            await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
            return
        now = self._clock.now()
        claimed = await self._outbox.claim(self._name, now, count=free, claim_for=spec.claim_for)
        for one in claimed:
            task = asyncio.create_task(self._one(one, session))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        await self._housekeeping(now)
        if len(claimed) == free:
            return  # more may be due
        due = await self._outbox.next_due()
        wait = IDLE_WAIT
        if due is not None:
            wait = min(IDLE_WAIT, max(0.0, (due - self._clock.now()).total_seconds()))
        if wait > 0:
            await self._outbox.wait(wait)

    async def _housekeeping(self, now: datetime) -> None:
        """The gauges every `GAUGES_EVERY` s; settled actions past `keep` forgotten every
        `PURGE_EVERY` s."""
        clock = time.monotonic()
        if clock - self._counted >= GAUGES_EVERY:
            self._counted = clock
            counts = await self._outbox.counts()
            metrics.OUTBOX_DUE.set(counts["due"])
            metrics.OUTBOX_DEAD.set(counts["dead"])
        if clock - self._purged >= PURGE_EVERY:
            self._purged = clock
            keep = self._rules.current.routing.outbox.keep
            await self._outbox.purge(now - keep)

    # -- one action --------------------------------------------------------------------------

    async def _one(self, claimed: Claimed, session: aiohttp.ClientSession) -> None:
        action = claimed.action
        try:
            await self._attempt(claimed, session)
        except Overloaded as exc:
            # The store is out of reach: the claim expires and the action is tried again.
            log.warning("outbox.attempt_interrupted", key=action.key, reason=str(exc))
        except Exception:  # task boundary: the claim expires, the action is tried again
            log.exception("outbox.attempt_failed", key=action.key)
            metrics.OUTBOX_FAILURES.inc()

    async def _attempt(self, claimed: Claimed, session: aiohttp.ClientSession) -> None:
        action = claimed.action
        rules = self._rules.current
        target = self.targets(rules).get(action.target)
        if target is None:
            reason = f"target {action.target!r} is not in targets.yaml any more"
            await self._finish(claimed, Outcome.failed(reason, refs=claimed.refs))
            return
        found = await self._state.incident(action.incident_id)
        if found is None:
            reason = f"incident {action.incident_id} is not in the store"
            await self._finish(claimed, Outcome.failed(reason, refs=claimed.refs))
            return
        incident, timeline = found
        now = self._clock.now()
        if action.recurring and await self._reminder_not_due(claimed, incident, timeline, now):
            return
        bridges = bridge_targets(rules.targets)
        refs = await self._outbox.refs(action.incident_id) if bridges else {}
        bridge = _bridge_url(bridges, refs)
        if bridge is None and await self._waits_for_bridge(rules, target, action, now):
            later = replace(action, due_at=now + timedelta(seconds=WAIT_STEP))
            await self._outbox.settle(claimed, later, claimed.refs, now=now)
            return
        request = self._request(rules, action, incident, timeline, bridge)
        budget = _budget(rules, action.target)
        started = time.perf_counter()
        if action.attempts == 0 and action.sends == 0:
            lag = (now - action.created_at).total_seconds()
            metrics.ACTION_LAG_SECONDS.labels(action.target).observe(max(0.0, lag))
        try:
            async with asyncio.timeout(budget):
                outcome = await target.send(request, session, claimed.refs)
        except TimeoutError:
            outcome = Outcome.retry(f"no answer within {budget:g} s", refs=claimed.refs)
        except PermanentError as exc:
            outcome = Outcome.failed(str(exc), refs=claimed.refs)
        except (aiohttp.ClientError, OSError) as exc:
            outcome = Outcome.retry(f"network: {type(exc).__name__}", refs=claimed.refs)
        except Exception as exc:  # a target's bug: counted as an attempt, so it ends dead
            log.exception("action.target_error", key=action.key, target=action.target)
            metrics.OUTBOX_FAILURES.inc()
            outcome = Outcome.retry(f"internal error: {type(exc).__name__}", refs=claimed.refs)
        metrics.ACTION_SECONDS.labels(action.target).observe(time.perf_counter() - started)
        rearm = rules.routing.reminders.get(incident.priority) if action.recurring else None
        await self._finish(claimed, outcome, rearm=rearm)

    def _request(
        self,
        rules: RuleSet,
        action: Action,
        incident: Incident,
        timeline: list[TimelineEntry],
        bridge: str | None,
    ) -> ActionRequest:
        links: list[Link] = []
        if self._public_url:
            links.append(Link(f"{self._public_url}/api/v1/incidents/{incident.id}", incident.id))
        request = ActionRequest.of(
            inc.view(incident, timeline),
            action.event,
            target=action.target,
            seq=action.seq,
            bridge_url=bridge,
            links=links,
            people=[_person(rules, name) for name in action.people],
            note=action.note,
        )
        if action.recurring:  # each reminder is its own message
            request = replace(request, key=f"{request.key}:{action.sends}")
        return request

    async def _waits_for_bridge(
        self,
        rules: RuleSet,
        target: Target,
        action: Action,
        now: datetime,
    ) -> bool:
        """A declaration message to a chat waits for the bridge link while a bridge target
        acting on the same event has not made it, up to `bridge_wait` after the decision (a
        dead bridge action ends the wait). Asked only while no bridge link is known."""
        if not action.waits_for or isinstance(target, PAGERS):
            return False
        if now - action.created_at >= rules.routing.outbox.bridge_wait:
            return False
        for bridge in action.waits_for:
            key = idempotency_key(action.incident_id, action.event, bridge, action.seq)
            found = await self._outbox.get(key)
            if found is not None and found.state is not ActionState.DEAD:
                return True
        return False

    async def _reminder_not_due(
        self, claimed: Claimed, incident: Incident, timeline: list[TimelineEntry], now: datetime
    ) -> bool:
        """True when the reminder was settled without sending (resolved, or an update came
        within the interval: re-armed from it)."""
        action = claimed.action
        intervals = self._rules.current.routing.reminders
        if incident.status is IncidentStatus.RESOLVED or not intervals:
            reason = "resolved" if intervals else "reminders are switched off"
            done = replace(
                action,
                state=ActionState.SENT,
                last_at=now,
                last_outcome="skipped",
                last_reason=reason,
            )
            await self._outbox.settle(claimed, done, claimed.refs, now=now)
            return True
        every = intervals.get(incident.priority)
        if every is None:  # not for this priority (now): look again after the shortest one
            again = replace(action, due_at=now + min(intervals.values()))
            await self._outbox.settle(claimed, again, claimed.refs, now=now)
            return True
        last = _last_update(incident, timeline)
        if last + every > now:
            again = replace(action, due_at=last + every)
            await self._outbox.settle(claimed, again, claimed.refs, now=now)
            return True
        return False

    async def _finish(
        self, claimed: Claimed, outcome: Outcome, *, rearm: timedelta | None = None
    ) -> None:
        action = claimed.action
        spec = self._rules.current.routing.outbox
        now = self._clock.now()
        attempts = action.attempts + 1
        refs = dict(outcome.refs)
        recorded = outcome.kind.value
        if outcome.kind is OutcomeKind.SENT:
            if action.recurring and rearm is not None:
                nxt = replace(action, attempts=0, due_at=now + rearm)
            else:
                nxt = replace(action, state=ActionState.SENT, attempts=attempts)
            nxt = replace(nxt, sends=action.sends + 1)
        elif outcome.kind is OutcomeKind.RETRY and not _exhausted(action, attempts, spec, now):
            wait = backoff(attempts, spec.backoff)
            if outcome.retry_after is not None:
                wait = max(wait, timedelta(seconds=min(outcome.retry_after, 3600)))
            nxt = replace(action, attempts=attempts, due_at=now + wait)
        else:
            nxt = replace(action, state=ActionState.DEAD, attempts=attempts)
            recorded = "dead"
        nxt = replace(nxt, last_at=now, last_outcome=outcome.kind.value, last_reason=outcome.reason)
        if not await self._outbox.settle(claimed, nxt, refs, now=now):
            log.warning("outbox.claim_lost", key=action.key, target=action.target)
            return
        metrics.ACTIONS.labels(action.target, recorded).inc()
        fields = {
            "key": action.key,
            "incident": action.incident_id,
            "target": action.target,
            "action": action.event.value,
            "attempt": attempts,
            "reason": outcome.reason,
        }
        if recorded == "dead":
            metrics.ACTIONS_DEAD_LETTERED.labels(action.target).inc()
            log.error("action.dead_lettered", **fields)
        elif recorded == "retry":
            log.warning("action.retry", due=nxt.due_at.isoformat(), **fields)
        else:
            log.info("action.sent", **fields)
        if recorded != "retry" or attempts == 1:
            reason = outcome.reason
            made = refs.get("bridge_url")
            if made and made != claimed.refs.get("bridge_url"):
                reason = f"bridge {made}" + (f" ({reason})" if reason else "")
            await self._record(action, recorded, reason, attempts)

    async def _record(self, action: Action, outcome: str, reason: str, attempt: int) -> None:
        detail = reason if outcome != "retry" else f"{reason}; retrying"
        command = Command(
            incident_id=action.incident_id,
            action="record",
            actor=ENGINE,
            text=detail,
            target=action.target,
            event=action.event.value,
            outcome=outcome,
        )
        try:
            await self._commands.post(command, f"{action.key}:{action.sends}:{attempt}:{outcome}")
        except IncidentdError as exc:
            log.warning("action.outcome_not_recorded", key=action.key, reason=str(exc))


def _exhausted(action: Action, attempts: int, spec: OutboxSpec, now: datetime) -> bool:
    if action.recurring:
        return attempts >= spec.max_attempts
    return attempts >= spec.max_attempts or now - action.created_at >= spec.max_age


def _budget(rules: RuleSet, name: str) -> float:
    """Time for one attempt: a multi-step flow (Slack: create, invite, post; Opsgenie:
    create, confirm) spends the target's timeout per step. Never past 0.8 of the claim:
    beyond it, another worker would send again."""
    config = rules.targets.targets.get(name)
    per_request = float(getattr(config, "seconds", 10.0))
    claim = rules.routing.outbox.claim_for.total_seconds()
    return min(per_request * 4 + 5, 0.8 * claim)


def _bridge_url(bridges: frozenset[str], refs: Mapping[str, Mapping[str, str]]) -> str | None:
    """The link a bridge target of the incident made, if one did."""
    for name in sorted(bridges):
        url = refs.get(name, {}).get("bridge_url")
        if url:
            return url
    return None


def _person(rules: RuleSet, name: str) -> Person:
    """The person with their identities in each tool (oncall.yaml's people), or just a name."""
    return rules.oncall.identities([name])[0]


def _last_update(incident: Incident, timeline: list[TimelineEntry]) -> datetime:
    """The latest status update: a person's note or status change, else the (re)declaration."""
    last = incident.reopened_at or incident.declared_at
    for entry in timeline:
        if entry.actor.is_person and entry.kind in (EntryKind.NOTE, EntryKind.STATUS_CHANGED):
            last = max(last, entry.at)
    return last
