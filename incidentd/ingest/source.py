"""The contract of a source parser and the helpers every parser shares.

A parser turns one webhook body into a list of normalized `Alert`s, or raises `ParseError`
naming the JSON path and the reason. It never awaits, never reads the clock (the HTTP layer
stamps `received_at`), never logs the body, and never mutates its input.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Protocol, TypeVar

import msgspec
import pydantic_core
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, ValidationError

from incidentd.errors import NotJSON, WrongShape
from incidentd.model import Alert

M = TypeVar("M", bound=BaseModel)
S = TypeVar("S")


class ParseError(WrongShape):
    """The body is JSON but not the shape this source sends: 422 with `path` and `reason`."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.reason_text = reason


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """Per-source settings from the config directory that change how a body is read."""

    auto_resolve_after: timedelta | None = None
    """Time to live of alerts whose sender never resolves them (Splunk, Datadog No Data)."""
    sender: str | None = None
    """Names the sending system when the body's own identity is not stable (Alertmanager's
    `externalURL` defaults to the pod's host name); replaces it in fingerprints."""


@dataclass(frozen=True, slots=True)
class RawWebhook:
    """One received webhook: what the parser sees. Look headers up by lower-case names (the
    HTTP layer passes aiohttp's case-insensitive headers; tests pass lower-case dicts)."""

    source: str
    body: bytes
    headers: Mapping[str, str]
    received_at: datetime
    options: SourceOptions = SourceOptions()


class Source(Protocol):
    name: str
    default_auto_resolve_after: timedelta | None
    """Used when the config directory sets no `auto_resolve_after` for this source."""

    def parse(self, raw: RawWebhook) -> list[Alert]: ...

    def check(self, raw: RawWebhook) -> int:
        """Reject `raw` exactly as `parse` would (same errors) and return how many alerts
        `parse` makes of it, doing as little of the normalization as the source can: the
        request path checks, the queue's consumer parses. Contract (tests/property): when
        `check` returns n, `parse` returns n alerts and raises nothing."""
        ...


def _to_utc(value: datetime) -> datetime:
    # A valid offset can push year 1 or 9999 out of datetime's range once moved to UTC.
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is out of range once converted to UTC") from None


UtcTimestamp = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A wire timestamp: RFC 3339 with a zone (0-9 fractional digits), converted to UTC."""

Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""A Go int64 on the wire (Grafana's org, rule, dashboard and panel ids)."""


def _invalid_alert(exc: ValidationError) -> ParseError:
    """A value that passed the wire model but not the normalized `Alert` (a parser bug, or a
    vendor quirk not yet handled) is a 422 that says so, never a 500."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return ParseError("$", f"cannot normalize this alert ({where}: {first['msg']})")


def run_parser(source: Source, raw: RawWebhook) -> list[Alert]:
    """`source.parse(raw)`, where an invalid `Alert` is a 422. The queue's consumer and the CLI
    parse through here."""
    try:
        return source.parse(raw)
    except ValidationError as exc:
        raise _invalid_alert(exc) from None


def run_check(source: Source, raw: RawWebhook) -> int:
    """`source.check(raw)`, with the same guarantee: what the HTTP layer runs (a plain
    try, not a context manager: that cost a one-alert webhook 2% of its instructions)."""
    try:
        return source.check(raw)
    except ValidationError as exc:
        raise _invalid_alert(exc) from None


def json_path(loc: tuple[int | str, ...]) -> str:
    """`("alerts", 0, "labels")` -> `$.alerts[0].labels`."""
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def decode(model: type[M], body: bytes) -> M:
    """Parse and validate `body` as `model` in one pass; raise NotJSON or ParseError.

    Only the first problem is named (with a count of the others): the sender needs to know
    where to look, not a dump of every field.
    """
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        first = errors[0]
        if first["type"] == "json_invalid":
            raise NotJSON(f"body is not valid JSON: {first['msg']}") from None
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise ParseError(json_path(tuple(first["loc"])), reason + more) from None


def rfc3339_utc(text: str) -> datetime:
    """`text` as an aware UTC datetime: `UtcTimestamp` for wire models decoded with msgspec, and
    stricter (RFC 3339 only, where pydantic also reads "1700000000" or "2026-11-28T15:57Z"). An
    offset is required, digits past the microsecond are dropped (msgspec would round them), and
    a time out of range once in UTC is refused. Raises ValueError naming the problem."""
    # The shortest timestamp with 7 fractional digits has 28 characters.
    micros = _drop_past_microseconds(text) if len(text) > 27 else text
    try:
        value = msgspec.convert(micros, datetime)
    except msgspec.ValidationError:
        raise ValueError(f"Expected an RFC 3339 timestamp, got {_quoted(text)}") from None
    if value.tzinfo is None:
        raise ValueError(f"Expected a timestamp with a timezone offset, got {_quoted(text)}")
    if value.tzinfo is UTC:
        return value
    return _to_utc(value)


_DATETIMES = list[datetime]
_TZINFO = operator.attrgetter("tzinfo")


def rfc3339_utc_all(texts: list[str], path_of: Callable[[int], str]) -> list[datetime]:
    """`[rfc3339_utc(text) for text in texts]`, or ParseError at `path_of(index)` of the first bad
    one. One msgspec call for all of them when all are in UTC, as Alertmanager writes them."""
    micros = texts
    if max(map(len, texts), default=0) > 27:
        micros = [_drop_past_microseconds(text) if len(text) > 27 else text for text in texts]
    try:
        values = msgspec.convert(micros, _DATETIMES)
    except msgspec.ValidationError:
        values = []
    if set(map(_TZINFO, values)) == {UTC}:
        return values
    out = []  # other offsets, or a bad timestamp to name: one by one
    for index, text in enumerate(texts):
        try:
            out.append(rfc3339_utc(text))
        except ValueError as exc:
            raise ParseError(path_of(index), str(exc)) from None
    return out


def _drop_past_microseconds(text: str) -> str:
    end = len(text) - 1 if text[-1] in "Zz" else max(text.rfind("+"), text.rfind("-"))
    past = text[26:end]
    if text[19] == "." and past.isascii() and past.isdigit():
        return text[:26] + text[end:]
    return text


def _quoted(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:39] + "…")


_SHALLOW = 400
"""A body with fewer opening brackets than this nests less deeply than msgspec decodes from
any caller (its limit is what is left of the interpreter's stack, about 900 levels)."""


def _too_deep(body: bytes) -> bool:
    """Whether the body nests deeper than pydantic-core's JSON parser allows (about 200
    levels, whoever calls): the same answer in the request handler and in the consumer, so
    that a body `check` accepted never fails `parse` for the depth of the caller's stack."""
    if body.count(b"[") + body.count(b"{") < _SHALLOW:
        return False
    try:
        pydantic_core.from_json(body)
    except ValueError as exc:
        return "recursion limit" in str(exc)
    return False


def decode_struct(decoder: msgspec.json.Decoder[S], body: bytes) -> S:
    """`decode` for wire models that are msgspec Structs: NotJSON, or ParseError naming the
    first problem in the body's order (msgspec stops there, so the others are not counted)."""
    if _too_deep(body):
        raise NotJSON("body is not valid JSON: arrays or objects nested too deeply")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _wrong_shape(str(exc), body) from None
    except msgspec.DecodeError as exc:
        reason = str(exc).removeprefix("JSON is malformed: ")
        raise NotJSON(f"body is not valid JSON: {reason}") from None
    except UnicodeDecodeError:
        raise NotJSON("body is not valid JSON: a string is not UTF-8") from None
    except RecursionError:  # msgspec's depth limit is what is left of the interpreter's stack
        raise NotJSON("body is not valid JSON: arrays or objects nested too deeply") from None


_MISSING = re.compile(r"Object missing required field `(.+)`")
_FOUND = re.compile(r", got `(\w+)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_JSON_TYPES = {
    type(None): "null",
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    list: "array",
    dict: "object",
}


def _wrong_shape(error: str, body: bytes) -> ParseError:
    # "Expected `str`, got `int` - at `$.alerts[0].labels[...]`": a path never holds text of
    # the body (object keys are shown as `[...]`), so the last " - at `" starts it.
    reason, at, where = error.rpartition(" - at `")
    if not at:
        reason, where = error, "$`"
    path = where.removesuffix("`")
    if missing := _MISSING.fullmatch(reason):
        path += f".{missing[1]}"
    elif path.endswith("[...]"):
        path = _with_key(path.removesuffix("[...]"), reason, body)
    return ParseError(path, reason)


def _with_key(path: str, reason: str, body: bytes) -> str:
    """The path to the bad value in the JSON object at `path`: msgspec stops at the first one,
    the first value of the type it says it found. `path` itself when that cannot be told."""
    found = _FOUND.search(reason)
    try:
        node = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return path
    for step in _STEP.finditer(path, 1):
        key, index = step.groups()
        if isinstance(node, dict) and key is not None and key in node:
            node = node[key]
        elif isinstance(node, list) and index is not None and int(index) < len(node):
            node = node[int(index)]
        else:
            return path
    if found is None or not isinstance(node, dict):
        return path
    # An integer past 64 bits is a float to msgspec's typed decoding, an int to the untyped one.
    kinds = {"int", "float"} if found[1] == "float" else {found[1]}
    key = next((k for k, v in node.items() if _JSON_TYPES.get(type(v)) in kinds), None)
    return path if key is None else f"{path}.{key}"
