"""A generic webhook: a JSON body rendered from a Jinja2 template, signed with HMAC-SHA256.

The template (sandboxed, strict about undefined names, see render.py) sees `event`,
`incident` (incident.view()), `bridge_url`, `links`, `note` and `key`, and, when the target
has an `audience`, `message`: the stakeholder message for it (`title`, `body` in Markdown,
`audience`; see comms.py). It must render JSON. Without a template the body is all of them.
Headers:

- `Idempotency-Key`: the action's key, the same on every retry, so that a receiver can drop
  a repeat;
- `X-Incidentd-Event`: the event;
- `X-Incidentd-Timestamp`: Unix seconds at signing, and `X-Incidentd-Signature:
  v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` when a secret is configured. Signing the
  timestamp with the body lets a receiver reject replays older than a few minutes (the
  scheme Stripe and Slack use for their webhooks); `verify` is the receiver's side.

2xx is success; 408, 429 (with Retry-After) and 5xx are retried; any other 4xx fails.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from incidentd.act.comms import render_message
from incidentd.act.config import WebhookConfig
from incidentd.act.http import attempt, check, exchange, text_of
from incidentd.act.render import render_json
from incidentd.act.target import ActionRequest, Outcome
from incidentd.clock import SystemClock

SIGNATURE_HEADER = "X-Incidentd-Signature"
TIMESTAMP_HEADER = "X-Incidentd-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex>`: HMAC-SHA256 over `<timestamp>.<body>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(
    secret: str, *, timestamp: str, body: bytes, signature: str, now: datetime, max_skew: float
) -> bool:
    """The receiver's check: a valid signature over a timestamp at most `max_skew` seconds
    from `now`. Constant-time comparison."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - stamp) > max_skew:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


def context(request: ActionRequest, config: WebhookConfig | None = None) -> dict[str, Any]:
    """What a template sees (and the default body): JSON-native values only. `message` only
    when the config names an audience (PermanentError when its template cannot render)."""
    values: dict[str, Any] = {
        "key": request.key,
        "event": request.event.value,
        "incident": dict(request.incident),
        "bridge_url": request.bridge_url,
        "links": [{"href": link.href, "text": link.text} for link in request.links],
        "note": request.note,
    }
    if config is not None and config.audience is not None:
        values["message"] = render_message(config.audience, request, config.templates).view()
    return values


def body_of(
    request: ActionRequest, template: str | None, config: WebhookConfig | None = None
) -> bytes:
    values = context(request, config)
    document = values if template is None else render_json(template, values)
    return orjson.dumps(document)


class WebhookTarget:
    def __init__(
        self, name: str, config: WebhookConfig, *, now: Callable[[], datetime] | None = None
    ) -> None:
        self.name = name
        self.config = config
        self._now = now or SystemClock().now

    def headers(self, request: ActionRequest, body: bytes) -> dict[str, str]:
        timestamp = int(self._now().timestamp())
        headers = {k: v.get_secret_value() for k, v in self.config.headers.items()}
        headers.update(
            {
                "Content-Type": "application/json",
                "Idempotency-Key": request.key,
                "X-Incidentd-Event": request.event.value,
                TIMESTAMP_HEADER: str(timestamp),
            }
        )
        if self.config.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.config.secret.get_secret_value(), timestamp, body)
        return headers

    async def send(
        self, request: ActionRequest, session: aiohttp.ClientSession, refs: Mapping[str, str]
    ) -> Outcome:
        async def steps(found: dict[str, str]) -> str:
            body = body_of(request, self.config.template, self.config)
            reply = await exchange(
                session,
                "POST",
                self.config.url.get_secret_value(),
                data=body,
                headers=self.headers(request, body),
                seconds=self.config.seconds,
            )
            check(reply, "webhook", "" if reply.ok else text_of(reply))
            return f"delivered ({reply.status})"

        return await attempt(refs, steps, secrets=self.config.secrets())
