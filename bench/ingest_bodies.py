"""Request bodies for the ingest benchmark, built from a real captured Alertmanager webhook.

Two shapes carry the same alerts (same labels, annotations, start time, generator URL):

- the webhook notification Alertmanager posts to a receiver (`version: "4"`), which incidentd
  and the bare aiohttp app receive; built from tests/payloads/alertmanager/group_firing.json;
- the array of postable alerts that Alertmanager's own `POST /api/v2/alerts` takes.

Every alert of every body has its own label set (the `instance` label carries the body's variant
and the alert's index), so a run that cycles through the variants posts distinct alerts, as a
fleet of hosts would. Bodies are compact JSON, as Alertmanager (Go) encodes them.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "tests" / "payloads" / "alertmanager" / "group_firing.json"
GENERATOR_URL = (
    "http://prometheus.example:9090/graph?g0.expr=node_filesystem_avail_bytes+%3C+0.1&g0.tab=1"
)

Json = dict[str, Any]


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _labels(template: Json, size: int, variant: int, index: int) -> dict[str, str]:
    labels = dict(template["labels"])
    labels["instance"] = f"host-{size:03d}-{variant:02d}-{index:03d}:9100"
    labels["mountpoint"] = "/var"
    return dict(sorted(labels.items()))  # Go encodes a map with its keys sorted


def _annotations(labels: dict[str, str]) -> dict[str, str]:
    host = labels["instance"]
    return {
        "summary": f"Disk /var almost full on {host}",
        "description": f"Less than 10% of /var is free on {host}.\nRunbook: see the wiki.",
    }


def webhook_body(size: int, variant: int) -> bytes:
    """An Alertmanager webhook notification (version 4) with `size` firing alerts."""
    note: Json = json.loads(TEMPLATE.read_bytes())
    template = note["alerts"][0]
    alerts = []
    for index in range(size):
        alert = copy.deepcopy(template)
        alert["labels"] = _labels(template, size, variant, index)
        alert["annotations"] = _annotations(alert["labels"])
        alert["generatorURL"] = GENERATOR_URL
        # Alertmanager's fingerprint is a 64-bit hash of the labels, in hex (not read by us).
        digest = hashlib.sha256(_dumps(sorted(alert["labels"].items()))).hexdigest()
        alert["fingerprint"] = digest[:16]
        alerts.append(alert)
    note["alerts"] = alerts
    common = {k: v for k, v in template["labels"].items() if k != "instance"}
    note["commonLabels"] = common if size > 1 else alerts[0]["labels"]
    note["commonAnnotations"] = {} if size > 1 else alerts[0]["annotations"]
    return _dumps(note)


def api_body(size: int, variant: int, *, now: datetime) -> bytes:
    """The same alerts as `webhook_body` as Alertmanager's `POST /api/v2/alerts` array.

    `endsAt` lies an hour after `now`, as Prometheus sends it for firing alerts (a few
    evaluation intervals ahead), so the alerts stay firing for the whole run.
    """
    note: Json = json.loads(TEMPLATE.read_bytes())
    template = note["alerts"][0]
    ends = (now + timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    alerts = []
    for index in range(size):
        labels = _labels(template, size, variant, index)
        alerts.append(
            {
                "labels": labels,
                "annotations": _annotations(labels),
                "startsAt": template["startsAt"],
                "endsAt": ends,
                "generatorURL": GENERATOR_URL,
            }
        )
    return _dumps(alerts)


def write_bodies(folder: Path, sizes: list[int], variants: int) -> dict[str, dict[int, list[Path]]]:
    """Write every body to `folder`; returns {"webhook"|"api": {size: [paths]}}."""
    now = datetime.now(UTC)
    out: dict[str, dict[int, list[Path]]] = {"webhook": {}, "api": {}}
    for size in sizes:
        for kind in out:
            out[kind][size] = []
            for variant in range(variants):
                path = folder / f"{kind}-{size}-{variant}.json"
                body = (
                    webhook_body(size, variant)
                    if kind == "webhook"
                    else api_body(size, variant, now=now)
                )
                path.write_bytes(body)
                out[kind][size].append(path)
    return out
