"""Generated configurations for the engine benchmark: a service map of any size, and rules.

The map is shaped like a real service estate, as in bench/impact.py: five layers (edges,
gateways, services, data stores, infrastructure), each service depending on one to three
services of the layers below it (a DAG), and one in five also on one of a few shared hubs
(the last 1% of the services: a Kafka, an auth service, a big database). Every service has
one selector of equality matchers only (`namespace="ns-K"`, `workload="svc-I"`: indexed),
an alias, a capability. The rules are those of config/example/rules.yaml that do not name
its services: node health by instance, a topology rule for critical and error alerts
(3 hops), warnings per service and name; everything else falls to the built-in by-service.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import yaml

from incidentd.rules.loader import RuleSet
from incidentd.rules.schema import RulesFile, ServicesFile, SilencesFile, SourcesFile

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "example"
LAYERS = 5
HUB_SHARE = 0.2
CRITICALITY = ("critical", "high", "medium", "low")

Json = dict[str, Any]

RULES: Json = {
    "defaults": {
        "window": "10m",
        "max_age": "6h",
        "quiet_period": "5m",
        "flapping": {"changes": 4, "window": "30m", "stable_for": "30m"},
        "topology_hops": 3,
    },
    "rules": [
        {
            "name": "node-health",
            "match": ['name=~"(Disk|Filesystem).*|Node.*|HostOutOfMemory|HostOomKill"'],
            "group_by": ["instance"],
            "window": "30m",
            "alert_ttl": "2h",
        },
        {
            "name": "service-outage",
            "match": ['severity=~"critical|error"'],
            "group_by": ["service"],
            "topology": True,
            "topology_hops": 3,
            "window": "10m",
            "max_age": "4h",
        },
        {
            "name": "warnings",
            "match": ['severity="warning"'],
            "group_by": ["service", "name"],
            "window": "30m",
            "flapping": {"changes": 6, "window": "1h", "stable_for": "30m"},
        },
    ],
}


def services_spec(size: int, *, seed: int = 1) -> Json:
    """services.yaml of `size` services (see the module docstring); deterministic."""
    rng = random.Random(seed)
    layer = [min(i * LAYERS // size, LAYERS - 1) for i in range(size)]
    first_of = [next((i for i in range(size) if layer[i] > k), size) for k in range(LAYERS)]
    hubs = range(size - max(1, size // 100), size)
    services: Json = {}
    for i in range(size):
        pool = range(first_of[layer[i]], size)  # the layers below
        needs = rng.sample(pool, min(len(pool), rng.randint(1, 3))) if len(pool) else []
        if i < hubs.start and rng.random() < HUB_SHARE:
            needs = sorted({*needs, rng.choice(hubs)})
        services[f"svc-{i}"] = {
            "owner": f"team-{i % 30}",
            "criticality": CRITICALITY[i % 4],
            "capabilities": [f"cap-{i % 50}"],
            "users_per_minute": i % 100,
            "depends_on": [f"svc-{j}" for j in needs if j != i],
            "aliases": [f"alias-{i}"],
            "match": [[f'namespace="ns-{i % 20}"', f'workload="svc-{i}"']],
        }
    capabilities = {f"cap-{k}": {"users_per_minute": k, "revenue_per_minute": k} for k in range(50)}
    return {"capabilities": capabilities, "services": services}


def rules_spec(*, topology: bool = True) -> Json:
    """rules.yaml; `topology=False` turns the topology of `service-outage` off (an ablation:
    what the engine costs without topology grouping and the giant groups it can make)."""
    rules = [{**rule, "topology": False} if "topology" in rule else rule for rule in RULES["rules"]]
    return {**RULES, "rules": rules} if not topology else RULES


def ruleset(size: int, *, seed: int = 1, topology: bool = True) -> RuleSet:
    """The generated config as a RuleSet, without YAML (fast for 10,000 services)."""
    return RuleSet(
        sources=SourcesFile(),
        services=ServicesFile.model_validate(services_spec(size, seed=seed)),
        rules=RulesFile.model_validate(rules_spec(topology=topology)),
        silences=SilencesFile(),
        version=f"generated-{size}-{seed}{'' if topology else '-no-topology'}",
        directory=None,
    )


def write_config(folder: Path, size: int, *, seed: int = 1) -> Path:
    """A config directory `incidentd check` / `replay` / `serve` can load: the example's
    sources.yaml, the generated services.yaml and rules.yaml, no silences."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE / "sources.yaml", folder / "sources.yaml")
    for name, data in (("services.yaml", services_spec(size, seed=seed)), ("rules.yaml", RULES)):
        (folder / name).write_text(yaml.safe_dump(data, sort_keys=False))
    return folder
