"""Open-loop, rate-limited HTTP/1.1 POST load generator: latency at a fixed request rate.

    .venv/bin/python bench/ingest_paced.py URL BODY.json [BODY.json ...] --rate 2000 --duration 10

wrk keeps a fixed number of requests in flight (a closed loop): when the server stalls, wrk
stops sending, and the wait never shows in its latencies (coordinated omission). wrk2 fixes
that, but Debian has no wrk2 (nor oha or vegeta; its `hey` throttles each worker closed-loop,
with the same omission). So this small generator does what wrk2 does: request k is due at
start + k / rate whatever the server does; it goes out at once on an idle keep-alive
connection, or waits in a backlog until one is free; its latency runs from when it was DUE to
when its answer is complete, so time spent queued behind a slow server counts.

Raw asyncio protocols, not aiohttp's client: the request bytes are built once and a response
is read by its Content-Length. It still costs about 130-170 us of CPU per request on the
benchmark machine (0.25 cores at incidentd's 1,600 requests/s): enough for incidentd's
rates, not to pace the bare aiohttp app at 80% of its rate. `send_lag` says how late the
generator took up each request compared with when it was due (before any wait for a free
connection, which is the server's doing): when its p99 is more than a few milliseconds, the
generator itself was short of CPU. `cpu_share` is the generator's own
CPU time over the run's wall time; `backlog_max` the most requests that waited for a free
connection at once.

The last line of output is `PACED_JSON {...}`; latencies in milliseconds. Requests due during
`--warmup` are sent but not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from collections import Counter, deque
from pathlib import Path
from time import perf_counter, process_time
from typing import cast
from urllib.parse import urlsplit

DRAIN_SECONDS = 10.0
"""How long answers still due are awaited after the last request was sent."""


def build_request(host: str, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _body_length(head: bytes, rest: bytearray, start: int) -> int | None:
    """Bytes after the header block that belong to this response; None until all arrived."""
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.find(b"\r\n", at + 2)
        return int(lower[at + 17 : end if end >= 0 else None])
    if b"\r\ntransfer-encoding: chunked" in lower:
        stop = rest.find(b"0\r\n\r\n", start)
        return None if stop < 0 else stop + 5 - start
    return 0


class Client(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.due = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def send(self, request: bytes, due: float) -> None:
        if self.transport is None:
            raise RuntimeError("send() before the connection was made")
        self.due = due
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end])
            length = _body_length(head, self.buffer, end + 4)
            if length is None or len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            self.gen.answered(self, int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.lost(self)


class Generator:
    def __init__(self, requests: list[bytes], *, rate: float, warmup: float, duration: float):
        self.requests = requests
        self.rate = rate
        self.warmup = warmup
        self.duration = duration
        self.idle: list[Client] = []
        self.busy: set[Client] = set()
        self.backlog: deque[float] = deque()
        self.backlog_max = 0
        self.sent = 0
        self.due_counted = 0
        self.start = 0.0
        self.results: list[tuple[float, float, int]] = []  # (due, latency, status)
        self.lags: list[float] = []
        self.lost_in_flight = 0
        self.all_done = asyncio.Event()

    def dispatch(self, due: float) -> None:
        if due >= self.start + self.warmup:
            self.due_counted += 1
        self.lags.append(perf_counter() - due)
        if self.idle:
            self._send(self.idle.pop(), due)
        else:
            self.backlog.append(due)
            self.backlog_max = max(self.backlog_max, len(self.backlog))

    def _send(self, client: Client, due: float) -> None:
        self.busy.add(client)
        client.send(self.requests[self.sent % len(self.requests)], due)
        self.sent += 1

    def answered(self, client: Client, status: int) -> None:
        self.results.append((client.due, perf_counter() - client.due, status))
        self.busy.discard(client)
        if self.backlog:
            self._send(client, self.backlog.popleft())
        else:
            self.idle.append(client)
            if not self.busy:
                self.all_done.set()

    def lost(self, client: Client) -> None:
        if client in self.busy:
            self.busy.discard(client)
            self.lost_in_flight += 1
        if client in self.idle:
            self.idle.remove(client)
        if not self.busy and not self.idle:
            self.all_done.set()

    async def run(self) -> None:
        interval = 1.0 / self.rate
        self.start = perf_counter()
        end = self.start + self.warmup + self.duration
        k = 0
        while (due := self.start + k * interval) < end:
            now = perf_counter()
            while due <= now and due < end:
                self.dispatch(due)
                k += 1
                due = self.start + k * interval
            await asyncio.sleep(max(0.0, due - perf_counter()))
        self.all_done.clear()
        if self.busy or self.backlog:
            try:
                async with asyncio.timeout(DRAIN_SECONDS):
                    await self.all_done.wait()
            except TimeoutError:
                pass

    def summary(self) -> dict[str, object]:
        counted_from = self.start + self.warmup
        kept = [(lat, st) for due, lat, st in self.results if due >= counted_from]
        latencies = sorted(lat * 1000 for lat, _ in kept)
        statuses = Counter(st for _, st in kept)
        lags = sorted(lag * 1000 for lag in self.lags)
        return {
            "rate": self.rate,
            "duration_s": self.duration,
            "due": self.due_counted,
            "completed": len(kept),
            "achieved_rps": len(kept) / self.duration,
            "incomplete": self.due_counted - len(kept),
            "status": {str(k): v for k, v in sorted(statuses.items())},
            "lost_in_flight": self.lost_in_flight,
            "backlog_max": self.backlog_max,
            "latency_ms": _percentiles(latencies),
            "send_lag_ms": _percentiles(lags),
        }


def _percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank percentiles of sorted `values`."""
    if not values:
        return {}

    def rank(p: float) -> float:
        return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]

    return {
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "p999": rank(99.9),
        "max": values[-1],
    }


async def main(args: argparse.Namespace, bodies: list[bytes]) -> dict[str, object]:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    requests = [build_request(url.netloc, url.path, body) for body in bodies]
    gen = Generator(requests, rate=args.rate, warmup=args.warmup, duration=args.duration)
    loop = asyncio.get_running_loop()
    for _ in range(args.connections):
        _, client = await loop.create_connection(lambda: Client(gen), host, port)
        gen.idle.append(client)
    gc.disable()  # the generator's own pauses would count as server latency
    wall, cpu = perf_counter(), process_time()
    try:
        await gen.run()
        wall, cpu = perf_counter() - wall, process_time() - cpu
    finally:
        gc.enable()
        for client in [*gen.idle, *gen.busy]:
            if client.transport is not None:
                client.transport.close()
    return {**gen.summary(), "cpu_share": cpu / wall}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("bodies", nargs="+", type=Path)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds counted")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds sent, not counted")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    arguments = parser.parse_args()
    result = asyncio.run(main(arguments, [path.read_bytes() for path in arguments.bodies]))
    sys.stdout.write("PACED_JSON " + json.dumps(result) + "\n")
