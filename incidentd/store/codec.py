"""How the engine's state is written to the store and read back: compact JSON via orjson.

Round trips are exact (tests/unit/test_codec.py): datetimes as RFC 3339 with their UTC
offset, durations as seconds, enums by value.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Final

import orjson
import zstandard

from incidentd.correlate.dedup import AlertState
from incidentd.correlate.grouping import Group, GroupState, Member
from incidentd.declare import incident as inc
from incidentd.declare.declarer import DeclareState, apply_meta
from incidentd.declare.incident import Incident
from incidentd.declare.timeline import TimelineEntry, entry_from_dict, entry_to_dict
from incidentd.ingest.source import RawWebhook, SourceOptions
from incidentd.model import Severity, Status


def _default(value: object) -> object:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _req_dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def encode_alert(state: AlertState) -> bytes:
    return orjson.dumps(state, default=_default)


def decode_alert(data: bytes | str) -> AlertState:
    d: dict[str, Any] = orjson.loads(data)
    return AlertState(
        fingerprint=d["fingerprint"],
        source=d["source"],
        name=d["name"],
        title=d["title"],
        severity=Severity(d["severity"]),
        service=d["service"],
        labels=d["labels"],
        url=d["url"],
        status=Status(d["status"]),
        starts_at=_req_dt(d["starts_at"]),
        ends_at=_dt(d["ends_at"]),
        resolved_by=d["resolved_by"],
        first_seen=_req_dt(d["first_seen"]),
        last_seen=_req_dt(d["last_seen"]),
        count=d["count"],
        occurrences=d["occurrences"],
        ttl=None if d["ttl"] is None else timedelta(seconds=d["ttl"]),
        recent_events=tuple(d["recent_events"]),
        transitions=tuple(_req_dt(t) for t in d["transitions"]),
        group_id=d["group_id"],
        silenced_by=tuple(d["silenced_by"]),
    )


_GROUP_FIELDS = (
    "id",
    "rule",
    "key",
    "rules_version",
    "opened_at",
    "last_seen",
    "state",
    "resolved_at",
    "quiet_since",
    "firing",
    "driving",
    "services",
    "root_causes",
    "blast_radius",
    "capabilities",
    "unmapped",
    "size",
)


def encode_group(group: Group) -> bytes:
    """The group without its members (they are stored one by one)."""
    return orjson.dumps({f: getattr(group, f) for f in _GROUP_FIELDS}, default=_default)


def decode_group(data: bytes | str, members: dict[str, Member]) -> Group:
    d: dict[str, Any] = orjson.loads(data)
    return Group(
        id=d["id"],
        rule=d["rule"],
        key=d["key"],
        rules_version=d["rules_version"],
        opened_at=_req_dt(d["opened_at"]),
        last_seen=_req_dt(d["last_seen"]),
        state=GroupState(d["state"]),
        resolved_at=_dt(d["resolved_at"]),
        quiet_since=_dt(d["quiet_since"]),
        members=members,
        firing=d["firing"],
        driving=d["driving"],
        services=dict(d["services"]),
        root_causes=tuple(d["root_causes"]),
        blast_radius=tuple(d["blast_radius"]),
        capabilities=tuple(d["capabilities"]),
        unmapped=d["unmapped"],
        size=d.get("size", len(members)),
    )


def encode_member(member: Member) -> bytes:
    return orjson.dumps([member.status.value, member.service, member.silenced, member.flapping])


def decode_member(data: bytes | str) -> Member:
    status, service, silenced, flapping = orjson.loads(data)
    return Member(Status(status), service, silenced, flapping)


# -- queue entries ------------------------------------------------------------------------

_ENTRY_VERSION = 1
_ZSTD_ENTRY_VERSION = 2
"""Version 2: the body is a zstd frame. An older reader dead-letters it (unknown version)
rather than misreading it."""
_COMPRESS_FROM: Final = 4096
"""Bodies of at least this many bytes are queued zstd-compressed: an Alertmanager
notification of 100 alerts (52 kB) shrinks 10 to 25 times for ~30 us of CPU, and Redis, which
holds the backlog in memory, spent ~250 us of its own CPU per 52-kB entry (copies and fresh
pages). A one-alert body (1 kB) would gain little for its ~7 us."""
_ZSTD_LEVEL: Final = 1
_COMPRESSOR = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_content_size=True)
_DECOMPRESSOR = zstandard.ZstdDecompressor()
_MAX_BODY: Final = 1 << 30
"""What a compressed entry may expand to at most (the queue's writer bounds bodies far below)."""


def encode_webhook(raw: RawWebhook) -> bytes:
    """One queue entry: a one-line JSON header (source, received_at, the source options in
    force when it was accepted), a newline, then the body exactly as received, or its zstd
    frame (header version 2) when it is large. The body is never re-encoded as JSON (it
    can be megabytes); the header never holds a raw newline (JSON)."""
    header: dict[str, object] = {
        "v": _ENTRY_VERSION,
        "source": raw.source,
        "received_at": raw.received_at,
        "auto_resolve_after": raw.options.auto_resolve_after,
        "sender": raw.options.sender,
    }
    body = raw.body
    if len(body) >= _COMPRESS_FROM:
        header["v"] = _ZSTD_ENTRY_VERSION
        body = _COMPRESSOR.compress(body)
    return orjson.dumps(header, default=_default) + b"\n" + body


def decode_webhook(data: bytes) -> RawWebhook:
    """The webhook of one queue entry; ValueError when the entry is not one (poison)."""
    head, sep, body = data.partition(b"\n")
    if not sep:
        raise ValueError("queue entry has no header line")
    try:
        d = orjson.loads(head)
        if d["v"] not in (_ENTRY_VERSION, _ZSTD_ENTRY_VERSION):
            raise ValueError(f"queue entry version {d['v']!r} is not 1 or 2")
        if d["v"] == _ZSTD_ENTRY_VERSION:
            body = _DECOMPRESSOR.decompress(body, max_output_size=_MAX_BODY, allow_extra_data=False)
        ttl = d["auto_resolve_after"]
        return RawWebhook(
            source=str(d["source"]),
            body=body,
            headers={},
            received_at=datetime.fromisoformat(d["received_at"]),
            options=SourceOptions(
                auto_resolve_after=None if ttl is None else timedelta(seconds=ttl),
                sender=d["sender"],
            ),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"queue entry header is malformed: {exc!r}") from None
    except zstandard.ZstdError as exc:
        raise ValueError(f"queue entry body is not a zstd frame: {exc}") from None


# -- incidents ----------------------------------------------------------------------------


def encode_incident(incident: Incident) -> bytes:
    return orjson.dumps(inc.to_dict(incident))


def decode_incident(data: bytes | str) -> Incident:
    return inc.from_dict(orjson.loads(data))


def encode_entry(entry: TimelineEntry) -> bytes:
    return orjson.dumps(entry_to_dict(entry))


def decode_entry(data: bytes | str) -> TimelineEntry:
    return entry_from_dict(orjson.loads(data))


def encode_declare_meta(meta: dict[str, Any]) -> bytes:
    return orjson.dumps(meta)


def declare_state(incidents: Iterable[Incident], meta: bytes | str | None) -> DeclareState:
    """What a new leader starts from: the incidents the engine keeps, and its bookkeeping."""
    state = DeclareState(incidents={i.id: i for i in incidents})
    if meta is not None:
        apply_meta(state, orjson.loads(meta))
    return state
