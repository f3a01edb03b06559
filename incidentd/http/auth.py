"""Who may post to a source: bearer token, basic auth, token in the URL, Grafana's HMAC.

Every secret comparison is constant-time over SHA-256 digests (so neither content nor
length leaks through timing), and every configured secret is compared (no early exit).
Nothing here logs a credential or a header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime

from pydantic import SecretStr

from incidentd.errors import Unauthorized
from incidentd.rules.schema import Auth, BasicAuth, BearerAuth, HmacCheck, NoAuth, UrlTokenAuth


def matches(given: str, secrets: Iterable[SecretStr]) -> bool:
    """Whether `given` is one of `secrets`: SHA-256 digests compared in constant time, every
    secret each time (no early exit). Also what http/access.py checks API tokens with."""
    given_digest = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    found = False
    for secret in secrets:
        digest = hashlib.sha256(secret.get_secret_value().encode()).digest()
        found |= hmac.compare_digest(given_digest, digest)
    return found


def _bearer(auth: BearerAuth, headers: Mapping[str, str]) -> None:
    scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
    if not credentials:
        raise Unauthorized(f"missing 'Authorization: {auth.scheme} <token>' header")
    if scheme.lower() != auth.scheme.lower() or not matches(credentials.strip(), auth.token):
        raise Unauthorized("invalid credentials")


def _basic(auth: BasicAuth, headers: Mapping[str, str]) -> None:
    scheme, _, encoded = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthorized("missing basic auth credentials")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed basic auth credentials") from None
    username, _, password = decoded.partition(":")
    user_ok = matches(username, [SecretStr(auth.username)])
    if not (matches(password, auth.password) and user_ok):
        raise Unauthorized("invalid credentials")


def _url_token(auth: UrlTokenAuth, query: Mapping[str, str]) -> None:
    given = query.get(auth.param)
    if not given:
        raise Unauthorized(f"missing ?{auth.param}= in the URL")
    if not matches(given, auth.token):
        raise Unauthorized("invalid credentials")


def check(auth: Auth, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
    """Raise Unauthorized unless the request carries a valid credential for `auth`."""
    if isinstance(auth, NoAuth):
        return
    if isinstance(auth, BearerAuth):
        _bearer(auth, headers)
    elif isinstance(auth, BasicAuth):
        _basic(auth, headers)
    else:
        _url_token(auth, query)


def check_hmac(spec: HmacCheck, body: bytes, headers: Mapping[str, str], now: datetime) -> None:
    """Verify Grafana's hex HMAC-SHA256 of the body (or of `"<ts>:<body>"`, with a timestamp
    header, whose age must be within `max_skew` so that a captured request cannot be replayed).
    """
    names = spec.headers()
    signature = next((headers[n] for n in names if headers.get(n)), "").strip().lower()
    if not signature:
        raise Unauthorized(f"missing signature header {' or '.join(names)}")
    message = body
    if spec.timestamp_header is not None:
        stamp = headers.get(spec.timestamp_header, "").strip()
        if not stamp.isdigit():
            raise Unauthorized(f"missing or malformed {spec.timestamp_header} header")
        if abs(now.timestamp() - int(stamp)) > spec.max_skew.total_seconds():
            raise Unauthorized("signature timestamp is too old or in the future")
        message = stamp.encode() + b":" + body
    key = spec.secret.get_secret_value().encode()
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise Unauthorized("invalid signature")
