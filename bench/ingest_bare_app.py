"""The ceiling for Python here: a bare aiohttp app that reads the body, parses it with orjson
and answers 202 with a small JSON body, like incidentd's. No validation, no queue, no logging.

    .venv/bin/python bench/ingest_bare_app.py --port 8081

Same interpreter, event loop (asyncio's default) and aiohttp version as incidentd, with the
access log off, as incidentd has it.
"""

from __future__ import annotations

import argparse

import orjson
from aiohttp import web


async def receive(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    count = len(body["alerts"]) if isinstance(body, dict) else len(body)
    return web.Response(
        status=202,
        body=orjson.dumps({"status": "accepted", "alerts": count}),
        content_type="application/json",
    )


def make_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/webhooks/{source}", receive)
    app.router.add_get("/healthz", healthz)
    return app


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, print=None)
