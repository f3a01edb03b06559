"""Report computations and renderers on small hand-made histories: periods, records read
defensively, how each clock is measured, and the tables' edge cases. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from incidentd.errors import InputError
from incidentd.insight import history as hist
from incidentd.insight import records as rec
from incidentd.insight import report as rep
from incidentd.insight import report_render as render
from tests.unit.alerts import T0, at

OWNERS = {"orders-db": "dba", "checkout": "payments-team", "auth": "identity"}
AS_OF = at(60 * 24 * 10)


def record(
    number: int,
    *,
    minute: float = 0,
    priority: str = "P1",
    status: str = "declared",
    sla: dict[str, Any] | None = None,
    **fields: Any,
) -> rec.IncidentRecord:
    """A record from the JSON form; `*_at` fields are minutes after T0."""
    data: dict[str, Any] = {
        "id": f"INC-{number}",
        "number": number,
        "title": f"incident {number}",
        "status": status,
        "priority": priority,
        "declared_at": at(minute).isoformat(),
    }
    for name, value in fields.items():
        data[name] = at(value).isoformat() if name.endswith("_at") else value
    return rec.record_from_view(data, sla=sla or {})


def frame(*records: rec.IncidentRecord) -> pd.DataFrame:
    return rec.incidents_frame(records, OWNERS)


# --- periods -------------------------------------------------------------------------------------


def test_when_is_rfc3339_with_an_offset_or_a_date() -> None:
    assert rec.parse_when("2026-03-02T10:30:00+01:00") == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert rec.parse_when("2026-03-02T09:30Z") == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert rec.parse_when("2026-03-02") == datetime(2026, 3, 2, tzinfo=UTC)
    assert rec.parse_when("2026-03-02", end=True) == datetime(2026, 3, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("yesterday", "is not a time like 2026-03-02T09:00:00Z or a date like 2026-03-02"),
        ("2026-02-30", "is not a time like"),
        ("2026-03-02T09:00", "has no UTC offset: add Z or one like +01:00"),
        ("9999-12-31", "is not a time like"),
    ],
)
def test_a_bad_when_says_what_is_expected(text: str, says: str) -> None:
    with pytest.raises(InputError, match=r"^--until: ") as raised:
        rec.period_of(None, text, now=T0)
    assert says in raised.value.message


def test_the_period_defaults_to_the_28_days_before_now_and_must_not_be_empty() -> None:
    assert rec.period_of(None, None, now=T0) == rec.Period(T0 - timedelta(days=28), T0)
    whole_day = rec.period_of("2026-03-02", "2026-03-02", now=T0)
    assert whole_day == rec.Period(
        datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)
    )
    with pytest.raises(InputError, match=r"^--since \(2026-03-05 00:00 UTC\) is not before"):
        rec.period_of("2026-03-05", "2026-03-04T00:00Z", now=T0)
    with pytest.raises(InputError, match=r"^--since: 'x' is not a time"):
        rec.period_of("x", None, now=T0)


def test_a_url_is_shown_without_its_password() -> None:
    assert hist.redact("redis://:s3cret@db:6379/0") == "redis://:***@db:6379/0"
    assert hist.redact("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


# --- records -------------------------------------------------------------------------------------


def test_a_record_without_followups_says_so_and_one_with_them_is_read_defensively() -> None:
    assert record(1).followups is None
    items = [
        {"id": "F1", "title": "Alert on replica lag", "owner": "dba", "due": "2026-03-05",
         "status": "open"},
        {"id": "F2", "title": "Runbook", "owner": None, "due": "2026-03-20T12:00:00+00:00",
         "status": "open"},
        {"id": "F3", "title": "Fix failover", "due": "2026-03-03", "status": "done"},
        {"id": "F4", "title": "Old idea", "status": "cancelled"},
        {"title": "", "status": "open"},
        "not an object",
        {"id": "F5", "title": "No date", "due": "soon"},
    ]  # fmt: skip
    found = record(1, followups=items).followups
    assert found is not None
    assert [(f.id, f.done, f.due) for f in found] == [
        ("F1", False, datetime(2026, 3, 6, tzinfo=UTC)),  # a date is due at its end
        ("F2", False, datetime(2026, 3, 20, 12, tzinfo=UTC)),
        ("F3", True, datetime(2026, 3, 4, tzinfo=UTC)),
        ("F4", True, None),
        ("F5", False, None),
    ]
    as_of = datetime(2026, 3, 10, tzinfo=UTC)
    assert [f.id for f in found if f.overdue(as_of)] == ["F1"]
    assert record(2, followups="nonsense").followups == ()


def test_a_record_that_is_not_an_incident_is_refused_naming_the_field() -> None:
    with pytest.raises(rec.HistoryError, match=r"incident 'INC-9': declared_at: .*time zone"):
        rec.record_from_view(
            {"id": "INC-9", "number": 9, "title": "t", "status": "declared", "priority": "P1",
             "declared_at": "2026-03-02T09:00:00"},
            sla={},
        )  # fmt: skip


def test_teams_own_the_root_causes_or_else_the_impacted_services() -> None:
    assert rec.teams_of(record(1, root_causes=["orders-db"], services=["checkout"]), OWNERS) == (
        "dba",
    )
    assert rec.teams_of(record(2, services=["checkout", "auth"]), OWNERS) == (
        "identity",
        "payments-team",
    )
    assert rec.teams_of(record(3, root_causes=["gone"]), OWNERS) == (rec.UNMAPPED_TEAM,)
    assert rec.teams_of(record(4), OWNERS) == ()


# --- clocks --------------------------------------------------------------------------------------


def test_clocks_are_measured_as_the_sla_clocks_measure_them() -> None:
    spans = rep.minutes(
        frame(
            record(1, minute=2, started_at=0, acknowledged_at=7, resolved_at=62),
            record(2, mitigated_at=30, resolved_at=90),  # never acknowledged: mitigation stops it
            record(3, resolved_at=45),  # straight to resolved
            record(4, reopened_at=100, acknowledged_at=110),  # reopened: clocks restart
            record(5),  # nothing yet
        )
    )
    assert spans["declare"].tolist() == [2, 0, 0, 0, 0]
    assert spans["acknowledge"].tolist()[:4] == [5, 30, 45, 10]
    assert pd.isna(spans["acknowledge"][4])
    assert spans["resolve"].tolist()[:3] == [60, 90, 45]
    assert spans["resolve"][3:].isna().all()


def test_response_times_leave_out_incidents_that_did_not_reach_a_step() -> None:
    table = rep.response_times(
        frame(record(1, acknowledged_at=10), record(2, acknowledged_at=20), record(3))
    )
    row = table[(table["step"] == "acknowledge") & (table["priority"] == "all")].iloc[0]
    assert (row["incidents"], row["mean_min"], row["p90_min"]) == (2, 15.0, 19.0)
    resolved = table[(table["step"] == "resolve") & (table["priority"] == "all")].iloc[0]
    assert resolved["incidents"] == 0
    assert pd.isna(resolved["mean_min"])


def test_sla_compliance_counts_running_clocks_apart() -> None:
    clock = {"target_seconds": 300.0, "took_seconds": None}
    table = rep.sla_compliance(
        frame(
            record(1, sla={"acknowledge": {**clock, "state": "running"}}),
            record(2, sla={"acknowledge": {**clock, "state": "running"}}),
        )
    )
    [row] = table.to_dict("records")
    assert (row["met"], row["breached"], row["running"], row["compliance_pct"]) == (0, 0, 2, None)
    assert row["target_min"] == 5


# --- tables --------------------------------------------------------------------------------------


def test_weeks_start_on_monday_and_quiet_weeks_are_listed() -> None:
    period = rec.Period(datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 24, tzinfo=UTC))
    table = rep.by_week(
        frame(record(1, minute=60 * 24 * 2), record(2, minute=60 * 24 * 15)), period
    )
    assert [str(w) for w in table["week"]] == [
        "2026-03-02",
        "2026-03-09",
        "2026-03-16",
        "2026-03-23",
    ]
    assert table["incidents"].tolist() == [1, 0, 1, 0]
    assert "alert_firings" not in table


def test_recurring_counts_an_incident_for_each_of_its_root_causes() -> None:
    table = rep.recurring(
        frame(
            record(1, root_causes=["orders-db", "checkout"], priority="P2"),
            record(2, minute=5, root_causes=["orders-db"], priority="P1"),
            record(3, minute=9, root_causes=["checkout"], priority="P3"),
            record(4, minute=9, root_causes=["auth"]),
        ),
        OWNERS,
    )
    assert table[
        ["root_cause", "team", "incidents", "ids", "highest_priority"]
    ].values.tolist() == [
        ["checkout", "payments-team", 2, "INC-1, INC-3", "P2"],
        ["orders-db", "dba", 2, "INC-1, INC-2", "P1"],
    ]


def _events(*rows: tuple[float, str, str, str]) -> pd.DataFrame:
    """(minute, fingerprint, outcome, name) -> alert events of one service."""
    out = pd.DataFrame(
        [
            {"at": at(m), "fingerprint": fp, "outcome": o, "group_id": f"G-{fp}",
             "source": "generic", "name": n, "service": None if n == "Lost" else "search",
             "severity": "warning"}
            for m, fp, o, n in rows
        ],
        columns=list(hist.ALERT_COLUMNS),
    )  # fmt: skip
    out["at"] = pd.to_datetime(out["at"], utc=True)
    return out


def test_noisiest_counts_firings_of_alerts_never_attached_per_fingerprint() -> None:
    events = _events(
        (0, "a1", "new", "Slow"),
        (2, "a1", "resolve", "Slow"),
        (10, "a1", "reopen", "Slow"),
        (11, "a1", "repeat", "Slow"),
        (16, "a1", "expire", "Slow"),
        (20, "a2", "new", "Slow"),  # another instance, still firing
        (0, "b1", "new", "Slow"),  # attached to an incident: not noise
        (5, "c1", "new", "Lost"),
        (6, "c1", "resolve", "Lost"),
    )
    table = rep.noisiest(events, frozenset({"b1"}), top=10)
    got = table[["name", "service", "firings", "instances", "reports"]].values.tolist()
    assert got == [["Slow", "search", 3, 2, 5], ["Lost", rep.UNMAPPED_SERVICE, 1, 1, 2]]
    assert table["median_minutes_firing"].tolist() == [pytest.approx(4.0), pytest.approx(1.0)]
    assert len(rep.noisiest(events, frozenset(), top=1)) == 1


def test_occurrences_pair_each_firing_with_its_end() -> None:
    found = hist.occurrences(
        _events((0, "a", "new", "X"), (3, "a", "resolve", "X"), (7, "a", "reopen", "X"))
    )
    assert found["minutes"].tolist()[0] == 3
    assert pd.isna(found["ended"][1])


def test_noise_without_firings_has_no_ratio() -> None:
    table = rep.noise(frame(record(1)), _events())
    values = dict(zip(table["measure"], table["value"], strict=True))
    assert values["incidents declared"] == 1
    assert values["firings per incident"] == 0
    assert values["noise reduction pct"] is None


def _history(*records: rec.IncidentRecord) -> hist.History:
    period = rec.Period(T0 - timedelta(days=1), T0 + timedelta(days=20))
    return hist.History(period, AS_OF, records, None, OWNERS, ("hand-made",))


def test_followups_absent_from_the_records_are_said_to_be_so() -> None:
    report = rep.build(_history(record(1)))
    assert rep.NO_FOLLOWUPS in report.notes
    assert "_Not recorded._" in render.markdown(report)
    assert any("no recorded webhooks were given" in n for n in report.notes)


def test_open_followups_are_listed_overdue_first() -> None:
    items = [
        {"id": "F1", "title": "Later", "due": "2026-04-30", "status": "open"},
        {"id": "F2", "title": "Late", "owner": "dba", "due": "2026-03-03", "status": "open"},
        {"id": "F3", "title": "Done", "due": "2026-03-03", "status": "done"},
    ]
    report = rep.build(_history(record(1, followups=items), record(2, minute=5, followups=[])))
    table = report.table("followups").frame
    assert table[["id", "overdue"]].values.tolist() == [["F2", True], ["F1", False]]
    assert ("Follow-up actions open", "2 of 3 (1 overdue)") in report.headline
    assert rep.NO_FOLLOWUPS not in report.notes


# --- renderers -----------------------------------------------------------------------------------


def test_cells_read_well() -> None:
    assert render.cell(None) == "—"
    assert render.cell(float("nan")) == "—"
    assert render.cell(pd.NaT) == "—"
    assert render.cell(2.25) == "2.2"
    assert render.cell(pd.Timestamp("2026-03-02T09:00:30Z")) == "2026-03-02 09:00"
    assert render.cell(("a", "b")) == "a, b"
    assert render.cell(True) == "yes"


def test_markdown_and_html_escape_what_people_typed() -> None:
    evil = record(1, title="a | b <script>alert(1)</script>\nnext")
    report = rep.build(_history(evil))
    text = render.markdown(report)
    assert "a \\| b <script>alert(1)</script> next" in text
    page = render.html_document(report, {})
    assert "<script>" not in page
    assert "a | b &lt;script&gt;" in page


def test_csv_joins_lists_and_writes_times_plainly() -> None:
    report = rep.build(_history(record(1, root_causes=["orders-db", "checkout"])))
    [_, line] = render.csv_files(report)["incidents.csv"].splitlines()
    assert line.startswith("INC-1,P1,declared,incident 1,2026-03-02 09:00:00,orders-db; checkout,")
