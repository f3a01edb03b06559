"""Domain errors become HTTP answers here, in one place: a status and a small JSON body.

Bodies name the problem (`reason`, `message`, and the JSON `path` for a wrong shape) and
never echo the request. An unexpected exception is the one case logged with a traceback;
it answers a bare 500 and the daemon keeps serving.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
import structlog
from aiohttp import web

from incidentd import metrics
from incidentd.errors import InputError, Overloaded, WrongShape
from incidentd.http.deps import DEPS

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(
    status: int, body: dict[str, object], headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def error_response(exc: InputError | Overloaded) -> web.Response:
    body: dict[str, object] = {"status": "rejected", "reason": exc.reason, "message": exc.message}
    headers = None
    if isinstance(exc, WrongShape):
        body["path"] = exc.path
    if isinstance(exc, Overloaded):
        body["status"] = "unavailable"
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
    elif exc.status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="incidentd"'}
    return json_response(exc.status, body, headers)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts the request while it is handled (graceful shutdown waits for the count to drop)
    and turns what it raises into an answer. One middleware, not two: each costs every
    request a wrapper and a coroutine, and a one-alert webhook is answered in ~100 us."""
    counter = request.app[DEPS].inflight
    counter.enter()
    try:
        return await handler(request)
    except (InputError, Overloaded) as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = exc.reason.lower().replace(" ", "_")
        return json_response(
            exc.status,
            {"status": "rejected", "reason": reason, "message": exc.reason},
            headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
        )
    except Exception:
        metrics.HTTP_INTERNAL_ERRORS.inc()
        log.exception("http.unhandled", path=request.path, method=request.method)
        return json_response(500, {"status": "error", "reason": "internal_error"})
    finally:
        counter.leave()
