"""The configuration of the decision-latency benchmark: isolated services that each fail once.

Each probe service (`probe-K`) is critical, customer-facing, depends on nothing and nothing
depends on it, and has a capability of its own with 6,000 users and 3,000 a minute at stake:
one critical alert on it scores impact "extensive" and is declared (P2 or P1) by itself, at
once (no declaration.yaml: the built-in defaults, sustain 0), and never joins another
probe's incident (no shared root cause, no blast radius in common). The background load
goes to `batch-reports`, a low-criticality internal service: its warnings score P5 and are
never declared. The rules are the engine benchmark's (bench/engine_config.py: those of
config/example that do not name its services), the sources those of config/example
(`generic` without authentication).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import engine_config
import yaml

BACKGROUND_SERVICE = "batch-reports"
BACKGROUND_NAMES = 20
"""Distinct background warnings: few, because a new alert counts towards the storm rate
(100 new or re-firing alerts a minute by default) and the probes must not start a storm."""

Json = dict[str, Any]


def probe_service(index: int) -> str:
    return f"probe-{index}"


def services_spec(probes: int) -> Json:
    capabilities: Json = {
        f"probe-cap-{k}": {"users_per_minute": 6000, "revenue_per_minute": 3000}
        for k in range(probes)
    }
    services: Json = {
        probe_service(k): {
            "owner": "bench",
            "criticality": "critical",
            "customer_facing": True,
            "capabilities": [f"probe-cap-{k}"],
        }
        for k in range(probes)
    }
    services[BACKGROUND_SERVICE] = {"owner": "bench", "criticality": "low"}
    return {"capabilities": capabilities, "services": services}


def write_config(folder: Path, probes: int) -> Path:
    """A config directory `incidentd serve` loads (no declaration.yaml: the defaults)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(engine_config.EXAMPLE / "sources.yaml", folder / "sources.yaml")
    files = (("services.yaml", services_spec(probes)), ("rules.yaml", engine_config.RULES))
    for name, data in files:
        (folder / name).write_text(yaml.safe_dump(data, sort_keys=False))
    return folder
