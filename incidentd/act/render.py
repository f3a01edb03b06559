"""Jinja2 templates written by SREs (webhook bodies, templated bridge URLs), rendered safely.

The environment is sandboxed (no attribute access to Python internals, no unsafe calls),
undefined names are errors rather than empty strings (a typo must not send a half-empty
page), and nothing is autoescaped for HTML: outputs are JSON or URLs. Templates get plain
JSON-native values only. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from jinja2 import BaseLoader, StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from incidentd.errors import PermanentError


def _tojson(value: Any) -> str:
    """JSON text of a value, safe to place anywhere a JSON value goes (unlike Jinja's own
    `tojson`, which escapes for HTML). An undefined name is an error here too."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return orjson.dumps(value).decode()


def environment(
    *, loader: BaseLoader | None = None, trim: bool = False
) -> ImmutableSandboxedEnvironment:
    """The sandboxed, strict environment. `loader` lets templates include shipped ones;
    `trim` drops the newline after a block tag and the indentation before it (for text
    templates laid out over lines; JSON bodies do not care)."""
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        loader=loader,
        trim_blocks=trim,
        lstrip_blocks=trim,
    )
    env.filters["json"] = _tojson
    return env


_ENV = environment()


def check_template(source: str) -> None:
    """Raise ValueError when `source` is not a valid template (config validation)."""
    try:
        _ENV.parse(source)
    except TemplateError as exc:
        raise ValueError(f"not a valid Jinja2 template: {exc}") from None


def render_text(source: str, context: Mapping[str, Any]) -> str:
    """Render `source`; PermanentError when it cannot render (the same template and incident
    would fail again)."""
    try:
        return _ENV.from_string(source).render(context)
    except (TemplateError, TypeError, ValueError) as exc:
        raise PermanentError(f"template: {type(exc).__name__}: {exc}") from exc


def render_json(source: str, context: Mapping[str, Any]) -> Any:
    """Render `source` and parse the result as JSON; PermanentError when it is not JSON."""
    text = render_text(source, context)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise PermanentError(f"template rendered invalid JSON: {exc}") from exc
