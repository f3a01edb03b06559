"""Who may use `/api/v1/`: bearer tokens with `read` and `write` scopes, from api.yaml.

Writes (creating or expiring a silence, changing an incident) always need a token with the
`write` scope: there are no anonymous writes. Reads need a token with `read` unless
`anonymous_read` is on (the default, for a daemon on a private network). A missing or wrong
token is a 401 (with `WWW-Authenticate`); a valid token without the scope is a 403. Tokens are
compared in constant time over SHA-256 digests, every configured secret each time (no early
exit), and never logged. The webhook endpoints have their own credentials (sources.yaml).
"""

from __future__ import annotations

from aiohttp import web

from incidentd.errors import InputError, Unauthorized
from incidentd.http import auth
from incidentd.http.deps import DEPS
from incidentd.rules.schema import ApiFile, Scope


class Forbidden(InputError):
    status = 403
    reason = "forbidden"


def _given(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _holder(api: ApiFile, token: str) -> tuple[str, tuple[Scope, ...]] | None:
    """The client whose token this is; every client's secrets are compared (no early exit)."""
    found: tuple[str, tuple[Scope, ...]] | None = None
    for client in api.tokens:
        if auth.matches(token, client.token) and found is None:
            found = (client.name, client.scopes)
    return found


def require(request: web.Request, scope: Scope) -> str | None:
    """The name of the token that allows `scope`, or None for an anonymous read; raises
    Unauthorized or Forbidden."""
    api = request.app[DEPS].rules.current.api
    token = _given(request)
    if token is None:
        if scope == "read" and api.anonymous_read:
            return None
        if not api.tokens:
            raise Unauthorized(f"{scope} access needs a bearer token, and api.yaml configures none")
        raise Unauthorized(f"{scope} access needs 'Authorization: Bearer <token>'")
    holder = _holder(api, token)
    if holder is None:
        raise Unauthorized("invalid token")
    name, scopes = holder
    if scope not in scopes:
        raise Forbidden(f"token {name!r} has no {scope} scope")
    return name
