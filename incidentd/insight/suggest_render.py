"""The suggestions as a person or a program reads them: Markdown, YAML (one document per
proposal, its evidence in comments, ready to paste) or JSON. Text only: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson

from incidentd.insight.suggest import Proposal, Report
from incidentd.insight.suggest_evidence import Delay, Evidence, IncidentRef

FORMATS = ("md", "yaml", "json")
LISTED = 5


def _n(value: int) -> str:
    return f"{value:,}"


def _change(pair: tuple[int, int]) -> str:
    before, after = pair
    return f"{_n(before)} -> {_n(after)} ({after - before:+,})"


def _incidents(count: int) -> str:
    return f"{count:,} incident{'' if count == 1 else 's'}"


def _ids(refs: Sequence[IncidentRef]) -> str:
    shown = ", ".join(f"{r.id} {r.priority}" for r in refs[:LISTED])
    return shown + (f" and {len(refs) - LISTED} more" if len(refs) > LISTED else "")


def _minutes(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def evidence_lines(ev: Evidence) -> list[str]:
    """What the replay with the change applied showed, one fact a line."""
    lines = [
        f"groups: {_change(ev.groups)}; groups holding these alerts: {_change(ev.focus_groups)}",
        f"incidents declared: {_change(ev.incidents)}; incidents holding these alerts: "
        f"{_change(ev.focus_incidents)}; their groups that reached an incident: "
        f"{_change(ev.focus_incident_groups)}, that declared one: {_change(ev.focus_declared)}",
    ]
    if ev.avoided:
        lines.append(f"avoided: {_incidents(len(ev.avoided))} ({_ids(ev.avoided)})")
    if ev.merged:
        merged = sum(len(m.before) for m in ev.merged)
        lines.append(f"merged: {_incidents(merged)} into {len(ev.merged)}")
    if ev.split:
        lines.append(f"split: {_incidents(len(ev.split))} ({_ids(ev.split)})")
    if ev.new:
        lines.append(f"new: {_incidents(len(ev.new))} ({_ids(ev.new)})")
    if ev.delayed:
        worst = max(d.seconds for d in ev.delayed)
        lines.append(f"declared later: {_incidents(len(ev.delayed))}, by up to {_minutes(worst)}")
    if ev.started_later:
        worst = max(d.seconds for d in ev.started_later)
        lines.append(
            f"declared on a later alert: {_incidents(len(ev.started_later))} (their first "
            f"alert no longer reaches them), up to {_minutes(worst)} later"
        )
    lines.append(
        f"incidents without these alerts that changed: {ev.side_effects}"
        if ev.side_effects
        else "no incident without these alerts changed"
    )
    return lines


def _header(report: Report) -> str:
    h = report.history
    files = len(h.files)
    return (
        f"{_n(len(h.lines))} alerts in {files} file{'s' if files > 1 else ''} "
        f"({_day(h.first)} to {_day(h.last)}), {_n(report.types)} alert types, "
        f"{_n(report.episodes)} firing episodes; config version {report.rules_version}; "
        f"baseline replay: {_n(report.baseline.groups)} groups, "
        f"{_incidents(len(report.baseline.incidents))}; "
        f"{report.replays} replay{'s' if report.replays > 1 else ''} and learning in "
        f"{report.seconds:.1f} s (learning {report.learning_seconds:.1f} s)"
    )


def _day(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _model_line(report: Report) -> str:
    m = report.model
    view = m.view()
    if not m.episodes:
        return "transient model: no episode to learn from"
    auc = f", out-of-fold AUC {m.auc:.2f}" if m.auc is not None else ""
    return (
        f"transient model: {view['kind']} on {_n(m.episodes)} episodes ({_n(m.transient)} "
        f"resolved by themselves within 5m){auc}, Brier {m.brier:.3f} (base rate "
        f"{m.brier_base:.3f})"
    )


# --- markdown --------------------------------------------------------------------------------


def _md_proposal(n: int, p: Proposal) -> list[str]:
    c = p.candidate
    return [
        f"## {n}. {c.summary}",
        "",
        f"`{c.file}`, {c.where}:",
        "",
        "```yaml",
        c.yaml().rstrip(),
        "```",
        "",
        "Why:",
        *(f"- {line}" for line in c.why),
        "",
        f"Replay with it ({p.evidence.seconds:.1f} s):",
        *(f"- {line}" for line in evidence_lines(p.evidence)),
        "",
    ]


def transient_yaml(report: Report) -> str:
    """`scoring.transient` of declaration.yaml for the flagged types (empty when none): the
    daemon then names them in score explanations, with no points."""
    flagged = [t for t in report.transient if t.flagged]
    if not flagged:
        return ""
    lines = ["scoring:", "  transient:"]
    lines += [f"    {t.type[0] or 'unmapped'}/{t.type[1]}: {t.odds:.2f}" for t in flagged]
    return "\n".join(lines) + "\n"


def _md_transient(report: Report) -> list[str]:
    if not report.transient:
        return []
    out = [
        "## Transient alerts (learned)",
        "",
        "| type | episodes | resolved by themselves | share (95% low) | odds | flagged |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for t in report.transient:
        out.append(
            f"| {t.type[0] or 'unmapped'}/{t.type[1]} | {t.episodes} | {t.transient} | "
            f"{t.share_low:.0%} | {t.odds:.0%} | {'yes' if t.flagged else 'no'} |"
        )
    out.append("")
    if report.explanations:
        out += ["Score explanation note for the flagged types (adds no points):", ""]
        out += [f"- `{line}`" for line in report.explanations.values()]
        out.append("")
    if snippet := transient_yaml(report):
        out += [
            "To have the daemon write that note, merge into declaration.yaml:",
            "",
            "```yaml",
            snippet.rstrip(),
            "```",
            "",
        ]
    return out


def markdown(report: Report) -> str:
    out = ["# Suggestions", "", _header(report) + ".", "", _model_line(report) + ".", ""]
    if not report.proposals:
        out += ["No proposal: nothing in this history supports a change.", ""]
    for n, proposal in enumerate(report.proposals, start=1):
        out += _md_proposal(n, proposal)
    out += _md_transient(report)
    if report.findings:
        out += ["## Learned, not proposed", ""]
        out += [f"- [{f.kind}] {f.subject}: {f.reason}" for f in report.findings]
        out.append("")
    if report.notes:
        out += ["## Notes", "", *(f"- {note}" for note in report.notes), ""]
    return "\n".join(out)


# --- yaml ------------------------------------------------------------------------------------


def _comments(lines: Iterable[str], indent: str = "") -> list[str]:
    return [f"# {indent}{line}".rstrip() for line in lines]


def yaml_text(report: Report) -> str:
    """One YAML document per proposal (the snippet), its reasons and evidence in comments."""
    out = _comments(["incidentd suggest: " + _header(report), _model_line(report), *report.notes])
    if not report.proposals:
        out += _comments(["", "no proposal: nothing in this history supports a change"])
    for n, p in enumerate(report.proposals, start=1):
        c = p.candidate
        out.append("---")
        out += _comments([f"{n}. {c.summary}", f"{c.file}, {c.where}", "why:"])
        out += _comments(c.why, "  ")
        out += _comments(["replay with it:"])
        out += _comments(evidence_lines(p.evidence), "  ")
        out.append(c.yaml().rstrip())
    if snippet := transient_yaml(report):
        out.append("---")
        out += _comments(
            [
                "learned transient odds: declaration.yaml, scoring.transient (merge): the",
                "daemon names these alerts in the score's urgency.transient note, no points",
            ]
        )
        out.append(snippet.rstrip())
    if report.findings:
        out.append("---" if report.proposals or snippet else "")
        out += _comments(["learned, not proposed:"])
        out += _comments((f"[{f.kind}] {f.subject}: {f.reason}" for f in report.findings), "  ")
    return "\n".join(out) + "\n"


# --- json ------------------------------------------------------------------------------------


def _ref(r: IncidentRef) -> dict[str, Any]:
    return {"id": r.id, "priority": r.priority, "declared_at": r.declared_at, "focus": r.focus}


def _delay(d: Delay) -> dict[str, Any]:
    return {"before": _ref(d.before), "after": _ref(d.after), "seconds": d.seconds}


def evidence_view(ev: Evidence) -> dict[str, Any]:
    def pair(p: tuple[int, int]) -> dict[str, int]:
        return {"before": p[0], "after": p[1]}

    return {
        "groups": pair(ev.groups),
        "incidents": pair(ev.incidents),
        "focus_groups": pair(ev.focus_groups),
        "focus_incident_groups": pair(ev.focus_incident_groups),
        "focus_declared": pair(ev.focus_declared),
        "focus_incidents": pair(ev.focus_incidents),
        "avoided": [_ref(r) for r in ev.avoided],
        "merged": [{"into": _ref(m.after), "from": [_ref(r) for r in m.before]} for m in ev.merged],
        "split": [_ref(r) for r in ev.split],
        "new": [_ref(r) for r in ev.new],
        "delayed": [_delay(d) for d in ev.delayed],
        "started_later": [_delay(d) for d in ev.started_later],
        "side_effects": ev.side_effects,
        "replay_seconds": round(ev.seconds, 3),
    }


def view(report: Report) -> dict[str, Any]:
    h = report.history
    return {
        "history": {
            "files": list(h.files),
            "alerts": len(h.lines),
            "from": h.first,
            "until": h.last,
            "types": report.types,
            "episodes": report.episodes,
        },
        "rules_version": report.rules_version,
        "baseline": {
            "groups": report.baseline.groups,
            "incidents": len(report.baseline.incidents),
            "replay_seconds": round(report.baseline.seconds, 3),
        },
        "model": report.model.view(),
        "transient": [
            {**t.view(), "explanation": report.explanations.get(f"{t.view()['type']}")}
            for t in report.transient
        ],
        "proposals": [
            {
                "kind": p.candidate.kind,
                "summary": p.candidate.summary,
                "file": p.candidate.file,
                "where": p.candidate.where,
                "yaml": p.candidate.yaml(),
                "patch": p.candidate.patch,
                "why": list(p.candidate.why),
                "stats": p.candidate.stats,
                "evidence": evidence_view(p.evidence),
            }
            for p in report.proposals
        ],
        "findings": [
            {"kind": f.kind, "subject": f.subject, "reason": f.reason, "stats": f.stats}
            for f in report.findings
        ],
        "notes": list(report.notes),
        "replays": report.replays,
        "seconds": round(report.seconds, 3),
        "learning_seconds": round(report.learning_seconds, 3),
    }


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return orjson.dumps(view(report), option=orjson.OPT_INDENT_2).decode() + "\n"
    if fmt == "yaml":
        return yaml_text(report)
    return markdown(report)
