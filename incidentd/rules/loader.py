"""Reads a configuration directory into one validated `RuleSet`, or says where it is wrong.

Every problem is reported as `file:line: message` (a YAML syntax error, a duplicate key, an
unknown key, a wrong type, a missing environment variable); all of a directory's problems are
reported at once. Nothing is half-loaded: `load` returns a whole RuleSet or raises.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import BaseModel, ValidationError

from incidentd.act.config import TargetsFile
from incidentd.act.oncall import OncallFile
from incidentd.act.routing import RoutingFile
from incidentd.errors import ConfigInvalid, RulesError
from incidentd.rules import checks
from incidentd.rules.schema import (
    ApiFile,
    DeclarationFile,
    RulesFile,
    ServicesFile,
    SilencesFile,
    SourcesFile,
)

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""LibYAML's safe loader when PyYAML was built with it (5x faster on big maps)."""

FILES: dict[str, type[BaseModel]] = {
    "sources.yaml": SourcesFile,
    "services.yaml": ServicesFile,
    "rules.yaml": RulesFile,
    "silences.yaml": SilencesFile,
    "declaration.yaml": DeclarationFile,
    "targets.yaml": TargetsFile,
    "routing.yaml": RoutingFile,
    "oncall.yaml": OncallFile,
    "api.yaml": ApiFile,
}
"""Every file a config directory may hold, with its schema. Missing files take defaults."""


@dataclass(frozen=True, slots=True)
class RuleSet:
    """One consistent, validated configuration. Replaced whole on reload, never edited."""

    sources: SourcesFile
    services: ServicesFile
    rules: RulesFile
    silences: SilencesFile
    version: str
    """Content hash of the files it was built from: recorded with every decision."""
    directory: Path | None
    warnings: tuple[str, ...] = ()
    declaration: DeclarationFile = field(default_factory=DeclarationFile)
    """Scoring and declaration policy (last, with a default: RuleSets built in code without
    one get the documented defaults)."""
    targets: TargetsFile = field(default_factory=TargetsFile)
    """Where actions go (PagerDuty, Slack, ...): targets.yaml, none by default."""
    routing: RoutingFile = field(default_factory=RoutingFile)
    """Which targets act on which incidents, and the outbox: routing.yaml (no routes: no
    action is sent)."""
    oncall: OncallFile = field(default_factory=OncallFile)
    """Who is on call for each team: oncall.yaml (no schedules by default)."""
    api: ApiFile = field(default_factory=ApiFile)
    """Who may use the HTTP API: api.yaml (by default anyone reads, nobody writes)."""


def default_ruleset() -> RuleSet:
    return RuleSet(
        sources=SourcesFile(),
        services=ServicesFile(),
        rules=RulesFile(),
        silences=SilencesFile(),
        version="default",
        directory=None,
        declaration=DeclarationFile(),
    )


@dataclass(frozen=True, slots=True)
class _Parsed:
    data: Any
    node: yaml.Node | None


def _check_duplicate_keys(name: str, node: yaml.Node | None, problems: list[RulesError]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key, value in node.value:
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode) and key.value in seen:
                problems.append(
                    RulesError(
                        name, line, f"duplicate key {key.value!r} (first at line {seen[key.value]})"
                    )
                )
            elif isinstance(key, yaml.ScalarNode):
                seen[key.value] = line
            _check_duplicate_keys(name, value, problems)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_duplicate_keys(name, item, problems)


def _parse_yaml(name: str, text: str, problems: list[RulesError]) -> _Parsed | None:
    try:
        node = yaml.compose(text, Loader=_SAFE_LOADER)
        data = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader: LibYAML's or PyYAML's)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problems.append(RulesError(name, line, f"not valid YAML: {exc.problem or exc}"))
        return None
    except yaml.YAMLError as exc:
        problems.append(RulesError(name, None, f"not valid YAML: {exc}"))
        return None
    before = len(problems)
    _check_duplicate_keys(name, node, problems)
    if len(problems) > before:
        return None
    return _Parsed({} if data is None else data, node)


def _children(node: yaml.Node) -> Iterator[tuple[object, yaml.Node, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key.value, key, value
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield index, item, item


def line_of(node: yaml.Node | None, loc: tuple[int | str, ...], *, key: bool = False) -> int:
    """The line of the YAML node at pydantic location `loc` (the nearest existing parent).

    Parts of `loc` that are not in the document (pydantic's union tags such as `bearer`) are
    skipped; with `key=True` the line of the last key itself, for an unknown key.
    """
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for part in loc:
        for name, key_node, value_node in _children(node):
            if name == part:
                line = key_node.start_mark.line + 1 if key else value_node.start_mark.line + 1
                node = value_node
                break
    return line


def _message(error: Mapping[str, Any]) -> str:
    loc = error["loc"]
    last = loc[-1] if loc else ""
    if error["type"] == "extra_forbidden":
        return f"unknown key {last!r}"
    if error["type"] == "missing":
        return f"missing required key {last!r}"
    where = ".".join(str(p) for p in loc if not isinstance(p, str) or not p.startswith("function-"))
    text = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {text}" if where else text


class _Secrets:
    """Resolves secret references for the schema; relative files are read from the directory."""

    def __init__(self, directory: Path, env: Mapping[str, str]) -> None:
        self._directory = directory
        self._env = env

    def __call__(self, ref: Mapping[str, object]) -> str:
        if set(ref) == {"env"} and isinstance(ref["env"], str):
            value = self._env.get(ref["env"])
            if value is None:
                raise ValueError(f"environment variable {ref['env']} is not set")
            return value
        if set(ref) == {"file"} and isinstance(ref["file"], str):
            path = self._directory / ref["file"]
            try:
                return path.read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"cannot read secret file {ref['file']}: {exc}") from None
        raise ValueError("a secret is a string, {env: NAME} or {file: PATH}")


def _validate(
    name: str, parsed: _Parsed, schema: type[BaseModel], context: dict[str, Any]
) -> tuple[BaseModel | None, list[RulesError]]:
    if not isinstance(parsed.data, dict):
        return None, [RulesError(name, 1, "the file must be a mapping of keys to values")]
    try:
        return schema.model_validate(parsed.data, context=context), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            key = error["type"] == "extra_forbidden"
            line = line_of(parsed.node, tuple(error["loc"]), key=key)
            problems.append(RulesError(name, line, _message(error)))
        return None, problems


@dataclass(slots=True)
class _Files:
    """What reading a directory's files gave: models, YAML nodes (for lines), problems."""

    models: dict[str, BaseModel]
    nodes: dict[str, yaml.Node | None]
    problems: list[RulesError]
    version: str


def _read_files(directory: Path, context: dict[str, Any]) -> _Files:
    files = _Files({}, {}, [], "")
    digest = hashlib.sha256()
    for name, schema in FILES.items():
        path = directory / name
        if not path.exists():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            files.problems.append(RulesError(name, None, f"cannot read: {exc}"))
            continue
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
        parsed = _parse_yaml(name, text, files.problems)
        if parsed is None:
            continue
        model, errors = _validate(name, parsed, schema, context)
        files.problems.extend(errors)
        files.nodes[name] = parsed.node
        if model is not None:
            files.models[name] = model
    files.version = digest.hexdigest()[:12]
    return files


def _unknown_files(directory: Path) -> list[str]:
    return [
        f"{path.name}: not a file incidentd reads (known: {', '.join(FILES)})"
        for path in sorted(directory.iterdir())
        if path.suffix in (".yaml", ".yml") and path.name not in FILES
    ]


def load(directory: Path, *, env: Mapping[str, str] | None = None) -> RuleSet:
    """Load and validate every file of `directory`; raise ConfigInvalid listing every problem."""
    if not directory.is_dir():
        raise ConfigInvalid([RulesError(str(directory), None, "not a directory")])
    context = {"secrets": _Secrets(directory, os.environ if env is None else env)}
    files = _read_files(directory, context)
    if files.problems:
        raise ConfigInvalid(files.problems)
    models = files.models
    rules = RuleSet(
        sources=cast(SourcesFile, models.get("sources.yaml", SourcesFile())),
        services=cast(ServicesFile, models.get("services.yaml", ServicesFile())),
        rules=cast(RulesFile, models.get("rules.yaml", RulesFile())),
        silences=cast(SilencesFile, models.get("silences.yaml", SilencesFile())),
        version=files.version,
        directory=directory,
        declaration=cast(DeclarationFile, models.get("declaration.yaml", DeclarationFile())),
        targets=cast(TargetsFile, models.get("targets.yaml", TargetsFile())),
        routing=cast(RoutingFile, models.get("routing.yaml", RoutingFile())),
        oncall=cast(OncallFile, models.get("oncall.yaml", OncallFile())),
        api=cast(ApiFile, models.get("api.yaml", ApiFile())),
    )
    warnings = _unknown_files(directory)
    problems = []
    found = checks.validate(
        rules.services, rules.rules, rules.silences, declaration=rules.declaration
    )
    found += checks.routing(rules.routing, rules.targets, rules.services)
    found += checks.oncall(rules.oncall, rules.services)
    found += checks.sources(rules.sources)
    for problem in found:
        line = line_of(files.nodes.get(problem.file), problem.loc, key=problem.key)
        if problem.warning:
            warnings.append(f"{problem.file}:{line}: warning: {problem.message}")
        else:
            problems.append(RulesError(problem.file, line, problem.message))
    if problems:
        raise ConfigInvalid(problems)
    return dataclasses.replace(rules, warnings=tuple(warnings))
