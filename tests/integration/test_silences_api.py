"""The HTTP contract of /api/v1/silences, over real HTTP against the real app.

The config directory holds the example silences.yaml (a weekly window in Europe/Paris and a
one-off migration); the clock is a ManualClock, so `active` is checked at known instants.
Most tests use the memory store; one runs the same flow on a real Redis, one on a Redis that
cannot be reached.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentd.clock import ManualClock
from incidentd.correlate.silences import Silence, config_id
from incidentd.errors import NotJSON, WrongShape
from incidentd.http import silences as api
from incidentd.http.app import make_app
from incidentd.http.deps import Deps
from incidentd.rules.loader import load
from incidentd.rules.reload import RulesHandle
from incidentd.store.base import SilenceStore
from incidentd.store.memory import MemoryQueue, MemorySilences
from incidentd.store.redis_silences import RedisSilences

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example" / "silences.yaml"
WEEKLY = config_id("weekly-orders-db-maintenance")
MIGRATION = config_id("orders-schema-migration-2026-04-14")
# Sunday 2026-03-01 01:30Z is 02:30 CET in Paris: inside the weekly 02:00-04:00 window.
WRITE_TOKEN = "silence-writer-token"  # noqa: S105 (a test token)
NOW = datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
URL = "/api/v1/silences"
JSON = {"Content-Type": "application/json"}

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]
Make = Callable[..., Awaitable[tuple[Client, ManualClock]]]


def new(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "matchers": ['service="checkout"', 'alertname=~"High.*"'],
        "ends": "2026-03-01T04:00:00Z",
        "comment": "Rolling out checkout 4.2",
        "created_by": "alice@example.com",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def make(aiohttp_client: ClientFactory, tmp_path: Path) -> Make:
    async def _make(
        *,
        store: SilenceStore | None = None,
        tokens: tuple[str, ...] | None = None,
        api_yaml: str | None = None,
    ) -> tuple[Client, ManualClock]:
        """`tokens`: write tokens in api.yaml, and a client that sends none; by default one
        token that the client sends with every request."""
        shutil.copy(EXAMPLE, tmp_path / "silences.yaml")
        chosen = (WRITE_TOKEN,) if tokens is None else tokens
        listed = "".join(
            f"  - {{name: t{i}, token: {t}, scopes: [read, write]}}\n" for i, t in enumerate(chosen)
        )
        default = f"tokens:\n{listed}" if chosen else "{}\n"
        (tmp_path / "api.yaml").write_text(api_yaml or default)
        clock = ManualClock(NOW)
        deps = Deps(
            rules=RulesHandle(load(tmp_path, env={})),
            queue=MemoryQueue(),
            clock=clock,
            silences=store or MemorySilences(),
        )
        client = await aiohttp_client(make_app(deps))
        if tokens is None:
            client.session.headers["Authorization"] = f"Bearer {WRITE_TOKEN}"
        return client, clock

    return _make


async def create(client: Client, body: dict[str, Any], **headers: str) -> str:
    response = await client.post(URL, json=body, headers=headers)
    assert response.status == 201, await response.text()
    created: str = (await response.json())["id"]
    return created


async def by_id(client: Client) -> dict[str, dict[str, Any]]:
    response = await client.get(URL)
    assert response.status == 200
    return {s["id"]: s for s in (await response.json())["silences"]}


async def test_created_silence_can_be_read_back(make: Make) -> None:
    client, _ = await make()
    response = await client.post(URL, json=new())
    assert response.status == 201
    silence_id = (await response.json())["id"]
    assert uuid.UUID(silence_id).version == 4
    assert response.headers["Location"] == f"{URL}/{silence_id}"
    got = await client.get(f"{URL}/{silence_id}")
    assert got.status == 200
    body = await got.json()
    assert body == {
        "id": silence_id,
        "origin": "api",
        "matchers": ['service="checkout"', 'alertname=~"High.*"'],
        "name": "",
        "comment": "Rolling out checkout 4.2",
        "created_by": "alice@example.com",
        "starts": "2026-03-01T01:30:00Z",  # defaults to now
        "ends": "2026-03-01T04:00:00Z",
        "every": None,
        "created_at": "2026-03-01T01:30:00Z",
        "active": True,
        "state": "active",
        "next_change": "2026-03-01T04:00:00+00:00",
    }


async def test_list_holds_config_and_api_silences_with_active_at_the_clock(make: Make) -> None:
    client, clock = await make()
    later = await create(client, new(starts="2026-03-01T03:00:00+01:00"))  # 02:00Z
    silences = await by_id(client)
    assert list(silences) == [WEEKLY, MIGRATION, later]
    assert silences[WEEKLY]["origin"] == "config"
    assert silences[WEEKLY]["every"]["timezone"] == "Europe/Paris"
    assert [silences[i]["active"] for i in (WEEKLY, MIGRATION, later)] == [True, False, False]
    assert [silences[i]["state"] for i in (WEEKLY, MIGRATION, later)] == [
        "active",
        "pending",
        "pending",
    ]
    assert silences[WEEKLY]["next_change"] == "2026-03-01T03:00:00+00:00"  # 04:00 CET
    assert silences[later]["starts"] == "2026-03-01T02:00:00Z"
    clock.set(datetime(2026, 3, 1, 2, 30, tzinfo=UTC))
    silences = await by_id(client)
    assert [silences[i]["active"] for i in (WEEKLY, MIGRATION, later)] == [True, False, True]
    clock.set(datetime(2026, 3, 1, 5, 0, tzinfo=UTC))
    silences = await by_id(client)
    assert [silences[i]["state"] for i in (WEEKLY, MIGRATION, later)] == [
        "pending",
        "pending",
        "expired",
    ]


async def test_config_silence_can_be_read_by_id(make: Make) -> None:
    client, _ = await make()
    response = await client.get(f"{URL}/{MIGRATION}")
    assert response.status == 200
    body = await response.json()
    assert body["name"] == "orders-schema-migration-2026-04-14"
    assert body["starts"] == "2026-04-14T19:00:00Z"


async def test_recurring_silence_through_the_api(make: Make) -> None:
    client, _ = await make()
    every = {"days": ["sat", "sun"], "start": "22:00", "end": "06:00", "timezone": "Asia/Tokyo"}
    silence_id = await create(client, new(ends=None, every=every))
    body = await (await client.get(f"{URL}/{silence_id}")).json()
    assert body["every"] == every
    assert body["ends"] is None
    # Sunday 10:30 in Tokyo: outside; the window opens Sunday 22:00 JST = 13:00Z.
    assert (body["active"], body["next_change"]) == (False, "2026-03-01T13:00:00+00:00")


async def test_delete_expires_the_silence_and_keeps_it(make: Make) -> None:
    client, clock = await make()
    silence_id = await create(client, new())
    clock.advance(600)
    response = await client.delete(f"{URL}/{silence_id}")
    assert response.status == 200
    body = await response.json()
    assert (body["ends"], body["active"], body["state"]) == (
        "2026-03-01T01:40:00Z",
        False,
        "expired",
    )
    assert (await by_id(client))[silence_id]["ends"] == "2026-03-01T01:40:00Z"
    clock.advance(600)
    again = await client.delete(f"{URL}/{silence_id}")
    assert again.status == 200
    assert (await again.json())["ends"] == "2026-03-01T01:40:00Z"


async def test_delete_of_a_config_silence_is_409_and_unknown_is_404(make: Make) -> None:
    client, _ = await make()
    response = await client.delete(f"{URL}/{WEEKLY}")
    assert response.status == 409
    assert "silences.yaml" in (await response.json())["message"]
    assert (await by_id(client))[WEEKLY]["active"] is True
    for method in (client.get, client.delete):
        missing = await method(f"{URL}/{uuid.uuid4()}")
        assert missing.status == 404
        assert (await missing.json())["reason"] == "not_found"


async def test_expired_silences_are_purged_after_the_retention(make: Make) -> None:
    client, clock = await make()
    old = await create(client, new())
    assert (await client.delete(f"{URL}/{old}")).status == 200
    clock.advance(api.RETENTION.total_seconds() - 1)
    kept = await create(client, new(ends=None, every={"start": "01:00", "end": "02:00"}))
    assert old in await by_id(client)
    clock.advance(2)
    await create(client, new(ends=None, every={"start": "01:00", "end": "02:00"}))
    silences = await by_id(client)
    assert old not in silences
    assert kept in silences


async def test_too_many_silences_is_409_and_stores_nothing(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "MAX_SILENCES", 2)
    client, _ = await make()
    await create(client, new())
    await create(client, new())
    response = await client.post(URL, json=new())
    assert response.status == 409
    assert len(await by_id(client)) == 4  # two from silences.yaml, two from the API


def at(hour: int) -> str:
    return f"2026-03-01T{hour:02d}:00:00Z"


def daily(**overrides: Any) -> dict[str, Any]:
    return {"start": "01:00", "end": "02:00", **overrides}


BAD_BODIES: list[tuple[str, dict[str, Any] | list[Any], str]] = [
    ("not an object", [], "$"),
    ("no matchers", new(matchers=None), "$.matchers"),
    ("empty matchers", new(matchers=[]), "$.matchers"),
    ("too many matchers", new(matchers=[f'l{i}="v"' for i in range(51)]), "$.matchers"),
    ("bad matcher syntax", new(matchers=['service="db']), "$.matchers[0]"),
    ("bad regex", new(matchers=['service="db"', 'instance=~"db-("']), "$.matchers[1]"),
    ("matcher not a string", new(matchers=[42]), "$.matchers[0]"),
    ("matches everything", new(matchers=['team!="db"', 'env=~".*"']), "$.matchers"),
    ("ends in the past", new(ends="2026-03-01T01:29:59Z"), "$.ends"),
    ("ends before starts", new(starts=at(3), ends=at(2)), "$.ends"),
    ("ends equal to starts", new(starts=at(3), ends=at(3)), "$.ends"),
    ("no ends and no every", new(ends=None), "$.ends"),
    ("ends without a zone", new(ends="2026-03-01T04:00:00"), "$.ends"),
    ("ends not a time", new(ends="tomorrow"), "$.ends"),
    ("unknown key", new(endsAt=at(4)), "$.endsAt"),
    ("no created_by", new(created_by=None), "$.created_by"),
    ("empty comment", new(comment=""), "$.comment"),
    ("comment too long", new(comment="x" * 2001), "$.comment"),
    ("bad time zone", new(every=daily(timezone="Mars/Olympus")), "$.every.timezone"),
    ("bad clock time", new(every=daily(start="25:00")), "$.every.start"),
    ("clock time as a number", new(every=daily(start=120)), "$.every.start"),
    ("bad weekday", new(every=daily(days=["sunday"])), "$.every.days[0]"),
    ("no weekday", new(ends=None, every=daily(days=[])), "$.every.days"),
    ("unknown key in every", new(every=daily(tz="UTC")), "$.every.tz"),
]


@pytest.mark.parametrize(("case", "body", "path"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_silence_is_422_with_the_json_path_and_stores_nothing(
    make: Make, case: str, body: dict[str, Any] | list[Any], path: str
) -> None:
    client, _ = await make()
    response = await client.post(URL, json=body)
    assert response.status == 422, case
    answer = await response.json()
    assert answer["reason"] == "wrong_shape"
    assert answer["path"] == path
    assert answer["message"].startswith(path)
    assert "Value error" not in answer["message"]
    assert "more problems" not in answer["message"]  # each case has exactly one
    assert len(await by_id(client)) == 2  # only the two of silences.yaml


async def test_not_json_is_400(make: Make) -> None:
    client, _ = await make()
    for raw in (b"{", b"", b"\xff\xfe", b'{"matchers": []} trailing'):
        response = await client.post(URL, data=raw, headers=JSON)
        assert response.status == 400, raw
        assert (await response.json())["reason"] == "not_json"


async def test_body_over_64_kib_is_413_with_or_without_content_length(make: Make) -> None:
    client, _ = await make()
    big = new(comment="x" * (64 * 1024))
    assert (await client.post(URL, json=big)).status == 413

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(70):
            yield b" " * 1024

    assert (await client.post(URL, data=chunks(), headers=JSON)).status == 413
    assert len(await by_id(client)) == 2


async def test_wrong_content_type_is_415(make: Make) -> None:
    client, _ = await make()
    response = await client.post(
        URL, data=b"{}", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status == 415


async def test_wrong_method_is_a_json_405(make: Make) -> None:
    client, _ = await make()
    response = await client.put(f"{URL}/{WEEKLY}", json=new())
    assert response.status == 405
    assert (await response.json())["reason"] == "method_not_allowed"


async def test_writes_need_a_token_when_tokens_are_set_and_reads_do_not(make: Make) -> None:
    client, _ = await make(tokens=("old-token", "new-token"))
    missing = await client.post(URL, json=new())
    assert missing.status == 401
    assert "WWW-Authenticate" in missing.headers
    wrong = await client.post(URL, json=new(), headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    basic = await client.post(URL, json=new(), headers={"Authorization": "Basic b2xkLXRva2Vu"})
    assert basic.status == 401
    assert len(await by_id(client)) == 2  # reads are open; nothing was written
    silence_id = await create(client, new(), Authorization="Bearer new-token")
    assert (await client.get(f"{URL}/{silence_id}")).status == 200
    assert (await client.delete(f"{URL}/{silence_id}")).status == 401
    assert (await by_id(client))[silence_id]["active"] is True
    expired = await client.delete(
        f"{URL}/{silence_id}", headers={"Authorization": "Bearer old-token"}
    )
    assert expired.status == 200


async def test_without_tokens_there_are_no_writes_and_reads_stay_open(make: Make) -> None:
    client, _ = await make(tokens=())
    refused = await client.post(URL, json=new(), headers={"Authorization": "Bearer x"})
    assert refused.status == 401
    missing = await client.post(URL, json=new())
    assert missing.status == 401
    assert "api.yaml configures none" in (await missing.json())["message"]
    assert (await client.get(URL)).status == 200


async def test_scopes_and_anonymous_reads(make: Make) -> None:
    api = (
        "anonymous_read: false\n"
        "tokens:\n"
        "  - {name: dashboard, token: r-token, scopes: [read]}\n"
        "  - {name: oncall, token: [w-new, w-old], scopes: [read, write]}\n"
    )
    client, _ = await make(tokens=(), api_yaml=api)
    assert (await client.get(URL)).status == 401
    read = {"Authorization": "Bearer r-token"}
    assert (await client.get(URL, headers=read)).status == 200
    forbidden = await client.post(URL, json=new(), headers=read)
    assert forbidden.status == 403
    assert (await forbidden.json())["reason"] == "forbidden"
    for token in ("w-new", "w-old"):
        created = await client.post(URL, json=new(), headers={"Authorization": f"Bearer {token}"})
        assert created.status == 201


async def test_unreachable_store_is_503_with_retry_after(make: Make) -> None:
    store = RedisSilences.from_url("redis://127.0.0.1:1/0", prefix="nobody", timeout=0.3)
    client, _ = await make(store=store)
    try:
        for response in (await client.get(URL), await client.post(URL, json=new())):
            assert response.status == 503
            assert int(response.headers["Retry-After"]) >= 1
            assert (await response.json())["status"] == "unavailable"
        # The silences of silences.yaml do not need the store.
        assert (await client.get(f"{URL}/{WEEKLY}")).status == 200
    finally:
        await store.close()


@pytest.mark.redis
async def test_the_api_on_a_real_redis(make: Make, redis_url: str, redis_prefix: str) -> None:
    store = RedisSilences.from_url(redis_url, prefix=redis_prefix)
    client, clock = await make(store=store)
    try:
        silence_id = await create(client, new())
        assert (await by_id(client))[silence_id]["active"] is True
        clock.advance(60)
        assert (await client.delete(f"{URL}/{silence_id}")).status == 200
        other = RedisSilences.from_url(redis_url, prefix=redis_prefix)  # another replica
        try:
            [stored] = await other.list()
            assert stored.id == silence_id
            assert stored.ends == NOW + timedelta(seconds=60)
        finally:
            await other.close()
    finally:
        await store.close()


# --- hostile bodies: only a 400 or a 422, never another exception ----------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2026-03-01T04:00:00Z",
            "00:00",
            "24:00",
            'a=~"(a+)+"',
            'service="db"',
            "Europe/Paris",
            "sun",
        ]
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
# Hypothesis takes naive bounds and attaches the drawn zone itself.
FIRST, LAST = datetime(1, 1, 2), datetime(9999, 12, 30)  # noqa: DTZ001
instants = st.datetimes(FIRST, LAST, timezones=st.timezones()).map(datetime.isoformat)
clock_times = st.builds("{:02d}:{:02d}".format, st.integers(0, 23), st.integers(0, 59))
weekdays = st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]))
zones = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Pacific/Apia", "Asia/Tokyo"])
windows = st.fixed_dictionaries(
    {"start": clock_times, "end": clock_times},
    optional={"days": weekdays, "timezone": zones},
)
matcher_lists = st.lists(
    st.sampled_from(['service="db"', 'team!="x"', 'a=~"b|c"', 'x!~"y+"', 'n=""']), max_size=3
)
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "matchers": matcher_lists,
    "starts": instants,
    "ends": instants,
    "every": windows,
    "comment": st.text(max_size=40),
    "created_by": st.text(max_size=10),
    "name": st.text(max_size=10),
    "other": json_values,
}


@st.composite
def near_valid_bodies(draw: st.DrawFn) -> bytes:
    """A valid body with one to three fields replaced by plausible values or by any JSON."""
    body: dict[str, Any] = new(every=daily())
    for name in draw(
        st.lists(st.sampled_from(list(PLAUSIBLE)), min_size=1, max_size=3, unique=True)
    ):
        body[name] = draw(PLAUSIBLE[name] | json_values if draw(st.booleans()) else PLAUSIBLE[name])
    return json.dumps(body).encode()


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        near_valid_bodies(), st.binary(max_size=200), json_values.map(json.dumps).map(str.encode)
    )
)
def test_hostile_bodies_are_rejected_with_a_4xx_or_accepted_whole(raw: bytes) -> None:
    try:
        body = api._decode(raw)
        starts, ends = api._schedule(body, NOW)
    except (NotJSON, WrongShape):  # 400 and 422, answered by the middleware
        return
    silence = Silence(
        id="h", origin="api", matchers=body.matchers, starts=starts, ends=ends, every=body.every
    )
    assert api.render(silence, NOW)["id"] == "h"
