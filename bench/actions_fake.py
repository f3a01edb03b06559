"""A minimal PagerDuty Events API v2 for the actions benchmark, in its own process.

`python bench/actions_fake.py PORT`: POST /v2/enqueue answers 202 as PagerDuty does (after
the same checks as tests/fakes/pagerduty.py: it is that fake, served with aiohttp) and keeps
`(dedup_key, event_action, time.time())` of each event; GET /_received returns them; POST
/_reset forgets them. Its own process, so that its CPU is not the measured daemon's.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.pagerduty import FakePagerDuty

RECEIVED: list[tuple[str, str, float]] = []


@web.middleware
async def stamp(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:  # type: ignore[name-defined]
    arrived = time.time()
    response = await handler(request)
    if request.path == "/v2/enqueue" and response.status == 202:
        body = await request.json()
        RECEIVED.append((str(body.get("dedup_key")), str(body.get("event_action")), arrived))
    return response


async def received(_: web.Request) -> web.Response:
    return web.json_response(RECEIVED)


async def reset(_: web.Request) -> web.Response:
    RECEIVED.clear()
    return web.json_response({"ok": True})


def main() -> None:
    fake = FakePagerDuty()
    app = fake.app()
    app.middlewares.append(stamp)
    app.router.add_get("/_received", received)
    app.router.add_post("/_reset", reset)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
