"""The call list: who to ring, why, and since when; the same list in the CLI and the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reminders.cli import main
from reminders.config import Settings, get_settings
from reminders.planning.followups import set_paused
from reminders.staff.drift import drifting
from tests.harness import Clinic, local, row


@pytest.fixture
def clinic(settings: Settings, tmp_path: Path) -> Clinic:
    return Clinic(settings, tmp_path)


def visit(
    number: int, starts_at: str, status: str = "booked", patient: str = "P1", **extra: Any
) -> dict[str, Any]:
    return row(
        patient_id=patient,
        series_id=f"{patient}-S",
        session_id=f"{patient}-{number}",
        session_number=number,
        starts_at=starts_at,
        status=status,
        planned_sessions=4,
        **extra,
    )


def on_list(clinic: Clinic, when: str) -> list[tuple[str, str, str]]:
    return [
        (r["patient_id"], r["reason"], r["since"]) for r in drifting(clinic.settings, local(when))
    ]


def test_a_no_show_with_nothing_booked_is_on_the_call_list_the_next_day(clinic: Clinic) -> None:
    # The patient: last treated 27 Oct, no-show 17 Nov, nothing booked.
    rows = [visit(1, "2026-10-27T10:00", "completed"), visit(2, "2026-11-17T10:00", "no_show")]
    clinic.import_rows(rows, local("2026-11-17 12:00"))

    assert on_list(clinic, "2026-11-17 23:59") == []
    assert on_list(clinic, "2026-11-18 00:01") == [("P1", "no_show", "2026-11-18")]
    (record,) = drifting(clinic.settings, local("2026-12-06 10:00"))
    assert record["last_session"]["session_id"] == "P1-2"
    assert (record["days_overdue"], record["next_due"]) == (
        19,
        local("2026-11-17 10:00").isoformat(),
    )


def test_a_no_show_who_books_again_leaves_the_call_list(clinic: Clinic) -> None:
    rows = [visit(1, "2026-10-27T10:00", "completed"), visit(2, "2026-11-17T10:00", "no_show")]
    clinic.import_rows(rows, local("2026-11-17 12:00"))
    clinic.import_rows([*rows, visit(3, "2026-11-24T10:00")], local("2026-11-18 09:00"))

    assert on_list(clinic, "2026-11-18 09:01") == []


def test_an_overdue_series_is_on_the_list_from_its_due_date_plus_the_tolerance(
    clinic: Clinic,
) -> None:
    # A cancellation never moves the due date: 5 Jan + 21 days, then the 7 days' tolerance.
    rows = [visit(1, "2026-01-05T10:00", "completed"), visit(2, "2026-01-26T10:00", "cancelled")]
    clinic.import_rows(rows, local("2026-01-20 09:00"))

    assert on_list(clinic, "2026-02-02 10:00") == []
    assert on_list(clinic, "2026-02-02 10:01") == [("P1", "overdue", "2026-02-02")]


def test_complete_and_paused_series_are_never_on_the_list(clinic: Clinic) -> None:
    done = [visit(n, f"2026-0{n}-05T10:00", "completed", patient="DONE") for n in (1, 2, 3, 4)]
    paused = [visit(1, "2026-01-05T10:00", "completed", patient="PAUSE")]
    clinic.import_rows([*done, *paused], local("2026-04-05 18:00"))
    set_paused(clinic.settings, "PAUSE-S", True, local("2026-04-05 18:00"))

    assert on_list(clinic, "2026-12-01 10:00") == []


def test_the_most_overdue_come_first_and_a_fresh_no_show_after(clinic: Clinic) -> None:
    rows = [
        visit(1, "2026-01-05T10:00", "completed", patient="A"),
        visit(1, "2026-02-01T10:00", "completed", patient="B"),
        visit(1, "2026-03-01T10:00", "no_show", patient="C"),
    ]
    clinic.import_rows(rows, local("2026-03-01 18:00"))

    assert [p for p, _, _ in on_list(clinic, "2026-03-02 09:00")] == ["A", "B", "C"]


def test_the_cli_lists_the_same_series_with_their_reason(
    clinic: Clinic,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
) -> None:
    rows = [visit(1, "2026-10-27T10:00", "completed"), visit(2, "2026-11-17T10:00", "no_show")]
    clinic.import_rows(rows, local("2026-11-17 12:00"))
    monkeypatch.setenv("REMINDERS_DATABASE_URL", database_url)
    get_settings.cache_clear()
    now = "2026-11-18T09:00:00-07:00"

    assert main(["drift", "--json", "--now", now]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == drifting(clinic.settings, local("2026-11-18 09:00"))
    assert main(["drift", "--now", now]) == 0
    assert "no_show since 2026-11-18" in capsys.readouterr().out
