"""Reports from a fixed history (tests/scenarios/shop_history.py) built through the real
engine on virtual time, with people acknowledging and resolving, and its recorded webhooks.
Expected figures are worked out by hand from the history's times (plain Python, never the
report's pandas code)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from incidentd.insight import history as hist
from incidentd.insight import records as rec
from incidentd.insight import report as rep
from incidentd.insight import report_render as render
from incidentd.recorder import Recorder
from incidentd.rules.loader import RuleSet, load
from incidentd.store.memory_state import MemoryState
from tests.scenarios.shop_history import (
    ALERT_FIRINGS,
    ALERT_REPORTS,
    DISTINCT_ALERTS,
    END,
    EXAMPLE,
    IN_PERIOD,
    MINUTES_TO,
    PRIORITY,
    SINCE,
    UNTIL,
    Webhook,
    day,
    recording,
    shop_history,
    store_history,
)

PERIOD = rec.Period(SINCE, UNTIL)


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load(EXAMPLE, env={})


@pytest.fixture(scope="module")
def store(rules: RuleSet) -> MemoryState:
    memory = MemoryState()
    asyncio.run(store_history(memory, shop_history(), rules))
    return memory


@pytest.fixture
def recorded(tmp_path: Path) -> Path:
    path = tmp_path / "webhooks.jsonl"
    path.write_bytes(recording(shop_history()))
    return path


def owners(rules: RuleSet) -> dict[str, str]:
    return {name: s.owner for name, s in rules.services.services.items()}


async def history_of(
    store: MemoryState, rules: RuleSet, files: list[Path], period: rec.Period = PERIOD
) -> hist.History:
    records = await hist.incidents_from_store(
        store, period, declaration=rules.declaration, as_of=END
    )
    alerts = hist.read_recordings(files, rules, as_of=END) if files else None
    return hist.History(period, END, tuple(records), alerts, owners(rules), ("test",))


@pytest.fixture
async def report(store: MemoryState, rules: RuleSet, recorded: Path) -> rep.Report:
    return rep.build(await history_of(store, rules, [recorded]))


def rows(report: rep.Report, name: str) -> list[dict[str, object]]:
    return report.table(name).frame.to_dict("records")  # type: ignore[return-value]


def test_the_history_is_what_the_expectations_assume(store: MemoryState) -> None:
    found = asyncio.run(store.incidents(limit=100))
    by_id = {i.id: i for i in found}
    assert sorted(by_id) == [f"INC-{n}" for n in range(1000, 1007)]
    for incident_id, priority in PRIORITY.items():
        assert by_id[incident_id].priority.value == priority
    assert by_id["INC-1001"].declared_at == day(0)
    assert by_id["INC-1002"].declared_at == day(1, minute=2)
    assert by_id["INC-1002"].started_at == day(1)
    assert by_id["INC-1004"].acknowledged_at is None
    assert by_id["INC-1005"].status.value == "mitigated"
    assert [by_id[i].root_causes for i in ("INC-1001", "INC-1003", "INC-1005")] == [
        ("orders-db",)
    ] * 3
    assert by_id["INC-1002"].root_causes == ("auth",)
    assert by_id["INC-1004"].root_causes == ("payments",)


def test_counts_by_priority_service_team_and_week(report: rep.Report) -> None:
    assert [r["id"] for r in rows(report, "incidents")] == list(IN_PERIOD)
    assert {(r["priority"], r["incidents"], r["open"]) for r in rows(report, "by_priority")} == {
        ("P1", 4, 1),
        ("P3", 1, 0),
    }
    # Services: impacted or root cause. Every outage reaches the gateway and the storefront;
    # checkout is hit by the database outages and the payments one.
    assert [(r["service"], r["team"], r["incidents"]) for r in rows(report, "by_service")] == [
        ("api-gateway", "platform", 5),
        ("frontend", "web", 5),
        ("checkout", "payments-team", 4),
        ("orders-db", "dba", 3),
        ("auth", "identity", 1),
        ("payments", "payments-team", 1),
    ]
    assert [(r["team"], r["incidents"]) for r in rows(report, "by_team")] == [
        ("dba", 3),
        ("identity", 1),
        ("payments-team", 1),
    ]
    weeks = [
        (str(r["week"]), r["incidents"], r["P1"], r["P3"], r["alert_firings"])
        for r in rows(report, "by_week")
    ]
    assert weeks == [
        ("2026-03-02", 2, 2, 0, 9),  # E1 2 + E2 3 + recs 3 + cert 1 firings
        ("2026-03-09", 2, 1, 1, 4),  # E3 2 + recs 1 + cert 1
        ("2026-03-16", 1, 1, 0, 5),  # E5 2 + recs 2 + cert 1
    ]


def _p90(values: list[float]) -> float:
    """Linear between ranks (numpy's default, Excel's PERCENTILE.INC)."""
    return statistics.quantiles(values, n=10, method="inclusive")[8]


@pytest.mark.parametrize("step", ["declare", "acknowledge", "resolve"])
def test_time_to_declare_acknowledge_and_resolve_mean_and_p90(
    report: rep.Report, step: str
) -> None:
    table = {(r["step"], r["priority"]): r for r in rows(report, "response_times")}
    by_hand = MINUTES_TO[step]
    for priority in ("all", "P1", "P3"):
        values = [m for i, m in by_hand.items() if priority in ("all", PRIORITY[i])]
        row = table[(step, priority)]
        assert row["incidents"] == len(values)
        assert row["mean_min"] == pytest.approx(statistics.fmean(values))
        assert row["p50_min"] == pytest.approx(statistics.median(values))
        assert row["p90_min"] == pytest.approx(_p90(values) if len(values) > 1 else values[0])
        assert row["max_min"] == pytest.approx(max(values))


def test_the_worked_figures_of_the_docs(report: rep.Report) -> None:
    """The numbers docs/reports.md quotes, literally."""
    table = {(r["step"], r["priority"]): r for r in rows(report, "response_times")}
    assert (
        table[("acknowledge", "all")]["mean_min"],
        table[("acknowledge", "all")]["p90_min"],
    ) == (
        pytest.approx(29.0),
        pytest.approx(76.0),
    )
    assert table[("resolve", "all")]["mean_min"] == pytest.approx(132.5)
    assert table[("resolve", "all")]["p90_min"] == pytest.approx(246.0)


def test_sla_compliance_per_priority_as_the_incident_page_says(report: rep.Report) -> None:
    got = {
        (r["priority"], r["clock"]): (r["target_min"], r["met"], r["breached"], r["running"])
        for r in rows(report, "sla")
    }
    assert got == {
        # declare: 0, 2, 0, 0 minutes against 5
        ("P1", "declare"): (5, 4, 0, 0),
        # acknowledge: 3 and 4 met, 10 and 8 breached against 5
        ("P1", "acknowledge"): (5, 2, 2, 0),
        # resolve: 50 and 60 met, 300 breached against 240; INC-1005 is past due unresolved
        ("P1", "resolve"): (240, 2, 2, 0),
        ("P3", "declare"): (30, 1, 0, 0),
        ("P3", "acknowledge"): (60, 0, 1, 0),  # 120 minutes, ended by the resolution
        ("P3", "resolve"): (1440, 1, 0, 0),
    }
    compliance = {(r["priority"], r["clock"]): r["compliance_pct"] for r in rows(report, "sla")}
    assert compliance[("P1", "acknowledge")] == pytest.approx(50.0)
    assert compliance[("P3", "acknowledge")] == pytest.approx(0.0)
    assert ("SLA clocks met", "10 of 15 (67%)") in report.headline


def test_noise_reduction_counts_alerts_received_against_incidents(report: rep.Report) -> None:
    noise = {r["measure"]: r["value"] for r in rows(report, "noise")}
    assert noise["alert reports received"] == ALERT_REPORTS == 38
    assert noise["alert firings (new or again after resolving)"] == ALERT_FIRINGS == 18
    assert noise["distinct alerts"] == DISTINCT_ALERTS
    assert noise["incidents declared"] == 5
    assert noise["firings per incident"] == pytest.approx(18 / 5)
    assert noise["noise reduction pct"] == pytest.approx(100 * (1 - 5 / 18))
    assert ("Noise reduction", "72% (18 alert firings)") in report.headline


def test_noisiest_alerts_are_those_never_attached_to_an_incident(report: rep.Report) -> None:
    got = [
        (r["name"], r["service"], r["firings"], r["instances"], r["reports"])
        for r in rows(report, "noisiest_alerts")
    ]
    assert got == [
        ("RecommendationsSlow", "recommendations", 6, 2, 12),
        ("CertExpiringSoon", "(unmapped)", 3, 1, 6),
    ]
    medians = [r["median_minutes_firing"] for r in rows(report, "noisiest_alerts")]
    assert medians == [pytest.approx(3.0), pytest.approx(3.0)]


def test_recurring_root_causes_are_candidates_for_problem_management(
    report: rep.Report,
) -> None:
    [row] = rows(report, "recurring")
    assert row["root_cause"] == "orders-db"
    assert row["team"] == "dba"
    assert row["incidents"] == 3
    assert row["ids"] == "INC-1001, INC-1003, INC-1005"
    assert row["highest_priority"] == "P1"
    assert row["first"] == pd.Timestamp(day(0))
    assert row["last"] == pd.Timestamp(day(15))


def test_followups_kept_by_the_engine_are_reported_open_and_overdue(report: rep.Report) -> None:
    got = [
        (r["incident"], r["id"], r["title"], r["owner"], r["overdue"])
        for r in rows(report, "followups")
    ]
    assert got == [
        ("INC-1001", "F2", "Automate orders-db failover", "dba", True),  # due 03-16, END 03-25
        ("INC-1002", "F1", "Rate-limit login retries", "identity", False),  # due 04-30
    ]
    assert ("Follow-up actions open", "2 of 3 (1 overdue)") in report.headline


async def test_an_empty_period_is_a_clear_no_incidents_report(
    store: MemoryState, rules: RuleSet, recorded: Path
) -> None:
    quiet = rec.Period(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 15, tzinfo=UTC))
    report = rep.build(await history_of(store, rules, [recorded], quiet))
    assert report.headline == (("Incidents declared", "0"),)
    text = render.markdown(report)
    assert "No incidents were declared between 2026-06-01 00:00 and 2026-06-15 00:00 UTC" in text
    assert "_None in this period._" in text
    assert [r["incidents"] for r in rows(report, "by_week")] == [0, 0]
    noise = {r["measure"]: r["value"] for r in rows(report, "noise")}
    assert noise["alert firings (new or again after resolving)"] == 0
    assert noise["noise reduction pct"] is None
    assert render.charts(report) == {}
    html = render.html_document(report, {})
    assert "No incidents were declared" in html
    assert render.csv_files(report)["incidents.csv"].startswith("id,priority,status,title,")


async def test_without_a_store_the_incidents_are_those_the_engine_declares_from_the_alerts(
    rules: RuleSet, recorded: Path
) -> None:
    """Nobody acknowledges or resolves on replay: each outage is mitigated by the engine once
    its alerts clear, stays open, and the next orders-db outage joins it (same root cause).
    So the period has one new incident, the auth outage; the database outages joined
    INC-1000, declared before the period."""
    sources = hist.Sources(alert_files=(recorded,))
    found = await hist.load(sources, rules, PERIOD, as_of=END)
    report = rep.build(found)
    [row] = rows(report, "incidents")
    assert (row["id"], row["priority"], row["status"], row["root_causes"]) == (
        "INC-1001",
        "P1",
        "mitigated",
        "auth",
    )
    assert any("engine declares from the recorded alerts" in s for s in found.sources)
    assert found.alerts is not None
    [first] = [i for i in found.alerts.incidents if i.id == "INC-1000"]
    assert first.root_causes == ("orders-db",)
    assert first.declared_at < SINCE


async def test_recordings_rotated_by_the_recorder_are_read_whole(
    rules: RuleSet, tmp_path: Path
) -> None:
    """The real recorder, rotating once: naming the current file reads `.1` first."""
    path = tmp_path / "webhooks.jsonl"
    hooks = [e for e in shop_history() if isinstance(e, Webhook)]
    half = len(hooks) // 2
    size = sum(len(h.record()) + 1 for h in hooks)
    recorder = Recorder(path, max_bytes=size - 100)
    for part in (hooks[:half], hooks[half:]):
        for hook in part:
            recorder.record(hook.source, hook.at, hook.raw())
        task = asyncio.create_task(recorder.run())
        await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert (tmp_path / "webhooks.jsonl.1").exists()
    alerts = hist.read_recordings([path], rules, as_of=END)
    assert [p.name for p in alerts.files] == ["webhooks.jsonl.1", "webhooks.jsonl"]
    received = alerts.events[alerts.events["outcome"] != "expire"]
    assert len(received) == len(hooks)


def test_recordings_of_two_replicas_are_merged_by_time(
    rules: RuleSet, recorded: Path, tmp_path: Path
) -> None:
    lines = recorded.read_bytes().splitlines(keepends=True)
    (tmp_path / "a.jsonl").write_bytes(b"".join(lines[0::2]))
    (tmp_path / "b.jsonl").write_bytes(b"".join(lines[1::2]))
    one = hist.read_recordings([recorded], rules, as_of=END)
    two = hist.read_recordings([tmp_path / "b.jsonl", tmp_path / "a.jsonl"], rules, as_of=END)
    assert two.events["outcome"].tolist() == one.events["outcome"].tolist()
    assert [i.id for i in two.incidents] == [i.id for i in one.incidents]


async def test_unreadable_lines_are_counted_and_named_in_the_report(
    store: MemoryState, rules: RuleSet, recorded: Path
) -> None:
    with recorded.open("ab") as handle:
        handle.write(b'{"source": "generic", "received_at": "2026-03-20T00:00:00Z", "bo')
    found = hist.read_recordings([recorded], rules, as_of=END)
    assert found.skipped == 1
    sources = hist.Sources(alert_files=(recorded,))
    report = rep.build(await hist.load(sources, rules, PERIOD, as_of=END))
    assert "1 recorded lines could not be read and were skipped." in report.notes


def test_markdown_html_and_csv_carry_the_same_tables(report: rep.Report) -> None:
    files = render.outputs(report, "md")
    assert set(files) == {
        "report.md",
        "incidents_per_week.png",
        "alerts_per_week.png",
        "sla_compliance.png",
    }
    assert all(files[name].startswith(b"\x89PNG") for name in files if name.endswith(".png"))
    text = files["report.md"].decode()
    assert "![incidents per week](incidents_per_week.png)" in text
    assert "| orders-db | dba | 3 | INC-1001, INC-1003, INC-1005 |" in text
    page = render.outputs(report, "html")["report.html"].decode()
    first = page.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(first).startswith(b"\x89PNG")
    shown = [t for t in report.tables if len(t.frame)]
    assert page.count("<table>") == len(shown) + 1  # and the headline
    csv = render.outputs(report, "csv")
    assert {f"{t.name}.csv" for t in report.tables} | {"summary.csv"} == set(csv)
    incidents = csv["incidents.csv"].decode().splitlines()
    assert incidents[1].startswith(
        "INC-1001,P1,resolved,Checkout and browse degraded: orders-db failing,"
        "2026-03-02 09:00:00,orders-db,dba,api-gateway; checkout; frontend; orders-db,0.0,3.0,50.0,"
    )


def test_a_report_does_not_depend_on_when_alerts_were_cut_before_the_period(
    store: MemoryState, rules: RuleSet, tmp_path: Path
) -> None:
    """Alerts before the period still run through the engine (state carries over) but are
    not counted in it."""
    events = [
        e for e in shop_history() if isinstance(e, Webhook) and e.at >= SINCE - timedelta(days=1)
    ]
    path = tmp_path / "late.jsonl"
    path.write_bytes(b"".join(e.record() + b"\n" for e in events))
    report = rep.build(asyncio.run(history_of(store, rules, [path])))
    noise = {r["measure"]: r["value"] for r in rows(report, "noise")}
    assert noise["alert reports received"] == ALERT_REPORTS
