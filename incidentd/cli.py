"""The `incidentd` command: argument parsing, exit codes and one-line error messages.

Exit codes: 0 success; 1 the input was rejected (normalize), the config has errors (check), or
the team has no schedule or nobody on call (oncall); 2 usage or start-up error. No traceback
reaches the user for an expected problem.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from incidentd import __version__
from incidentd.act.oncall import LOOKAHEAD, Shift, TeamSchedule
from incidentd.clock import SystemClock
from incidentd.errors import ConfigInvalid, InputError, WrongShape
from incidentd.ingest.registry import SOURCES
from incidentd.ingest.source import RawWebhook, SourceOptions, run_parser
from incidentd.rules.loader import RuleSet, default_ruleset, load

MAX_INPUT_BYTES = 64 * 1024 * 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incidentd", description="Turns monitoring alerts into declared major incidents."
    )
    parser.add_argument("--version", action="version", version=f"incidentd {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    serve = verbs.add_parser("serve", help="run the daemon")
    serve.add_argument("--config", type=Path, help="config directory (INCIDENTD_CONFIG_DIR)")
    serve.add_argument("--host", help="listen address (INCIDENTD_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (INCIDENTD_PORT, default 8080)")
    serve.add_argument("--redis-url", help="use the Redis store (INCIDENTD_REDIS_URL)")

    normalize = verbs.add_parser(
        "normalize", help="print the normalized alerts of one webhook body, one JSON per line"
    )
    normalize.add_argument("source", choices=sorted(SOURCES), metavar="SOURCE")
    normalize.add_argument("file", help="the body as the sender posts it, or - for stdin")
    normalize.add_argument("--config", type=Path, help="config directory for source options")

    check = verbs.add_parser("check", help="validate a config directory")
    check.add_argument("directory", type=Path)

    replay = verbs.add_parser(
        "replay", help="run recorded alerts through the engine on virtual time"
    )
    replay.add_argument("--config", type=Path, required=True, help="config directory")
    replay.add_argument("file", help="JSON Lines of normalized alerts or webhook records, or -")
    replay.add_argument(
        "--decisions", action="store_true", help="print every decision instead of the groups"
    )
    replay.add_argument(
        "--incidents",
        action="store_true",
        help="print the incidents (with their timelines) instead of the groups",
    )
    replay.add_argument(
        "--skip-bad-lines", action="store_true", help="count unreadable lines instead of failing"
    )
    oncall = verbs.add_parser("oncall", help="print who is on call for a team, one per line")
    oncall.add_argument("team", metavar="TEAM", help="a team of oncall.yaml")
    oncall.add_argument("--config", type=Path, help="config directory (INCIDENTD_CONFIG_DIR)")
    oncall.add_argument(
        "--at",
        metavar="TIME",
        help="RFC 3339 time (default: now); without an offset, on the team's wall clock",
    )
    return parser


def _fail(message: str, code: int = 2) -> int:
    print(f"incidentd: {message}", file=sys.stderr)  # noqa: T201
    return code


def _read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    with Path(name).open("rb") as handle:
        return handle.read(MAX_INPUT_BYTES + 1)


def _normalize(args: argparse.Namespace) -> int:
    rules = load(args.config) if args.config else default_ruleset()
    try:
        body = _read_input(args.file)
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}")
    if len(body) > MAX_INPUT_BYTES:
        return _fail(f"{args.file}: larger than {MAX_INPUT_BYTES} bytes")
    source = SOURCES[args.source]
    spec = rules.sources.source(args.source)
    raw = RawWebhook(
        source=args.source,
        body=body,
        headers={},
        received_at=SystemClock().now(),
        options=SourceOptions(
            auto_resolve_after=spec.ttl(source.default_auto_resolve_after), sender=spec.sender
        ),
    )
    try:
        alerts = run_parser(source, raw)
    except WrongShape as exc:
        return _fail(f"{args.source}: {exc.path}: {exc.detail}", 1)
    except InputError as exc:
        return _fail(f"{args.source}: {exc.message}", 1)
    out = sys.stdout.buffer
    for alert in alerts:
        out.write(alert.model_dump_json().encode() + b"\n")
    out.flush()
    return 0


def _check(args: argparse.Namespace) -> int:
    rules = load(args.directory)
    for warning in rules.warnings:
        print(f"warning: {warning}", file=sys.stderr)  # noqa: T201
    print(f"{args.directory}: ok (version {rules.version})")  # noqa: T201
    return 0


def _replay(args: argparse.Namespace) -> int:
    from incidentd import replay  # imported here: keeps the other verbs quick to start

    rules = load(args.config)
    out = sys.stdout.buffer
    on_decision = (lambda d: out.write(replay.decision_record(d))) if args.decisions else None
    try:
        handle = sys.stdin.buffer if args.file == "-" else Path(args.file).open("rb")  # noqa: SIM115
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}")
    with handle:
        try:
            engine, summary = replay.replay(
                handle, rules, strict=not args.skip_bad_lines, on_decision=on_decision
            )
        except InputError as exc:
            return _fail(f"{args.file}: {exc.message}", 1)
    groups = 0
    if args.incidents:
        replay.write_incidents(engine, out)
    elif not args.decisions:
        groups = replay.write_groups(engine, out)
    out.flush()
    incidents = sorted(engine.state.declare.incidents.values(), key=lambda i: i.number)
    rate = summary.alerts / summary.seconds if summary.seconds else 0.0
    print(  # noqa: T201
        f"replayed {summary.alerts} alerts from {summary.lines} lines "
        f"({summary.skipped} skipped) in {summary.seconds:.2f} s ({rate:,.0f} alerts/s); "
        f"{groups or len(engine.state.groups)} groups; {len(incidents)} incidents; "
        f"rules version {rules.version}",
        file=sys.stderr,
    )
    for incident in incidents:
        took = incident.declared_at - (incident.started_at or incident.declared_at)
        print(  # noqa: T201
            f"  {incident.id} {incident.priority} {incident.title} "
            f"(declared {took.total_seconds():.0f} s after its first alert)",
            file=sys.stderr,
        )
    for kind, count in sorted(summary.decisions.items()):
        print(f"  {kind}: {count}", file=sys.stderr)  # noqa: T201
    return 0


def _at(text: str, schedule: TeamSchedule) -> datetime:
    """`--at`: an instant with its offset, or a reading of the team's wall clock."""
    parsed = datetime.fromisoformat(text.strip())
    return parsed if parsed.tzinfo is not None else schedule.instant(parsed)


def _oncall(args: argparse.Namespace) -> int:
    directory = args.config
    if directory is None:
        from incidentd.settings import Settings

        directory = Settings().config_dir
    oncall = load(directory).oncall
    try:
        schedule = oncall.team(args.team)
    except InputError as exc:
        return _fail(exc.message, 1)
    try:
        at = SystemClock().now() if args.at is None else _at(args.at, schedule)
    except (ValueError, OverflowError):
        return _fail(f"--at: {args.at!r} is not a time like 2026-03-29T09:00:00+02:00")
    try:
        shifts = oncall.shifts(args.team, at)
    except InputError as exc:
        return _fail(exc.message, 1)
    except ValueError as exc:  # a time outside the years a schedule covers
        return _fail(f"--at: {exc}")
    for line in _shift_lines(shifts, at, schedule):
        print(line)  # noqa: T201
    return 0


def _shift_lines(shifts: Sequence[Shift], at: datetime, schedule: TeamSchedule) -> list[str]:
    """`name  layer weekly  until 2026-03-30T10:00:00+02:00`, aligned, in the team's zone."""
    rows = []
    for shift in shifts:
        source = f"layer {shift.name}" if shift.kind == "layer" else "override"
        if shift.kind == "override" and shift.name:
            source += f" ({shift.name})"
        word = "until" if shift.until is not None else "until at least"
        until = (shift.until or at + LOOKAHEAD).astimezone(schedule.zone).isoformat()
        rows.append((shift.person.name, source, f"{word} {until}"))
    names = max(len(row[0]) for row in rows)
    sources = max(len(row[1]) for row in rows)
    return [f"{name:<{names}}  {source:<{sources}}  {until}" for name, source, until in rows]


def _settings(args: argparse.Namespace) -> Any:
    from incidentd.settings import Settings

    overrides = {
        "config_dir": args.config,
        "host": args.host,
        "port": args.port,
        "redis_url": args.redis_url,
    }
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _serve(args: argparse.Namespace) -> int:
    from incidentd import daemon, log

    settings = _settings(args)
    log.configure(level=settings.log_level, fmt=settings.log_format)
    rules: RuleSet = load(settings.config_dir)
    try:
        asyncio.run(daemon.run(settings, rules))
    except OSError as exc:
        return _fail(f"cannot serve on {settings.host}:{settings.port}: {exc.strerror or exc}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.verb == "normalize":
            return _normalize(args)
        if args.verb == "check":
            return _check(args)
        if args.verb == "replay":
            return _replay(args)
        if args.verb == "oncall":
            return _oncall(args)
        return _serve(args)
    except ConfigInvalid as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)  # noqa: T201
        return 1 if args.verb == "check" else 2
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        name = "INCIDENTD_" + "_".join(str(p) for p in first["loc"]).upper()
        return _fail(f"{name}: {first['msg']}")
    except KeyboardInterrupt:
        return 130
