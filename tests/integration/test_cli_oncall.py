"""`incidentd oncall TEAM [--config DIR] [--at TIME]` as a user runs it: one person a line
with what puts them on call and until when; one-line errors and exit codes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example"


def incidentd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "incidentd", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def oncall(team: str, *args: str, config: Path = EXAMPLE) -> subprocess.CompletedProcess[str]:
    return incidentd("oncall", team, "--config", str(config), *args)


def test_prints_who_is_on_call_at_a_local_time_with_the_layer_and_the_end_of_the_shift() -> None:
    """Without an offset, --at is on the team's wall clock (Paris: CEST since 03-29)."""
    result = oncall("payments-team", "--at", "2026-03-30T09:59")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "david  layer weekly  until 2026-03-30T10:00:00+02:00\n"
    assert result.stderr == ""


def test_an_instant_with_an_offset_is_taken_as_it_is() -> None:
    result = oncall("payments-team", "--at", "2026-03-30T08:00:00Z")  # 10:00 CEST
    assert result.returncode == 0, result.stderr
    assert result.stdout == "alice  layer weekly  until 2026-04-06T10:00:00+02:00\n"


def test_an_override_is_shown_with_its_note() -> None:
    result = oncall("payments-team", "--at", "2026-12-25T12:00:00+01:00")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "david  override (Christmas swap with chloe)  until 2026-12-26T10:00:00+01:00\n"
    )


def test_several_people_get_one_line_each(tmp_path: Path) -> None:
    (tmp_path / "oncall.yaml").write_text(
        "people:\n"
        "  ann: {slack: U01ANN}\n"
        "  benedict: {slack: U02BEN}\n"
        "teams:\n"
        "  ops:\n"
        "    time_zone: UTC\n"
        "    overrides:\n"
        "      - {person: ann, start: 2026-05-01T00:00, end: 2026-05-02T00:00}\n"
        "      - {person: benedict, start: 2026-05-01T06:00, end: 2026-05-01T18:00, note: launch}\n"
    )
    result = oncall("ops", "--at", "2026-05-01T12:00Z", config=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ann       override           until 2026-05-02T00:00:00+00:00",
        "benedict  override (launch)  until 2026-05-01T18:00:00+00:00",
    ]


def test_now_is_the_default_time() -> None:
    result = oncall("identity")
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert line.split()[0] in {"wanda", "xavier", "yann"}
    assert "layer daily  until " in line


def test_an_unknown_team_is_one_line_on_stderr_and_exit_1() -> None:
    result = oncall("payments")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "incidentd: no on-call schedule for team 'payments' in oncall.yaml "
        "(did you mean 'payments-team'?)\n"
    )


def test_an_empty_schedule_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "oncall.yaml").write_text("teams:\n  ops: {time_zone: Europe/Paris}\n")
    result = oncall("ops", "--at", "2026-05-01T12:00", config=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        "incidentd: nobody is on call for team 'ops' at 2026-05-01T12:00:00+02:00: "
        "its schedule has no layers\n"
    )


def test_a_bad_time_is_a_usage_error() -> None:
    result = oncall("web", "--at", "next tuesday")
    assert result.returncode == 2
    assert result.stderr == (
        "incidentd: --at: 'next tuesday' is not a time like 2026-03-29T09:00:00+02:00\n"
    )


def test_an_invalid_oncall_yaml_is_reported_with_its_line_and_no_traceback(
    tmp_path: Path,
) -> None:
    shutil.copy(EXAMPLE / "services.yaml", tmp_path / "services.yaml")
    (tmp_path / "oncall.yaml").write_text(
        "teams:\n  web:\n    time_zone: Europe/Paris\n    layers:\n"
        "      - {name: weekly, rotation: [emma], start: 2026-01-05T09:00, every: 1w}\n"
    )
    result = oncall("web", config=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr == (
        "oncall.yaml:5: team 'web', layer 'weekly': no person named 'emma' under people:\n"
    )
