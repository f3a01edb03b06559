"""The service-impact map: mapping alerts to services, blast radius, root causes, related."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentd.correlate.impact import ImpactMap
from incidentd.correlate.matchers import all_match
from incidentd.model import Alert, Severity, Status
from incidentd.rules.loader import load
from incidentd.rules.schema import ServicesFile

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def alert(
    service: str | None = None,
    source: str = "alertmanager",
    labels: dict[str, str] | None = None,
    **more: str,
) -> Alert:
    return Alert(
        source=source,
        fingerprint="f",
        event_id="e",
        status=Status.FIRING,
        severity=Severity.CRITICAL,
        name="SomethingWrong",
        title="something is wrong",
        service=service,
        labels={**(labels or {}), **more},
        starts_at=NOW,
        received_at=NOW,
    )


def impact(services: dict[str, Any], capabilities: dict[str, Any] | None = None) -> ImpactMap:
    spec = {name: {"owner": "team", **fields} for name, fields in services.items()}
    return ImpactMap.build(
        ServicesFile.model_validate({"services": spec, "capabilities": capabilities or {}})
    )


# --- mapping alerts to services --------------------------------------------------------------

SHOP = impact(
    {
        "frontend": {"aliases": ["Storefront"], "match": [['app="web"', 'namespace="shop"']]},
        "checkout": {
            "aliases": ["checkout-api"],
            "match": [['app="checkout"'], 'labels.service="co"', 'host=~"co-[0-9]+"'],
        },
        "orders-db": {"match": [['job="postgres"', 'cluster="orders"'], 'db!~"catalog|search"']},
        "catalog-db": {"match": [['job="postgres"', 'cluster="catalog"']]},
    }
)


def test_alert_maps_by_its_own_service_name() -> None:
    assert SHOP.service_for(alert("checkout")) == "checkout"


def test_own_service_matches_names_and_aliases_case_insensitively() -> None:
    assert SHOP.service_for(alert("CHECKOUT")) == "checkout"
    assert SHOP.service_for(alert("storefront")) == "frontend"
    assert SHOP.service_for(alert("Checkout-API")) == "checkout"


def test_own_service_beats_selectors_of_another_service() -> None:
    assert SHOP.service_for(alert("frontend", app="checkout")) == "frontend"


def test_unknown_own_service_falls_back_to_selectors() -> None:
    # Alertmanager fills `service` from `job` as a last resort: "postgres" is no service.
    found = SHOP.service_for(alert("postgres", job="postgres", cluster="catalog", db="catalog"))
    assert found == "catalog-db"


def test_every_matcher_of_one_selector_must_match() -> None:
    assert SHOP.service_for(alert(app="web", namespace="shop")) == "frontend"
    assert SHOP.service_for(alert(app="web", namespace="staging", db="catalog")) is None


def test_any_selector_of_a_service_maps_to_it() -> None:
    assert SHOP.service_for(alert(app="checkout")) == "checkout"
    assert SHOP.service_for(alert(host="co-12", db="catalog")) == "checkout"


def test_labels_prefix_addresses_a_label_named_like_a_field() -> None:
    assert SHOP.service_for(alert("nope", labels={"service": "co"}, db="search")) == "checkout"
    assert SHOP.service_for(alert("co", db="search")) is None


def test_selectors_can_match_alert_fields() -> None:
    by_source = impact({"payments": {"match": ['source="datadog"']}})
    assert by_source.service_for(alert(source="datadog")) == "payments"
    assert by_source.service_for(alert(source="splunk")) is None


def test_first_service_in_file_order_wins_when_several_match() -> None:
    # orders-db's regex-only selector (not indexed) comes before catalog-db's indexed one.
    assert SHOP.service_for(alert(job="postgres", cluster="catalog")) == "orders-db"
    assert SHOP.service_for(alert(job="postgres", cluster="catalog", db="catalog")) == "catalog-db"
    first = impact({"a": {"match": ['team="x"']}, "b": {"match": [['team="x"', 'env="p"']]}})
    assert first.service_for(alert(team="x", env="p")) == "a"
    second = impact({"b": {"match": [['team="x"', 'env="p"']]}, "a": {"match": ['team="x"']}})
    assert second.service_for(alert(team="x", env="p")) == "b"


def test_file_order_wins_across_selectors_indexed_under_different_labels() -> None:
    built = impact(
        {
            "first": {"match": ['app="other"']},  # the index looks at `app` first
            "second": {"match": ['env="prod"']},
            "third": {"match": ['app="web"']},
            "fourth": {"match": ['env=~"pr.*"']},  # regex only: checked on every alert
        }
    )
    assert built.service_for(alert(app="web", env="prod")) == "second"
    assert built.service_for(alert(app="web", env="preprod")) == "third"
    assert built.service_for(alert(app="api", env="preprod")) == "fourth"


def test_alert_matching_nothing_is_unmapped() -> None:
    assert SHOP.service_for(alert(db="catalog")) is None
    assert impact({}).service_for(alert("anything")) is None


def test_equality_on_an_empty_value_matches_a_missing_label() -> None:
    no_team = impact({"legacy": {"match": [['team=""', 'app="old"']]}})
    assert no_team.service_for(alert(app="old")) == "legacy"
    assert no_team.service_for(alert(app="old", team="web")) is None


NAMES = st.sampled_from(["app", "job", "env", "service", "labels.service", "source"])
VALUES = st.sampled_from(["", "a", "b", "c"])
MATCHER = st.builds(
    lambda name, op, value: f'{name}{op}"{value}"' if "~" not in op else f'{name}{op}"{value}.*"',
    NAMES,
    st.sampled_from(["=", "=", "=", "!=", "=~", "!~"]),
    VALUES,
)
SELECTORS = st.lists(st.lists(MATCHER, min_size=0, max_size=3), max_size=3)
SERVICES = st.lists(SELECTORS, min_size=1, max_size=8)
ALERTS = st.builds(
    alert,
    st.sampled_from([None, "", "a", "s1", "S2"]),
    st.sampled_from(["alertmanager", "a", "b"]),
    st.dictionaries(st.sampled_from(["app", "job", "env", "service"]), VALUES, max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(services=SERVICES, alerts=st.lists(ALERTS, min_size=1, max_size=10))
def test_indexed_lookup_agrees_with_a_linear_scan(
    services: list[list[list[str]]], alerts: list[Alert]
) -> None:
    spec = {f"s{i}": {"match": selectors} for i, selectors in enumerate(services)}
    built = impact(spec)
    for one in alerts:
        own = built.resolve(one.service) if one.service else None
        scan = (
            name
            for name, service in built.services.items()
            for selector in service.match
            if all_match(selector, one)
        )
        assert built.service_for(one) == (own or next(scan, None))


# --- blast radius ----------------------------------------------------------------------------

CAPABILITIES = {
    "browse": {"users_per_minute": 1000},
    "checkout": {"users_per_minute": 100, "revenue_per_minute": 5000},
    "reporting": {"users_per_minute": 5},
}
GRAPH = impact(
    {
        "frontend": {
            "depends_on": ["api"],
            "capabilities": ["browse"],
            "customer_facing": True,
            "criticality": "critical",
        },
        "api": {"depends_on": ["checkout", "search"], "criticality": "critical"},
        "checkout": {
            "depends_on": ["orders-db", "payments"],
            "capabilities": ["checkout"],
            "users_per_minute": 7,
        },
        "payments": {"capabilities": ["checkout"], "criticality": "critical"},
        "search": {"depends_on": ["catalog-db"], "criticality": "high"},
        "orders-db": {"criticality": "critical", "revenue_per_minute": 11},
        "catalog-db": {"criticality": "high"},
        "reports": {
            "depends_on": ["orders-db"],
            "capabilities": ["reporting"],
            "criticality": "low",
        },
    },
    CAPABILITIES,
)


def test_blast_radius_of_a_database_is_everything_above_it_transitively() -> None:
    radius = GRAPH.blast_radius(["orders-db"])
    assert radius.services == {"orders-db", "checkout", "api", "frontend", "reports"}
    assert radius.capabilities == {"browse", "checkout", "reporting"}
    assert radius.customer_facing is True


def test_stakes_count_each_service_and_capability_once() -> None:
    # checkout and payments both serve "checkout": it counts once; repeats count once.
    radius = GRAPH.blast_radius(["payments", "checkout", "payments"])
    assert radius.services == {"payments", "checkout", "api", "frontend"}
    assert radius.capabilities == {"checkout", "browse"}
    assert radius.users_per_minute == 100 + 1000 + 7
    assert radius.revenue_per_minute == 5000


def test_stakes_of_services_and_capabilities_add_up() -> None:
    radius = GRAPH.blast_radius(["orders-db"])
    assert radius.users_per_minute == 1000 + 100 + 5 + 7
    assert radius.revenue_per_minute == 5000 + 11


def test_blast_radius_of_a_leaf_nobody_depends_on_is_itself() -> None:
    radius = GRAPH.blast_radius(["reports"])
    assert radius.services == {"reports"}
    assert radius.capabilities == {"reporting"}
    assert radius.customer_facing is False
    assert (radius.users_per_minute, radius.revenue_per_minute) == (5, 0)


def test_blast_radius_ignores_names_that_are_not_services() -> None:
    assert GRAPH.blast_radius(["nope"]).services == frozenset()
    assert GRAPH.blast_radius(["nope", "catalog-db"]) == GRAPH.blast_radius(["catalog-db"])
    assert GRAPH.blast_radius(["catalog-db"]).services == {
        "catalog-db",
        "search",
        "api",
        "frontend",
    }


def test_upstream_and_direct_edges() -> None:
    assert GRAPH.upstream("catalog-db") == {"search", "api", "frontend"}
    assert GRAPH.upstream("frontend") == frozenset()
    assert GRAPH.dependencies("checkout") == ("orders-db", "payments")
    assert set(GRAPH.dependents("orders-db")) == {"checkout", "reports"}


# --- root causes -----------------------------------------------------------------------------


def test_cascade_has_the_database_as_root_cause() -> None:
    assert GRAPH.root_causes(["frontend", "api", "checkout", "orders-db"]) == ("orders-db",)


def test_root_cause_reaches_through_services_that_do_not_fail() -> None:
    # api's dependency chain reaches the failing database through checkout, which is fine.
    assert GRAPH.root_causes(["api", "orders-db"]) == ("orders-db",)


def test_two_independent_failures_are_two_root_causes() -> None:
    assert GRAPH.root_causes(["reports", "catalog-db", "search"]) == ("catalog-db", "reports")


def test_diamond_dependency() -> None:
    diamond = impact(
        {
            "top": {"depends_on": ["left", "right"]},
            "left": {"depends_on": ["bottom"]},
            "right": {"depends_on": ["bottom"]},
            "bottom": {},
        }
    )
    assert diamond.root_causes(["top", "left", "right", "bottom"]) == ("bottom",)
    assert diamond.root_causes(["top", "left", "right"]) == ("left", "right")
    assert diamond.blast_radius(["bottom"]).services == {"top", "left", "right", "bottom"}
    assert diamond.upstream("bottom") == {"top", "left", "right"}


def test_root_causes_sorted_by_criticality_then_name() -> None:
    failing = ["reports", "search", "catalog-db", "payments"]
    assert GRAPH.root_causes(failing) == ("payments", "catalog-db", "reports")
    assert GRAPH.root_causes(["payments", "catalog-db", "orders-db"]) == (
        "orders-db",
        "payments",
        "catalog-db",
    )


def test_root_causes_ignore_unknown_names_and_empty_input() -> None:
    assert GRAPH.root_causes(["nope", "api"]) == ("api",)
    assert GRAPH.root_causes([]) == ()


def test_everything_failing_in_a_cycle_free_graph_gives_the_leaves() -> None:
    assert GRAPH.root_causes(GRAPH.services) == ("orders-db", "payments", "catalog-db")


def test_a_dependency_cycle_cannot_hang_a_query_or_hide_every_root() -> None:
    # check rejects cycles; a map built without check must still answer.
    loop = impact({"a": {"depends_on": ["b", "a", "ghost"]}, "b": {"depends_on": ["a"]}})
    assert loop.upstream("a") == {"b"}
    assert loop.blast_radius(["a"]).services == {"a", "b"}
    assert loop.root_causes(["a", "b"]) == ("a", "b")
    assert loop.dependencies("a") == ("b",)


DAGS = st.integers(min_value=1, max_value=12).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n),
        st.sets(st.integers(0, n - 1)),
    )
)


def _graph(n: int, edges: list[tuple[int, int]]) -> tuple[ImpactMap, Callable[[int], set[int]]]:
    """The map of services s0..s{n-1} where `a` depends on `b` for each edge, and, by brute
    force, what each one reaches along its dependencies (itself left out)."""
    needs: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in edges:
        needs[a].add(b)
    built = impact({f"s{i}": {"depends_on": [f"s{j}" for j in sorted(needs[i])]} for i in needs})

    def reaches(i: int) -> set[int]:
        found, todo = set(), list(needs[i])
        while todo:
            j = todo.pop()
            if j not in found:
                found.add(j)
                todo.extend(needs[j])
        return found - {i}

    return built, reaches


@settings(max_examples=200, deadline=None)
@given(dag=DAGS)
def test_root_causes_are_failing_services_that_reach_no_other_failing_one(
    dag: tuple[int, list[tuple[int, int]], set[int]],
) -> None:
    n, edges, failing_ids = dag
    # edges from lower to higher numbers only: no cycle
    built, reaches = _graph(n, [(a, b) for a, b in edges if a < b])
    failing = {f"s{i}" for i in failing_ids}
    expected = sorted(f"s{i}" for i in failing_ids if not reaches(i) & failing_ids)
    assert built.root_causes(failing) == tuple(expected)
    above = {f"s{i}" for i in range(n) if reaches(i) & failing_ids}
    assert built.blast_radius(failing).services == failing | above


@settings(max_examples=200, deadline=None)
@given(graph=DAGS)
def test_root_causes_and_radius_of_any_graph_cycles_included(
    graph: tuple[int, list[tuple[int, int]], set[int]],
) -> None:
    """The same answers by brute force on graphs with cycles (which `check` rejects, and
    which a map built without it must still answer as before)."""
    n, edges, failing_ids = graph
    built, reaches = _graph(n, [(a, b) for a, b in edges if a != b])
    consequences = {i for i in failing_ids if reaches(i) & failing_ids}
    roots = (failing_ids - consequences) or failing_ids
    assert set(built.root_causes({f"s{i}" for i in failing_ids})) == {f"s{i}" for i in roots}
    above = {f"s{i}" for i in range(n) if reaches(i) & failing_ids}
    failing = {f"s{i}" for i in failing_ids}
    assert built.blast_radius(failing).services == failing | above


# --- related ---------------------------------------------------------------------------------


def test_related_follows_dependency_chains_both_ways_but_not_to_siblings() -> None:
    assert GRAPH.related("checkout", 0) == {"checkout"}
    assert GRAPH.related("checkout", 1) == {"checkout", "api", "orders-db", "payments"}
    # search (behind api too) and reports (on orders-db too) are siblings: not related.
    assert GRAPH.related("checkout", 2) == {"checkout", "api", "orders-db", "payments", "frontend"}
    assert GRAPH.related("checkout", 10) == GRAPH.related("checkout", 2)
    assert GRAPH.related("orders-db", 3) == {"orders-db", "checkout", "reports", "api", "frontend"}
    assert "search" not in GRAPH.related("orders-db", 10)


def test_related_of_an_unknown_service_is_empty() -> None:
    assert GRAPH.related("nope", 3) == frozenset()


def test_answers_stay_right_when_caches_evict() -> None:
    spec = ServicesFile.model_validate(
        {"services": {f"s{i}": {"owner": "t", "depends_on": [f"s{i + 1}"]} for i in range(9)}}
    )
    tiny = ImpactMap.build(spec, cache_size=2)
    for _ in range(2):
        for i in range(9):
            assert tiny.upstream(f"s{i}") == {f"s{j}" for j in range(i)}
            assert tiny.related(f"s{i}", 1) == {f"s{j}" for j in (i - 1, i, i + 1) if 0 <= j <= 8}
            assert len(tiny.blast_radius([f"s{i}"]).services) == i + 1


def test_conveniences() -> None:
    assert GRAPH.owner("api") == "team"
    assert GRAPH.criticality("reports") == "low"
    assert GRAPH.service("nope") is None
    assert GRAPH.owner("nope") is None
    assert GRAPH.criticality("nope") is None
    assert GRAPH.resolve("FRONTEND") == "frontend"


# --- the shipped example map -----------------------------------------------------------------

EXAMPLE = ImpactMap.build(load(ROOT / "config" / "example", env={}).services)


def _payload_alerts(path: str) -> list[Alert]:
    return [Alert.model_validate(a) for a in json.loads((ROOT / path).read_text())]


def test_example_maps_a_real_datadog_alert_by_its_service_tag() -> None:
    (datadog,) = _payload_alerts("tests/payloads/datadog/rich_triggered_p1.expected.json")
    assert EXAMPLE.service_for(datadog) == "checkout"


def test_example_leaves_a_real_node_alert_unmapped() -> None:
    for node in _payload_alerts("tests/payloads/alertmanager/group_firing.expected.json"):
        assert node.service == "node"
        assert EXAMPLE.service_for(node) is None


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"job": "postgres", "cluster": "orders", "instance": "pg-1:9187"}, "orders-db"),
        ({"job": "postgres", "cluster": "catalog"}, "catalog-db"),
        ({"db": "orders", "host": "orders-db-2"}, "orders-db"),
        ({"sourcetype": "postgresql", "host": "orders-db-3"}, "orders-db"),
        ({"host": "web-17", "env": "prod"}, "frontend"),
        ({"redis_host": "sessions-redis-2"}, "sessions-redis"),
        ({"sourcetype": "adyen:notification", "splunk_app": "payments"}, "payments"),
        ({"namespace": "shop", "app": "inventory"}, "inventory"),
        ({"sourcetype": "mongod"}, None),
    ],
)
def test_example_selectors(labels: dict[str, str], expected: str | None) -> None:
    assert EXAMPLE.service_for(alert(None, labels=labels)) == expected


def test_example_database_outage() -> None:
    failing = ["frontend", "api-gateway", "checkout", "orders-db"]
    assert EXAMPLE.root_causes(failing) == ("orders-db",)
    radius = EXAMPLE.blast_radius(["orders-db"])
    assert radius.services == {"orders-db", "checkout", "api-gateway", "frontend"}
    assert radius.capabilities == {"checkout", "browse"}
    assert radius.revenue_per_minute == 5200
    assert radius.users_per_minute == 9400
