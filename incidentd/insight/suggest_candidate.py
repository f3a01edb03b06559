"""What a learned suggestion is before its replay says whether it holds: a change to the
configuration (the YAML a person would paste, the same change applied to a RuleSet in
memory), the types it is about, and the test its replay evidence must pass. And what the
suggestions learned without proposing anything (`Finding`). Values only: no I/O.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import yaml

from incidentd.errors import ConfigInvalid, RulesError
from incidentd.insight.suggest_evidence import Evidence, Run
from incidentd.rules import checks
from incidentd.rules.loader import RuleSet


@dataclass(frozen=True, slots=True)
class Candidate:
    kind: str
    """`sustain` (declaration.yaml) or `correlation` (rules.yaml)."""
    summary: str
    file: str
    where: str
    """Where the snippet goes, for a person."""
    snippet: dict[str, Any]
    """The YAML to paste, as data (durations as text: "3m")."""
    patch: dict[str, Any]
    """The same change for a program: file, path or position, value."""
    why: tuple[str, ...]
    """The statistics behind it, one line each."""
    stats: dict[str, Any]
    rules: RuleSet
    """The current RuleSet with the change applied (in memory)."""
    focus: frozenset[str]
    """Fingerprints of the alert types it is about."""
    holds: Callable[[Evidence], str | None]
    """None when the replay evidence supports it; else why not."""
    hopeless: Callable[[Run], str | None] | None = None
    """Why the baseline replay already shows it cannot change anything (its own replay is
    then saved), or None."""

    def yaml(self) -> str:
        return yaml.safe_dump(self.snippet, sort_keys=False, allow_unicode=True, width=100)


@dataclass(frozen=True, slots=True)
class Finding:
    """Something learned that is not (or cannot be) a proposal, and why."""

    kind: str
    subject: str
    reason: str
    stats: dict[str, Any] = dataclasses.field(default_factory=dict)


def duration_text(span: timedelta) -> str:
    """`3m`, `90s`, `2h`: as rules.yaml and declaration.yaml write durations."""
    seconds = round(span.total_seconds())
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def changed_ruleset(base: RuleSet, change: dict[str, Any], /, **files: Any) -> RuleSet:
    """`base` with some files replaced (`rules=`, `declaration=`), checked as the loader checks
    a directory (the cross-file checks); raises ConfigInvalid when the change breaks them."""
    candidate = dataclasses.replace(base, **files)
    found = checks.validate(
        candidate.services, candidate.rules, candidate.silences, declaration=candidate.declaration
    )
    problems = [RulesError(p.file, None, p.message) for p in found if not p.warning]
    if problems:
        raise ConfigInvalid(problems)
    digest = hashlib.blake2b(orjson.dumps(change, option=orjson.OPT_SORT_KEYS), digest_size=4)
    return dataclasses.replace(candidate, version=f"{base.version}+{digest.hexdigest()}")
