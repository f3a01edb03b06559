"""Config errors name their file and line: one YAML file per error in tests/rules_cases/.

Each case's `# expect:` lines are the problems `incidentd check` must print, exactly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from incidentd.errors import ConfigInvalid
from incidentd.rules.loader import load

CASES = Path(__file__).resolve().parent.parent / "rules_cases"
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"


def _expected(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [line.removeprefix("# expect: ") for line in lines if line.startswith("# expect: ")]


@pytest.mark.parametrize("case", sorted(CASES.glob("*.sources.yaml")), ids=lambda p: p.stem)
def test_config_error_is_reported_with_file_and_line(case: Path, tmp_path: Path) -> None:
    shutil.copy(case, tmp_path / "sources.yaml")
    expected = _expected(case)
    assert expected, f"{case.name} has no '# expect:' line"
    with pytest.raises(ConfigInvalid) as caught:
        load(tmp_path, env={})
    assert [str(p) for p in caught.value.problems] == expected


def test_example_config_is_valid() -> None:
    rules = load(EXAMPLE, env={})
    assert rules.warnings == ()
    assert rules.sources.source("splunk").auto_resolve_after is not None


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
        "(known: sources.yaml, services.yaml, rules.yaml, silences.yaml)",
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
