"""The `incidentd` command: argument parsing, exit codes and one-line error messages.

Exit codes: 0 success; 1 the input was rejected (normalize), the config has errors (check), or
the team has no schedule or nobody on call (oncall), or the history cannot be read (report,
suggest); 2 usage or start-up error. postmortem: 1 when there is no such incident, 2 when its
source cannot be reached. No traceback reaches the user for an expected problem.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
    _report_parser(verbs)
    _postmortem_parser(verbs)
    _suggest_parser(verbs)
    return parser


def _suggest_parser(verbs: Any) -> None:
    suggest = verbs.add_parser(
        "suggest",
        help="learn sustain times and correlation rules from recorded alerts; print each "
        "proposal with the replay that supports it (nothing is applied)",
    )
    suggest.add_argument("--config", type=Path, required=True, help="config directory")
    suggest.add_argument(
        "history", nargs="+", metavar="HISTORY", help="JSON Lines of alerts or webhook records"
    )
    suggest.add_argument("--format", choices=("md", "yaml", "json"), default="md")
    suggest.add_argument(
        "--as-configured",
        action="store_true",
        help="replay exactly the config (by default, auto-resolve resolves instead of mitigating)",
    )


def _postmortem_parser(verbs: Any) -> None:
    pm = verbs.add_parser(
        "postmortem",
        help="write the post-incident review draft of an incident (Markdown, on stdout)",
        description="Reads the incident from a running daemon's API (--url and --token, or "
        "INCIDENTD_URL and INCIDENTD_TOKEN; default http://127.0.0.1:8080), or from the Redis "
        "store with --redis-url, or when INCIDENTD_REDIS_URL is set and --url is not given.",
    )
    pm.add_argument("incident", metavar="INCIDENT_ID")
    pm.add_argument("--url", help="the daemon's address (INCIDENTD_URL)")
    pm.add_argument("--token", help="an API token with the read scope (INCIDENTD_TOKEN)")
    pm.add_argument("--redis-url", help="read the Redis store (INCIDENTD_REDIS_URL)")
    pm.add_argument("--config", type=Path, help="config directory, for SLA targets (Redis)")
    pm.add_argument("--chart", type=Path, metavar="PATH", help="write the alert-volume PNG here")
    pm.add_argument("--output", "-o", type=Path, metavar="PATH", help="write the draft here")


def _report_parser(verbs: Any) -> None:
    report = verbs.add_parser(
        "report", help="incidents, response times, SLA, noise and recurring causes of a period"
    )
    report.add_argument("--since", metavar="WHEN", help="RFC 3339 or a date (28 days before)")
    report.add_argument("--until", metavar="WHEN", help="excluded; a date counts whole (now)")
    report.add_argument("--format", choices=("md", "html", "csv"), default="md")
    report.add_argument("--out", type=Path, metavar="DIR", help="write every file here, not stdout")
    report.add_argument("--config", type=Path, metavar="DIR", help="(INCIDENTD_CONFIG_DIR)")
    report.add_argument("--url", help="incidents from a daemon's API (INCIDENTD_URL)")
    report.add_argument("--token", help="API token with the read scope (INCIDENTD_TOKEN)")
    report.add_argument(
        "--redis-url", metavar="URL", help="incidents from the Redis store (INCIDENTD_REDIS_URL)"
    )
    report.add_argument(
        "--alerts", nargs="+", type=Path, metavar="FILE", help="recorded webhooks (and FILE.1)"
    )
    report.add_argument("--top", type=int, default=10, metavar="N", help="noisiest alerts (10)")


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


def _report(args: argparse.Namespace) -> int:
    from incidentd.insight import history, records, report, report_render  # pandas: only here
    from incidentd.settings import Settings

    settings = Settings()
    now = SystemClock().now()
    if args.url and args.redis_url:
        return _fail("report: give --url or --redis-url, not both")
    if args.top < 1:
        return _fail("report: --top must be 1 or more")
    try:
        period = records.period_of(args.since, args.until, now=now)
    except InputError as exc:
        return _fail(f"report: {exc.message}")
    secret = settings.redis_url
    sources = history.Sources(
        api_url=args.url or os.environ.get("INCIDENTD_URL"),
        token=args.token or os.environ.get("INCIDENTD_TOKEN"),
        redis_url=args.redis_url or (secret.get_secret_value() if secret else None),
        redis_prefix=settings.redis_prefix,
        alert_files=tuple(args.alerts or ()),
    )
    rules = load(args.config or settings.config_dir)
    try:
        found = asyncio.run(history.load(sources, rules, period, as_of=now))
    except records.HistoryError as exc:
        return _fail(f"report: {exc.message}", 1)
    built = report.build(found, top=args.top)
    files = report_render.outputs(built, args.format, with_charts=args.out is not None)
    if args.out is None:
        sys.stdout.buffer.write(files[report_render.MAIN[args.format]])
        return 0
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (args.out / name).write_bytes(data)
    except OSError as exc:
        return _fail(f"report: cannot write {args.out}: {exc.strerror or exc}", 1)
    print(f"wrote {', '.join(files)} to {args.out}", file=sys.stderr)  # noqa: T201
    return 0


def _chart_link(args: argparse.Namespace) -> str | None:
    """The draft's link to --chart: relative to --output's folder (else as given)."""
    if args.chart is None:
        return None
    start = args.output.parent if args.output is not None else Path()
    link = Path(os.path.relpath(args.chart, start=start)).as_posix()
    return quote(link, safe="/._-~")


async def _draft(args: argparse.Namespace, link: str | None) -> Any:
    from incidentd.insight import fetch
    from incidentd.settings import Settings

    settings = Settings()
    with_chart = args.chart is not None
    secret = settings.redis_url
    redis_url = args.redis_url or (secret.get_secret_value() if secret else None)
    if args.url is None and redis_url:
        rules = load(args.config or settings.config_dir)
        return await fetch.from_redis(
            redis_url,
            args.incident,
            prefix=settings.redis_prefix,
            rules=rules,
            now=SystemClock().now(),
            chart_link=link,
            with_chart=with_chart,
        )
    url = args.url or os.environ.get("INCIDENTD_URL") or "http://127.0.0.1:8080"
    token = args.token or os.environ.get("INCIDENTD_TOKEN") or None
    return await fetch.from_api(
        url, args.incident, token=token, chart_link=link, with_chart=with_chart
    )


def _postmortem(args: argparse.Namespace) -> int:
    from incidentd.insight.fetch import NoIncident, Unreachable

    if args.url and args.redis_url:
        return _fail("postmortem: give --url or --redis-url, not both")
    try:
        found = asyncio.run(_draft(args, _chart_link(args)))
    except NoIncident as exc:
        return _fail(f"postmortem: {exc}", 1)
    except Unreachable as exc:
        return _fail(f"postmortem: {exc}")
    try:
        if args.chart is not None:
            args.chart.write_bytes(found.chart)
        if args.output is not None:
            args.output.write_text(found.markdown, encoding="utf-8")
    except OSError as exc:
        return _fail(f"postmortem: cannot write {exc.filename}: {exc.strerror or exc}")
    if args.output is None:
        sys.stdout.write(found.markdown)
        sys.stdout.flush()
    return 0


def _suggest(args: argparse.Namespace) -> int:
    from incidentd.insight import suggest, suggest_render  # scikit-learn: only here

    rules = load(args.config)
    try:
        history = suggest.read(args.history, rules)
    except InputError as exc:
        return _fail(exc.message, 1)
    found = suggest.suggest(history, rules, as_configured=args.as_configured)
    sys.stdout.write(suggest_render.render(found, args.format))
    sys.stdout.flush()
    print(  # noqa: T201
        f"suggest: {len(found.proposals)} proposal(s) from {len(history.lines)} alerts; "
        f"{found.replays} replay(s) in {found.seconds:.1f} s",
        file=sys.stderr,
    )
    return 0


_VERBS: dict[str, Callable[[argparse.Namespace], int]] = {
    "normalize": _normalize,
    "check": _check,
    "replay": _replay,
    "oncall": _oncall,
    "report": _report,
    "postmortem": _postmortem,
    "suggest": _suggest,
    "serve": _serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _VERBS[args.verb](args)
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
