"""Where the machine's CPU went during one benchmark run, in cores (CPU seconds per second).

The machine is small (2 cores) and shared: other work running at the same time shows up as
`other` (CPU time of all processes on the machine minus the server under load, Redis and the
load generator), so that a disturbed run can be told from a slow server. The kernel's
softirq time (network processing of the loopback traffic) and the hypervisor's steal are
reported apart.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

import redis

_TICK = os.sysconf("SC_CLK_TCK")


def _machine() -> tuple[float, float, float]:
    """Seconds of CPU since boot, all cores: (busy in processes, softirq, steal).

    Softirq (the kernel's network processing: loopback traffic is mostly that) is charged to
    no process, and steal is time the hypervisor gave to other machines: both are kept apart
    from "other processes".
    """
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (
            int(x) for x in stat.readline().split()[1:9]
        )
    return (user + nice + system + irq) / _TICK, softirq / _TICK, steal / _TICK


def _machine_busy() -> float:
    return sum(_machine())  # processes, softirq and steal: all that would disturb a run


def _process(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _redis(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


@dataclass
class CpuMeter:
    """Start before a run, `stop()` after it; the load generator must be a reaped child."""

    server_pid: int
    redis_client: redis.Redis

    def __post_init__(self) -> None:
        self._at = self._sample()

    def _sample(self) -> tuple[float, ...]:
        return (
            time.monotonic(),
            *_machine(),
            _process(self.server_pid),
            _redis(self.redis_client),
            _children(),
        )

    def stop(self) -> dict[str, float]:
        end = self._sample()
        wall, busy, softirq, steal, server, red, loadgen = (
            b - a for a, b in zip(self._at, end, strict=True)
        )
        other = max(0.0, busy - server - red - loadgen)
        return {
            "server": round(server / wall, 2),
            "redis": round(red / wall, 2),
            "loadgen": round(loadgen / wall, 2),
            "softirq": round(softirq / wall, 2),
            "steal": round(steal / wall, 2),
            "other": round(other / wall, 2),
        }


def wait_quiet(*, max_busy: float, timeout: float, sample: float = 1.0) -> tuple[float, float]:
    """Wait until the whole machine is busy for at most `max_busy` cores over `sample` seconds
    (call it while the servers are idle), or `timeout` seconds passed.

    Returns (the last reading in cores, seconds waited).
    """
    started = time.monotonic()
    while True:
        at, before = time.monotonic(), _machine_busy()
        time.sleep(sample)
        busy = (_machine_busy() - before) / (time.monotonic() - at)
        waited = time.monotonic() - started
        if busy <= max_busy or waited >= timeout:
            return busy, waited
