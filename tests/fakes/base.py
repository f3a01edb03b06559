"""What every fake vendor shares: recording, scripted answers, shape violations, serving.

A fake checks a request's shape first (a request the vendor would reject gets the vendor's
own error, and the problem is kept in `violations`, which a happy-path test asserts empty),
then plays the next scripted answer if a test queued one (`fail_next`, `delay_next`), else
answers as the vendor does.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Answer:
    """A scripted answer: `status` None only waits `delay` and then answers normally."""

    status: int | None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


def respond(status: int, body: Any = None, headers: dict[str, str] | None = None) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=headers)
    if isinstance(body, str):
        return web.Response(status=status, text=body, headers=headers)
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


class FakeVendor:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.violations: list[str] = []
        self.url = ""
        self._script: deque[Answer] = deque()

    # --- scripting ---------------------------------------------------------------------------

    def fail_next(
        self, count: int, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        for _ in range(count):
            self._script.append(Answer(status, body, dict(headers or {})))

    def pass_next(self, count: int = 1) -> None:
        """The next `count` requests get their normal answer (to script a later one)."""
        for _ in range(count):
            self._script.append(Answer(None))

    def delay_next(self, seconds: float) -> None:
        """The next request waits `seconds` before its normal answer (beyond a client's
        timeout, it is a timeout)."""
        self._script.append(Answer(None, delay=seconds))

    async def scripted(self) -> web.Response | None:
        if not self._script:
            return None
        answer = self._script.popleft()
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.status is None:
            return None
        return respond(answer.status, answer.body, answer.headers)

    # --- recording ---------------------------------------------------------------------------

    def requests(self, path: str | None = None) -> list[Received]:
        return [r for r in self.received if path is None or r.path == path]

    def violate(self, problems: list[str]) -> None:
        self.violations.extend(problems)

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        self.received.append(
            Received(
                request.method,
                request.path,
                dict(request.query),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        return await handler(request)

    # --- the app -----------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        self.routes(app)
        return app


@asynccontextmanager
async def serve(fake: FakeVendor) -> AsyncIterator[str]:
    """Serve `fake` on 127.0.0.1 (a free port); yields its base URL, also set as `fake.url`."""
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server(shutdown_timeout=1.0)
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake.url
    finally:
        await server.close()


async def json_body(request: web.Request) -> tuple[Any, str | None]:
    """The request's JSON body, or the problem with it."""
    if not request.content_type.startswith("application/json"):
        return None, f"content type {request.content_type!r} is not application/json"
    try:
        return orjson.loads(await request.read()), None
    except orjson.JSONDecodeError:
        return None, "body is not JSON"


def require_str(body: dict[str, Any], key: str, problems: list[str], *, limit: int) -> None:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        problems.append(f"{key} is required (a non-empty string)")
    elif len(value) > limit:
        problems.append(f"{key} is longer than {limit} characters")
