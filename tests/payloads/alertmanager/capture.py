"""Reproduce the captured Alertmanager webhook bodies in this folder from the real Alertmanager.

    .venv/bin/python tests/payloads/alertmanager/capture.py [--out DIR] [--binary PATH]
        [--external-url URL]

Starts `prometheus-alertmanager` (0.25 here) with a temporary config and storage, no clustering,
`group_wait: 0s`, a 2 s `group_interval`, and webhook receivers that point at a small aiohttp
server on 127.0.0.1 which keeps every request it gets. Alerts go in through
`POST /api/v2/alerts` (firing, then resolved with an `endsAt` in the past) and each case saves
the notification it waited for, byte for byte, as `<case>.json`, and the request headers
(lower-case names) as `<case>.headers.json`.

Timestamps come from the clock, so a new capture changes every `startsAt`/`endsAt`: regenerate
the `<case>.expected.json` files afterwards (`python -m tests.unit.test_payloads alertmanager
CASE`) and read each diff. The `edited_*` cases are hand-made from these captures; this script
does not touch them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from aiohttp import ClientSession, web

HERE = Path(__file__).resolve().parent
EXTERNAL_URL = "http://alertmanager.example:9093"
TOKEN = "capture-token"  # noqa: S105 - a dummy credential, to show the Authorization header
WAIT = 20.0

Json = dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Json:
        return json.loads(self.body)  # type: ignore[no-any-return]


class Hook:
    """The webhook receiver: answers 200 and keeps every request in arrival order."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.changed = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        async with self.changed:
            self.deliveries.append(Delivery(request.match_info["name"], headers, body))
            self.changed.notify_all()
        return web.Response(text="ok")

    async def wait(self, path: str, since: int, match: Callable[[Json], bool]) -> Delivery:
        """The first delivery to `path` after index `since` whose body satisfies `match`."""

        def found() -> Delivery | None:
            for d in self.deliveries[since:]:
                if d.path == path and match(d.json()):
                    return d
            return None

        async with asyncio.timeout(WAIT), self.changed:
            await self.changed.wait_for(lambda: found() is not None)
        hit = found()
        assert hit is not None
        return hit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _receiver(hook: str, name: str, path: str, **extra: Any) -> Json:
    conf = {"url": f"{hook}/hook/{path}", "send_resolved": True, **extra}
    return {"name": name, "webhook_configs": [conf]}


def _config(hook: str) -> Json:
    return {
        "route": {
            "receiver": "incidentd",
            "group_by": ["alertname"],
            "group_wait": "0s",
            "group_interval": "2s",
            "repeat_interval": "1h",
            "routes": [
                {
                    "matchers": ['team="db"'],
                    "receiver": "db.pager (prod)",
                    "group_by": ["alertname", "cluster"],
                },
                {
                    "matchers": ['team="web"'],
                    "receiver": "web-oncall",
                    "group_by": ["alertname", "cluster", "namespace"],
                    "routes": [{"matchers": ['severity="critical"']}],
                },
                {"matchers": ['alertname="TargetDown"'], "receiver": "capped"},
            ],
        },
        "receivers": [
            _receiver(
                hook,
                "incidentd",
                "incidentd",
                http_config={"authorization": {"credentials": TOKEN}},
            ),
            _receiver(hook, "db.pager (prod)", "db"),
            _receiver(hook, "web-oncall", "web"),
            _receiver(hook, "capped", "capped", max_alerts=2),
        ],
    }


def ts(moment: datetime, digits: int) -> str:
    """RFC 3339 in UTC with exactly `digits` fractional digits (0, 3, 6 or 9)."""
    base = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if digits == 0:
        return base + "Z"
    frac = f"{moment.microsecond:06d}000"[:digits]
    if digits == 9:
        frac = frac[:6] + "417"  # Python has microseconds; Alertmanager keeps nanoseconds
    return f"{base}.{frac}Z"


def _statuses(body: Json) -> list[str]:
    return [a["status"] for a in body["alerts"]]


class Capture:
    def __init__(self, hook: Hook, http: ClientSession, am: str, out: Path) -> None:
        self.hook, self.http, self.am, self.out = hook, http, am, out
        self.now = datetime.now(UTC)

    async def post(self, alerts: list[Json]) -> int:
        since = len(self.hook.deliveries)
        async with self.http.post(f"{self.am}/api/v2/alerts", json=alerts) as resp:
            if resp.status != 200:
                raise RuntimeError(f"POST /api/v2/alerts: {resp.status} {await resp.text()}")
        return since

    async def case(
        self, name: str, alerts: list[Json], path: str, match: Callable[[Json], bool]
    ) -> None:
        since = await self.post(alerts)
        got = await self.hook.wait(path, since, match)
        (self.out / f"{name}.json").write_bytes(got.body)
        headers = json.dumps(got.headers, indent=2, sort_keys=True) + "\n"
        (self.out / f"{name}.headers.json").write_text(headers)
        skipped = [d for d in self.hook.deliveries[since:] if d is not got and d.path == path]
        print(f"{name}: {len(got.body)} bytes, {len(skipped)} other deliveries first")  # noqa: T201

    async def single(self) -> None:
        cpu = {
            "labels": {
                "alertname": "HighCPU",
                "instance": "web-01:9100",
                "job": "node",
                "service": "checkout",
                "severity": "critical",
            },
            "annotations": {
                "summary": "CPU above 90% on web-01:9100",
                "description": "CPU has been above 90% for 10 minutes.\nRunbook: see wiki.",
            },
            "startsAt": ts(self.now - timedelta(minutes=10), 3),
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=cpu+%3E+0.9&g0.tab=1",
        }
        await self.case("single_firing", [cpu], "incidentd", lambda b: b["status"] == "firing")
        done = {**cpu, "endsAt": ts(self.now - timedelta(seconds=1), 6)}
        await self.case("single_resolved", [done], "incidentd", lambda b: b["status"] == "resolved")

    async def group(self) -> None:
        def disk(host: str, **times: str) -> Json:
            labels = {
                "alertname": "DiskFull",
                "instance": host,
                "job": "node",
                "severity": "warning",
            }
            notes = {"summary": f"Disk /var almost full on {host}"}
            return {"labels": labels, "annotations": notes, **times}

        a = disk("host-a", startsAt=ts(self.now - timedelta(minutes=5), 0))
        b = disk("host-b", startsAt=ts(self.now - timedelta(minutes=4), 6))
        c = disk("host-c")  # no startsAt: Alertmanager stamps its own clock (nanoseconds)
        await self.case(
            "group_firing",
            [a, b, c],
            "incidentd",
            lambda body: (
                body["groupKey"].endswith('{alertname="DiskFull"}')
                and _statuses(body) == ["firing"] * 3
            ),
        )
        gone = ts(datetime.now(UTC) - timedelta(seconds=1), 9)
        await self.case(
            "group_mixed_firing_resolved",
            [{**a, "endsAt": gone}],
            "incidentd",
            lambda body: "resolved" in _statuses(body) and body["status"] == "firing",
        )
        gone = ts(datetime.now(UTC) - timedelta(seconds=1), 3)
        await self.case(
            "group_all_resolved",
            [{**b, "endsAt": gone}, {**c, "endsAt": gone}],  # c: Alertmanager keeps its start
            "incidentd",
            lambda body: body["status"] == "resolved" and "DiskFull" in body["groupKey"],
        )

    async def escaping(self) -> None:
        alert = {
            "labels": {
                "alertname": "PaymentErrors",
                "severity": "error",
                "app": "paiement-€",
                "region": "zürich",
                "route": "/api/cart?id=1&x=<2>",
            },
            "annotations": {
                "summary": "Taux d'erreur > 5 % sur <checkout> & “panier” 日本語 🚨",
                "description": 'Quotes "here", a backslash \\ and a tab\there.',
            },
            "startsAt": ts(self.now - timedelta(minutes=2), 6),
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=a%3Eb&x=<y>",
        }
        await self.case("escaped_unicode_and_html", [alert], "incidentd", lambda b: True)

    async def routes(self) -> None:
        lag = {
            "labels": {
                "alertname": "ReplicationLag",
                "cluster": "eu-1",
                "instance": "db-2:9187",
                "job": "postgres",
                "priority": "P2",
                "team": "db",
            },
            "annotations": {"description": "Replica db-2 is 45 s behind.\nCheck the primary."},
            "startsAt": ts(self.now - timedelta(minutes=3), 3),
        }
        await self.case("receiver_regex_metachars", [lag], "db", lambda b: True)
        web_alert = {
            "labels": {
                "alertname": "HTTPErrors5xx",
                "app_kubernetes_io_name": "storefront",
                "cluster": "us-2",
                "namespace": "shop",
                "severity": "critical",
                "team": "web",
            },
            "annotations": {"title": "5xx ratio above 2% on storefront"},
            "startsAt": ts(self.now - timedelta(minutes=1), 9),
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=x",
        }
        await self.case("subroute_group_by", [web_alert], "web", lambda b: True)

    async def truncated(self) -> None:
        start = ts(self.now - timedelta(minutes=1), 0)
        down = [
            {"labels": {"alertname": "TargetDown", "job": "api", "instance": f"api-{i}:8080"}}
            | {"startsAt": start}
            for i in range(1, 6)
        ]
        await self.case(
            "truncated_firing",
            down,
            "capped",
            lambda b: len(b["alerts"]) + b["truncatedAlerts"] == 5,
        )
        gone = ts(datetime.now(UTC) - timedelta(seconds=1), 0)
        await self.case(
            "truncated_all_resolved",
            [{**d, "endsAt": gone} for d in down],
            "capped",
            lambda b: b["status"] == "resolved",
        )


async def _start_alertmanager(
    binary: str, work: Path, hook: str, external_url: str
) -> tuple[Any, str]:
    (work / "am.yml").write_text(yaml.safe_dump(_config(hook), allow_unicode=True))
    port = _free_port()
    log = (work / "am.log").open("wb")
    flags = [
        f"--config.file={work / 'am.yml'}",
        f"--storage.path={work / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    if external_url:  # without it Alertmanager makes one up from the host name and port
        flags.append(f"--web.external-url={external_url}")
    proc = await asyncio.create_subprocess_exec(binary, *flags, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    async with ClientSession() as http:
        for _ in range(100):
            with contextlib.suppress(OSError):
                async with http.get(f"{base}/-/ready") as resp:
                    if resp.status == 200:
                        return proc, base
            await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"alertmanager did not start: {(work / 'am.log').read_text()}")


async def main(out: Path, binary: str, external_url: str) -> None:
    hook = Hook()
    app = web.Application()
    app.router.add_post("/hook/{name}", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    with tempfile.TemporaryDirectory() as tmp:
        proc, am = await _start_alertmanager(binary, Path(tmp), hook_url, external_url)
        try:
            async with ClientSession() as http:
                cap = Capture(hook, http, am, out)
                for step in (cap.single, cap.group, cap.escaping, cap.routes, cap.truncated):
                    await step()
        finally:
            proc.terminate()
            await proc.wait()
            await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--binary", default="/usr/bin/prometheus-alertmanager")
    parser.add_argument("--external-url", default=EXTERNAL_URL, help='"" to let Alertmanager pick')
    args = parser.parse_args()
    asyncio.run(main(args.out, args.binary, args.external_url))
    sys.exit(0)
