"""A webhook receiver as a careful integrator writes one: it verifies incidentd's HMAC
signature and timestamp (incidentd.act.targets.webhook.verify), rejects what fails with 401,
and drops repeats of an `Idempotency-Key` it has already processed (answering 200)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from incidentd.act.targets.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.fakes.base import FakeVendor, respond

PATH = "/hooks/incidentd"


class FakeReceiver(FakeVendor):
    def __init__(self, secret: str, now: datetime, max_skew: float = 300) -> None:
        super().__init__()
        self.secret = secret
        self.now = now
        self.max_skew = max_skew
        self.processed: dict[str, Any] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post(PATH, self.deliver)

    async def deliver(self, request: web.Request) -> web.Response:
        body = await request.read()
        good = verify(
            self.secret,
            timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
            body=body,
            signature=request.headers.get(SIGNATURE_HEADER, ""),
            now=self.now,
            max_skew=self.max_skew,
        )
        if not good:
            self.violate(["bad signature or timestamp"])
            return respond(401, "invalid signature")
        if (scripted := await self.scripted()) is not None:
            return scripted
        key = request.headers.get("Idempotency-Key", "")
        if not key:
            self.violate(["no Idempotency-Key"])
        if key not in self.processed:
            self.processed[key] = orjson.loads(body)
        return respond(200, {"received": True})
