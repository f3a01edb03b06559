"""Config errors name their file and line: one case per error in tests/rules_cases/.

A case is either one file `<case>.<file>.yaml` (copied into an empty directory as
`<file>.yaml`: `cycle.services.yaml` -> `services.yaml`) whose `# expect:` lines are the
problems `incidentd check` must print, exactly; or a directory `<case>/` holding the config
files and `expected.txt` (one problem a line), for problems that need several files. A case
whose config loads expects its warnings (`file:line: warning: message`) instead.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from incidentd.cli import main
from incidentd.errors import ConfigInvalid
from incidentd.model import Priority
from incidentd.rules.loader import default_ruleset, load
from incidentd.rules.schema import DeclarationFile

CASES = Path(__file__).resolve().parent.parent / "rules_cases"
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"


def _expected(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [line.removeprefix("# expect: ") for line in lines if line.startswith("# expect: ")]


def _cases() -> list[Path]:
    return sorted(
        path
        for path in CASES.iterdir()
        if path.is_dir() or (path.suffix == ".yaml" and path.name.count(".") == 2)
    )


def _prepare(case: Path, directory: Path) -> list[str]:
    """Copy the case's files into `directory`; return the problems it expects."""
    if case.is_dir():
        for path in case.glob("*.yaml"):
            shutil.copy(path, directory / path.name)
        return [line for line in (case / "expected.txt").read_text().splitlines() if line]
    _, target, _ = case.name.split(".")
    shutil.copy(case, directory / f"{target}.yaml")
    return _expected(case)


def _reported(directory: Path) -> list[str]:
    """What `incidentd check` prints: the errors, or the warnings of a config that loads."""
    try:
        return list(load(directory, env={}).warnings)
    except ConfigInvalid as invalid:
        return [str(p) for p in invalid.problems]


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.name.removesuffix(".yaml"))
def test_config_problem_is_reported_with_file_and_line(case: Path, tmp_path: Path) -> None:
    expected = _prepare(case, tmp_path)
    assert expected, f"{case.name} expects no problem"
    assert _reported(tmp_path) == expected


def test_a_case_expecting_errors_fails_to_load(tmp_path: Path) -> None:
    _prepare(CASES / "cycle.services.yaml", tmp_path)
    with pytest.raises(ConfigInvalid):
        load(tmp_path, env={})


def test_example_config_is_valid() -> None:
    rules = load(EXAMPLE, env={})
    assert rules.warnings == ()
    assert rules.sources.source("splunk").auto_resolve_after is not None


def test_example_map_and_rules_pass_check_without_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith(f"{EXAMPLE}: ok (version ")
    rules = load(EXAMPLE, env={})
    assert len(rules.services.services) >= 12
    assert {"orders-db", "payments", "kafka", "search"} <= set(rules.services.services)
    assert all(s.depends_on or s.match for s in rules.services.services.values())
    assert [r.name for r in rules.rules.rules][:2] == ["test-notifications", "payment-provider"]


def test_version_is_a_content_hash(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text("max_body_bytes: 1000\n")
    first = load(tmp_path, env={}).version
    assert load(tmp_path, env={}).version == first
    (tmp_path / "sources.yaml").write_text("max_body_bytes: 1001\n")
    assert load(tmp_path, env={}).version != first


def test_secrets_from_env_and_file_and_never_in_repr(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text("from-file\n")
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  generic:\n    auth: {type: bearer, token: [{env: T}, {file: token.txt}]}\n"
    )
    rules = load(tmp_path, env={"T": "from-env"})
    auth = rules.sources.source("generic").auth
    assert [t.get_secret_value() for t in auth.token] == ["from-env", "from-file"]  # type: ignore[union-attr]
    assert "from-env" not in repr(rules)


def test_unknown_yaml_file_is_a_warning_not_an_error(tmp_path: Path) -> None:
    (tmp_path / "servises.yaml").write_text("a: 1\n")
    assert load(tmp_path, env={}).warnings == (
        "servises.yaml: not a file incidentd reads "
        "(known: sources.yaml, services.yaml, rules.yaml, silences.yaml, declaration.yaml, "
        "targets.yaml, routing.yaml, oncall.yaml, api.yaml)",
    )


def test_auto_resolve_after_default_override_and_switch_off(tmp_path: Path) -> None:
    from datetime import timedelta

    (tmp_path / "sources.yaml").write_text(
        "sources:\n  splunk: {auto_resolve_after: 15m}\n  datadog: {auto_resolve_after: null}\n"
        "  generic: {auto_resolve_after: 0}\n"
    )
    sources = load(tmp_path, env={}).sources
    default = timedelta(hours=1)
    assert sources.source("splunk").ttl(default) == timedelta(minutes=15)
    assert sources.source("datadog").ttl(default) is None
    assert sources.source("generic").ttl(default) is None
    assert sources.source("grafana").ttl(default) == default


# --- declaration.yaml ------------------------------------------------------------------------


def test_without_declaration_yaml_the_documented_defaults_apply(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text("max_body_bytes: 1000\n")
    assert load(tmp_path, env={}).declaration == DeclarationFile()
    assert default_ruleset().declaration == DeclarationFile()


def test_a_partial_declaration_keeps_every_other_default(tmp_path: Path) -> None:
    (tmp_path / "declaration.yaml").write_text("policy:\n  declare_at: P3\n")
    spec = load(tmp_path, env={}).declaration
    assert spec.policy.declare_at is Priority.P3
    assert spec.scoring == DeclarationFile().scoring
    assert spec.policy.cool_down == DeclarationFile().policy.cool_down


def test_example_declaration_is_the_defaults_but_where_it_says_example() -> None:
    """config/example/declaration.yaml documents the defaults: keep it true."""
    example = load(EXAMPLE, env={}).declaration.model_dump()
    defaults = DeclarationFile().model_dump()
    examples = ("sustain", "services", "capabilities")
    assert example["scoring"] == defaults["scoring"]
    for key in examples:
        assert example["policy"][key] != defaults["policy"][key]
        example["policy"][key] = defaults["policy"][key]
    assert example == defaults
    text = (EXAMPLE / "declaration.yaml").read_text()
    assert text.count("# example") == len(examples)


def test_declaration_yaml_is_part_of_the_version(tmp_path: Path) -> None:
    (tmp_path / "declaration.yaml").write_text("policy: {declare_at: P2}\n")
    first = load(tmp_path, env={}).version
    (tmp_path / "declaration.yaml").write_text("policy: {declare_at: P3}\n")
    assert load(tmp_path, env={}).version != first


def test_targets_and_api_files_are_loaded(tmp_path: Path) -> None:
    (tmp_path / "api.yaml").write_text(
        "anonymous_read: false\ntokens:\n  - {name: a, token: x, scopes: [read, write]}\n"
    )
    (tmp_path / "targets.yaml").write_text(
        "targets:\n  hook: {type: webhook, url: 'https://example.com/h', secret: s}\n"
    )
    rules = load(tmp_path, env={})
    assert rules.api.anonymous_read is False
    assert [t.name for t in rules.api.tokens] == ["a"]
    assert list(rules.targets.targets) == ["hook"]


def test_api_token_names_are_unique(tmp_path: Path) -> None:
    (tmp_path / "api.yaml").write_text(
        "tokens:\n  - {name: a, token: x}\n  - {name: a, token: y}\n"
    )
    with pytest.raises(ConfigInvalid, match="token names must be unique: a"):
        load(tmp_path, env={})
