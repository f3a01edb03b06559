"""The consumer runs a round's alerts through the engine in slices, with a turn of the event
loop between them: the result is the one of a single `process`, and other tasks (requests,
health probes) run meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from incidentd.consumer import ENGINE_SLICE, Consumer
from incidentd.engine import Engine
from incidentd.model import Alert, Severity
from incidentd.rules.loader import load
from tests.unit.alerts import alert

RULES = load(Path(__file__).resolve().parents[1] / "scenarios" / "config", env={})


def _storm(count: int) -> list[Alert]:
    names = ["PostgresDown", "ConnectionPoolExhausted", "CheckoutErrors", "SearchSlow"]
    services = [None, "orders-api", "checkout-web", "search"]
    return [
        alert(
            names[n % 4],
            minute=n / 200,
            service=services[n % 4],
            labels={"job": "postgres", "pod": f"p{n % 700}"},
            severity=Severity.CRITICAL if n % 3 else Severity.WARNING,
            report=str(n),
        )
        for n in range(count)
    ]


def _picture(engine: Engine) -> bytes:
    s = engine.state
    return orjson.dumps(
        {
            "groups": {gid: g.view(s.alerts) for gid, g in sorted(s.groups.items())},
            "incidents": sorted(str(i) for i in s.declare.incidents.values()),
        },
        option=orjson.OPT_SORT_KEYS,
    )


async def test_a_round_in_slices_is_one_process_and_lets_other_tasks_run() -> None:
    alerts = _storm(ENGINE_SLICE * 3 + 17)
    whole = Engine()
    expected = whole.process(alerts, rules=RULES)

    turns = 0
    running = True

    async def other_task() -> None:
        nonlocal turns
        while running:
            turns += 1
            await asyncio.sleep(0)

    sliced = Engine()
    task = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    started = turns
    got = await Consumer._process(sliced, alerts, RULES)
    during = turns - started
    running = False
    await task

    assert got == expected
    assert _picture(sliced) == _picture(whole)
    assert whole.state.declare.incidents, "the storm declared nothing: a weak comparison"
    assert during >= 3, f"the event loop ran other tasks {during} times during 4 slices"
