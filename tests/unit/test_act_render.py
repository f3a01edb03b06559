"""Templates are sandboxed and strict; webhook signatures are HMAC-SHA256 over the timestamp
and the body."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from incidentd.act.render import check_template, render_json, render_text
from incidentd.act.targets.webhook import body_of, sign, verify
from incidentd.errors import PermanentError
from tests.fakes.incident import request

NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_json_filter_escapes_what_would_break_the_document() -> None:
    title = 'He said "stop" \\ then <left>\n'
    rendered = render_json('{"t": {{ title | json }}}', {"title": title})
    assert rendered == {"t": title}


def test_an_undefined_name_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(PermanentError, match="UndefinedError"):
        render_text("{{ incident.nope }}", {"incident": {}})


def test_the_sandbox_refuses_python_internals() -> None:
    with pytest.raises(PermanentError, match="SecurityError"):
        render_text("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_a_broken_template_is_caught_at_config_time() -> None:
    with pytest.raises(ValueError, match="not a valid Jinja2 template"):
        check_template("{% if %}")


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"id":"INC-1"}'
    expected = hmac.new(b"s3cret", b"1772359200." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", 1772359200, body) == f"v1={expected}"


def test_verify_accepts_a_fresh_signature_only() -> None:
    body = b"{}"
    stamp = int(NOW.timestamp())
    good = sign("s3cret", stamp, body)

    def check(secret: str, stamp: str, signature: str) -> bool:
        return verify(
            secret, timestamp=stamp, body=body, signature=signature, now=NOW, max_skew=300
        )

    old = stamp - 301
    assert check("s3cret", str(stamp), good)
    assert not check("other", str(stamp), good)
    assert not check("s3cret", str(old), sign("s3cret", old, body))
    assert not check("s3cret", "soon", good)


def test_the_default_webhook_body_is_the_whole_request() -> None:
    action = request()
    assert body_of(action, None).startswith(b'{"key":"INC-1042:declared:5:test","event":"declared"')
