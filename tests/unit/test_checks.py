"""Cross-file checks of a configuration: what each problem says and where it points."""

from __future__ import annotations

from typing import Any

from incidentd.rules.checks import Problem, validate
from incidentd.rules.schema import DeclarationFile, RulesFile, ServicesFile, SilencesFile


def services(spec: dict[str, Any], capabilities: dict[str, Any] | None = None) -> ServicesFile:
    full = {name: {"owner": "team", **fields} for name, fields in spec.items()}
    return ServicesFile.model_validate({"services": full, "capabilities": capabilities or {}})


def rules(*specs: dict[str, Any]) -> RulesFile:
    return RulesFile.model_validate({"rules": list(specs)})


def silences(*matchers: list[str]) -> SilencesFile:
    return SilencesFile.model_validate(
        {
            "silences": [
                {"name": f"s{i}", "match": m, "every": {"start": "01:00", "end": "02:00"}}
                for i, m in enumerate(matchers)
            ]
        }
    )


def check(
    map_: ServicesFile | None = None,
    rules_: RulesFile | None = None,
    silences_: SilencesFile | None = None,
    declaration: DeclarationFile | None = None,
) -> list[Problem]:
    return validate(
        map_ or ServicesFile(),
        rules_ or RulesFile(),
        silences_ or SilencesFile(),
        declaration=declaration,
    )


def declaration(spec: dict[str, Any]) -> DeclarationFile:
    return DeclarationFile.model_validate(spec)


def messages(problems: list[Problem]) -> list[str]:
    return [p.message for p in problems]


# --- services.yaml ---------------------------------------------------------------------------


def test_a_valid_map_and_rules_have_no_problem() -> None:
    map_ = services(
        {
            "web": {"depends_on": ["api"], "capabilities": ["browse"], "aliases": ["www", "Web"]},
            "api": {"depends_on": ["db", "cache"], "match": [['app="api"']]},
            "db": {"aliases": ["postgres"]},
            "cache": {"depends_on": ["db"]},
        },
        {"browse": {"users_per_minute": 10}},
    )
    rules_ = rules(
        {"name": "db", "match": ['service="db"'], "group_by": ["service", "labels.name"]},
        {
            "name": "dd",
            "group_by": ["kube_namespace", "app.kubernetes.io/name", "availability-zone"],
        },
    )
    assert check(map_, rules_, silences(['service="web"'])) == []


def test_unknown_dependency_with_a_suggestion() -> None:
    problems = check(
        services({"orders-db": {}, "checkout": {"depends_on": ["orders-db", "billing"]}})
    )
    assert problems == [
        Problem(
            "services.yaml",
            ("services", "checkout", "depends_on", 1),
            "service 'checkout' depends on unknown service 'billing'",
        )
    ]
    (typo,) = check(services({"orders-db": {}, "checkout": {"depends_on": ["order-db"]}}))
    assert typo.message.endswith("'order-db' (did you mean 'orders-db'?)")


def test_self_dependency_is_an_error_and_not_also_a_cycle() -> None:
    assert check(services({"a": {"depends_on": ["b", "a"]}, "b": {}})) == [
        Problem(
            "services.yaml", ("services", "a", "depends_on", 1), "service 'a' depends on itself"
        )
    ]


def test_cycle_is_named_from_the_first_service_in_the_file() -> None:
    map_ = services(
        {
            "top": {"depends_on": ["c"]},
            "a": {"depends_on": ["x", "b"]},
            "x": {},
            "b": {"depends_on": ["c"]},
            "c": {"depends_on": ["a"]},
        }
    )
    assert check(map_) == [
        Problem(
            "services.yaml",
            ("services", "a", "depends_on", 1),
            "dependency cycle: a -> b -> c -> a",
        )
    ]


def test_two_service_cycle_is_reported_once() -> None:
    problems = check(services({"a": {"depends_on": ["b"]}, "b": {"depends_on": ["a"]}}))
    assert messages(problems) == ["dependency cycle: a -> b -> a"]


def test_separate_cycles_are_each_reported() -> None:
    map_ = services(
        {
            "a": {"depends_on": ["b"]},
            "b": {"depends_on": ["a"]},
            "c": {"depends_on": ["d", "a"]},
            "d": {"depends_on": ["c"]},
        }
    )
    assert messages(check(map_)) == [
        "dependency cycle: a -> b -> a",
        "dependency cycle: c -> d -> c",
    ]


def test_cycle_check_handles_deep_maps_without_recursion() -> None:
    chain = {f"s{i}": {"depends_on": [f"s{i + 1}"]} for i in range(5000)}
    chain["s5000"] = {"depends_on": ["s0"]}
    (problem,) = check(services(chain))
    assert problem.message.startswith("dependency cycle: s0 -> s1 -> s2 -> ")
    assert problem.message.endswith(" -> s4999 -> s5000 -> s0")
    no_cycle = check(services({f"s{i}": {"depends_on": [f"s{i + 1}"]} for i in range(5000)}))
    assert [p.loc for p in no_cycle] == [("services", "s4999", "depends_on", 0)]


def test_undeclared_capability() -> None:
    map_ = services({"checkout": {"capabilities": ["checkout", "chekout"]}}, {"checkout": {}})
    assert check(map_) == [
        Problem(
            "services.yaml",
            ("services", "checkout", "capabilities", 1),
            "capability 'chekout' of service 'checkout' is not declared under capabilities: "
            "(did you mean 'checkout'?)",
        )
    ]


def test_alias_equal_to_another_service_name_is_ambiguous() -> None:
    map_ = services({"orders-db": {}, "pg": {"aliases": ["pg", "ORDERS-DB"]}})
    assert check(map_) == [
        Problem(
            "services.yaml",
            ("services", "pg", "aliases", 1),
            "alias 'ORDERS-DB' of service 'pg' is also the name of service 'orders-db': "
            "alerts naming it cannot be mapped unambiguously",
        )
    ]


def test_alias_shared_by_two_services_is_reported_at_the_second() -> None:
    map_ = services({"a": {"aliases": ["db", "db"]}, "b": {"aliases": ["x", "DB"]}})
    (problem,) = check(map_)
    assert problem.loc == ("services", "b", "aliases", 1)
    assert "also an alias of service 'a'" in problem.message


def test_name_clash_found_even_when_the_named_service_comes_later() -> None:
    (problem,) = check(services({"a": {"aliases": ["b"]}, "b": {}}))
    assert problem.loc == ("services", "a", "aliases", 0)
    assert "also the name of service 'b'" in problem.message


def test_empty_selector_is_a_warning() -> None:
    map_ = services({"web": {"match": [['app="web"'], []]}})
    assert check(map_) == [
        Problem(
            "services.yaml",
            ("services", "web", "match", 1),
            "an empty selector maps every alert to service 'web'",
            warning=True,
        )
    ]


# --- rules.yaml ------------------------------------------------------------------------------


def test_duplicate_rule_names() -> None:
    problems = check(rules_=rules({"name": "a", "match": ['x="1"']}, {"name": "b"}, {"name": "a"}))
    assert [p for p in problems if not p.warning] == [
        Problem("rules.yaml", ("rules", 2, "name"), "duplicate rule name 'a' (rule 1 has it)")
    ]


def test_group_by_must_be_a_field_or_a_label_name() -> None:
    problems = check(rules_=rules({"name": "r", "group_by": ["service", "host name", "9lives"]}))
    assert problems == [
        Problem(
            "rules.yaml",
            ("rules", 0, "group_by", i),
            f"rule 'r': {bad!r} is neither a field (name, service, severity, source) "
            "nor a label name",
        )
        for i, bad in ((1, "host name"), (2, "9lives"))
    ]


def test_group_by_a_field_that_cannot_key_a_group() -> None:
    problems = check(rules_=rules({"name": "r", "group_by": ["title", "labels.status"]}))
    assert problems == [
        Problem(
            "rules.yaml",
            ("rules", 0, "group_by", 0),
            "rule 'r': 'title' is an alert field that cannot key a group (fields: name, "
            "service, severity, source; for a label called title, write labels.title)",
        )
    ]


def test_rules_after_a_catch_all_are_unreachable() -> None:
    problems = check(
        rules_=rules(
            {"name": "crit", "match": ['severity="critical"']},
            {"name": "all"},
            {"name": "db", "match": ['team="dba"']},
            {"name": "all-2"},
        )
    )
    assert problems == [
        Problem(
            "rules.yaml",
            ("rules", i),
            f"rule {name!r} is unreachable: rule 'all' above it has no matchers and takes "
            "every alert",
            warning=True,
        )
        for i, name in ((2, "db"), (3, "all-2"))
    ]


def test_rules_with_the_same_matchers_in_another_order() -> None:
    problems = check(
        rules_=rules(
            {"name": "a", "match": ['team="dba"', 'severity="critical"']},
            {"name": "b", "match": ['team="dba"']},
            {"name": "c", "match": ['severity="critical"', 'team="dba"']},
        )
    )
    assert problems == [
        Problem(
            "rules.yaml",
            ("rules", 2, "match"),
            "rule 'c' has the same matchers as rule 'a' above it: it never takes an alert",
            warning=True,
        )
    ]


def test_matchers_that_differ_only_in_operator_are_not_the_same() -> None:
    assert not check(
        rules_=rules({"name": "a", "match": ['x="1"']}, {"name": "b", "match": ['x!="1"']})
    )


# --- service matchers against the map --------------------------------------------------------

MAP = services({"orders-db": {"aliases": ["Orders-Postgres"]}, "web": {}})


def test_service_matcher_naming_no_service_is_a_warning_in_rules_and_silences() -> None:
    problems = check(
        MAP,
        rules(
            {"name": "ok", "match": ['service="orders-db"']},
            {"name": "typo", "match": ['severity="critical"', 'service="order-db"']},
        ),
        silences(['service="web"'], ['name="X"', 'service="wbe"']),
    )
    assert problems == [
        Problem(
            "rules.yaml",
            ("rules", 1, "match", 1),
            "service=\"order-db\": no service named 'order-db' in services.yaml",
            warning=True,
        ),
        Problem(
            "silences.yaml",
            ("silences", 1, "match", 1),
            "service=\"wbe\": no service named 'wbe' in services.yaml",
            warning=True,
        ),
    ]


def test_service_matcher_on_an_alias_or_another_case_names_the_service() -> None:
    # rules and silences see the mapped service's name: an alias there never matches
    problems = check(
        MAP,
        rules({"name": "alias", "match": ['service="orders-postgres"']}),
        silences(['service="Web"']),
    )
    assert [(p.file, p.loc, p.message, p.warning) for p in problems] == [
        (
            "rules.yaml",
            ("rules", 0, "match", 0),
            "service=\"orders-postgres\": no service named 'orders-postgres' in services.yaml "
            '(write service="orders-db": rules and silences see the name of the service the '
            "alert was mapped to)",
            True,
        ),
        (
            "silences.yaml",
            ("silences", 0, "match", 0),
            "service=\"Web\": no service named 'Web' in services.yaml "
            '(write service="web": rules and silences see the name of the service the '
            "alert was mapped to)",
            True,
        ),
    ]


def test_only_non_empty_service_equality_is_checked() -> None:
    rules_ = rules(
        {"name": "re", "match": ['service=~"nope.*"']},
        {"name": "ne", "match": ['service!="nope"']},
        {"name": "empty", "match": ['service=""']},
        {"name": "label", "match": ['labels.service="nope"']},
    )
    assert check(MAP, rules_) == []


def test_service_matchers_are_not_checked_without_a_map() -> None:
    assert check(rules_=rules({"name": "r", "match": ['service="anything"']})) == []


# --- declaration.yaml ------------------------------------------------------------------------

SHOP = services(
    {"checkout": {"capabilities": ["checkout"]}, "orders-db": {"aliases": ["pg-orders"]}},
    {"checkout": {"revenue_per_minute": 5000}},
)


def test_overrides_of_known_services_and_capabilities_and_the_default_matrix_pass() -> None:
    spec = declaration(
        {
            "policy": {
                "services": {"orders-db": {"declare_at": "P3"}},
                "capabilities": {"checkout": {"sustain": "0s"}},
            }
        }
    )
    assert check(SHOP, declaration=spec) == []
    assert check(SHOP, declaration=DeclarationFile()) == []


def test_override_for_an_unknown_service_is_an_error_at_its_name() -> None:
    spec = declaration({"policy": {"services": {"order-db": {}, "pg-orders": {"sustain": 0}}}})
    assert check(SHOP, declaration=spec) == [
        Problem(
            "declaration.yaml",
            ("policy", "services", "order-db"),
            "policy override for 'order-db': no service named 'order-db' in services.yaml "
            "(did you mean 'orders-db'?)",
            key=True,
        ),
        Problem(
            "declaration.yaml",
            ("policy", "services", "pg-orders"),
            "policy override for 'pg-orders': no service named 'pg-orders' in services.yaml "
            "(an alias: write 'orders-db')",
            key=True,
        ),
    ]


def test_override_for_an_unknown_capability_is_an_error_even_without_a_map() -> None:
    spec = declaration({"policy": {"capabilities": {"checkout": {"min_signals": 2}}}})
    assert check(declaration=spec) == [
        Problem(
            "declaration.yaml",
            ("policy", "capabilities", "checkout"),
            "policy override for 'checkout': no capability named 'checkout' under "
            "capabilities: in services.yaml",
            key=True,
        )
    ]


def test_a_matrix_cell_more_urgent_than_a_calmer_neighbour_is_a_warning() -> None:
    rows = {
        "extensive": {"critical": "P1", "high": "P1", "medium": "P2", "low": "P3"},
        "significant": {"critical": "P1", "high": "P2", "medium": "P3", "low": "P2"},
        "moderate": {"critical": "P2", "high": "P3", "medium": "P4", "low": "P5"},
        "minor": {"critical": "P3", "high": "P4", "medium": "P5", "low": "P5"},
    }
    problems = check(declaration=declaration({"scoring": {"matrix": rows}}))
    assert problems == [
        Problem(
            "declaration.yaml",
            ("scoring", "matrix", "significant", "low"),
            "matrix: significant impact x low urgency is P2, more urgent than extensive x low "
            "(P3) and significant x medium (P3)",
            warning=True,
        )
    ]
