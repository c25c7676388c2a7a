from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from reminders import store
from reminders.config import Settings
from reminders.feedback.replies import receive
from reminders.intake.importer import ImportSummary, import_file
from reminders.intake.schedule_file import ScheduleError
from reminders.models import Message, MessageEvent, Patient, Session
from tests.harness import Clinic, local, reminders_only, row, write_csv

BOOKED = local("2026-03-01 09:00")
LATER = local("2026-03-05 09:00")
AVERY = "+14035550101"


@pytest.fixture
def clinic(settings: Settings, tmp_path: Path) -> Clinic:
    return Clinic(reminders_only(settings), tmp_path)


def series_of(count: int, **overrides: Any) -> list[dict[str, Any]]:
    return [
        row(
            session_id=f"S1-{n}",
            session_number=n,
            starts_at=f"2026-03-{9 + n:02d}T14:00:00-06:00",
            **overrides,
        )
        for n in range(1, count + 1)
    ]


def session_status(settings: Settings, external_id: str) -> str:
    with store.transaction(settings.database_url) as db:
        return db.scalars(select(Session.status).where(Session.external_id == external_id)).one()


def footprint(settings: Settings) -> tuple[int, int, list[tuple[Any, ...]]]:
    """Events, messages, and every session as stored: what a write would change."""
    with store.transaction(settings.database_url) as db:
        events = db.scalar(select(func.count()).select_from(MessageEvent)) or 0
        messages = db.scalar(select(func.count()).select_from(Message)) or 0
        sessions = [
            tuple(r)
            for r in db.execute(
                select(Session.external_id, Session.starts_at, Session.status).order_by(Session.id)
            )
        ]
    return events, messages, sessions


def import_path(clinic: Clinic, rows: list[dict[str, Any]], now: Any) -> ImportSummary:
    path = write_csv(clinic.folder / "schedule.csv", rows)
    return import_file(clinic.settings, path, now)


def test_a_confirmation_survives_a_re_import_that_still_says_booked(clinic: Clinic) -> None:
    clinic.import_rows([row()], BOOKED)
    assert receive(clinic.settings, "SM-1", AVERY, "C", LATER) == "confirm"

    again = clinic.import_rows([row()], LATER)

    assert session_status(clinic.settings, "S1-1") == "confirmed"
    assert again.updated["sessions"] == 0
    assert again.messages_changed == 0


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"starts_at": "2026-03-10T15:00:00-06:00"}, "booked"),
        ({"practitioner": "Dr. Osei"}, "booked"),
        ({"location": "Room 5"}, "booked"),
        ({"duration_minutes": 60}, "booked"),
        ({"status": "cancelled"}, "cancelled"),
        ({"status": "completed"}, "completed"),
    ],
)
def test_a_real_change_of_the_session_resets_its_confirmation(
    clinic: Clinic, change: dict[str, Any], status: str
) -> None:
    clinic.import_rows([row()], BOOKED)
    receive(clinic.settings, "SM-1", AVERY, "C", LATER)

    again = clinic.import_rows([row(**change)], LATER)

    assert session_status(clinic.settings, "S1-1") == status
    assert again.updated["sessions"] == 1


def test_a_change_of_the_patient_alone_keeps_the_confirmation(clinic: Clinic) -> None:
    clinic.import_rows([row()], BOOKED)
    receive(clinic.settings, "SM-1", AVERY, "C", LATER)

    again = clinic.import_rows([row(email="avery.n@example.com")], LATER)

    assert again.updated == {"patients": 1, "series": 0, "sessions": 0}
    assert session_status(clinic.settings, "S1-1") == "confirmed"


def test_the_same_file_twice_writes_nothing_the_second_time(clinic: Clinic) -> None:
    rows = series_of(4)
    import_path(clinic, rows, BOOKED)
    before = footprint(clinic.settings)

    again = import_path(clinic, rows, LATER)

    assert footprint(clinic.settings) == before
    assert again.created == again.updated == {"patients": 0, "series": 0, "sessions": 0}
    assert again.messages_changed == 0
    assert again.rows == 4


def test_one_changed_row_re_plans_only_that_session(clinic: Clinic) -> None:
    rows = series_of(4)
    import_path(clinic, rows, BOOKED)
    events, messages, _ = footprint(clinic.settings)
    rows[2] = {**rows[2], "starts_at": "2026-03-12T16:00:00-06:00"}

    again = import_path(clinic, rows, LATER)

    assert again.updated == {"patients": 0, "series": 0, "sessions": 1}
    # Its two reminders withdrawn and two planned for the new time; nothing else.
    assert again.messages_changed == 4
    after_events, after_messages, _ = footprint(clinic.settings)
    assert (after_events - events, after_messages - messages) == (4, 2)
    with store.transaction(clinic.settings.database_url) as db:
        touched = db.scalars(
            select(Session.external_id)
            .join(Message)
            .join(MessageEvent)
            .where(MessageEvent.at == LATER)
            .distinct()
        ).all()
    assert touched == ["S1-3"]


def test_one_bad_row_at_the_end_of_a_long_file_writes_nothing(clinic: Clinic) -> None:
    # Longer than a chunk, so earlier rows were already written when the bad one is met.
    rows = [row(patient_id=f"P{n}", series_id=f"SER{n}", session_id=f"S{n}") for n in range(2500)]
    rows.append(row(patient_id="P9999", series_id="SER9999", session_id="S9999", phone="12"))

    with pytest.raises(ScheduleError) as caught:
        import_path(clinic, rows, BOOKED)

    assert [str(p) for p in caught.value.problems] == [
        "row 2501: phone: '12' is not a valid phone number"
    ]
    with store.transaction(clinic.settings.database_url) as db:
        assert db.scalar(select(func.count()).select_from(Patient)) == 0


def test_a_row_that_contradicts_the_store_writes_nothing(clinic: Clinic) -> None:
    clinic.import_rows([row()], BOOKED)
    before = footprint(clinic.settings)
    moved = [
        row(session_id="S1-2", session_number=2, starts_at="2026-03-20T14:00:00-06:00"),
        row(patient_id="P2", phone="+14035550102", series_id="S2", session_id="S1-1"),
    ]

    with pytest.raises(ScheduleError) as caught:
        clinic.import_rows(moved, LATER)

    assert [str(p) for p in caught.value.problems] == [
        "row 2: series_id: session S1-1 belongs to series S1, not S2"
    ]
    assert footprint(clinic.settings) == before


def test_a_series_filed_under_another_patient_is_a_problem_of_its_row(clinic: Clinic) -> None:
    clinic.import_rows([row()], BOOKED)

    with pytest.raises(ScheduleError) as caught:
        clinic.import_rows([row(patient_id="P2", session_id="S9")], LATER)

    assert [str(p) for p in caught.value.problems] == [
        "row 1: series_id: series S1 belongs to patient P1, not P2"
    ]


def test_a_dry_run_reports_the_changes_and_writes_none(clinic: Clinic) -> None:
    before = footprint(clinic.settings)
    path = write_csv(clinic.folder / "schedule.csv", series_of(2))

    summary = import_file(clinic.settings, path, BOOKED, dry_run=True)

    assert summary.created == {"patients": 1, "series": 1, "sessions": 2}
    assert summary.messages_changed == 4
    assert footprint(clinic.settings) == before


def test_the_import_reports_every_stage_it_goes_through(clinic: Clinic) -> None:
    seen: list[tuple[str, int, int]] = []
    path = write_csv(clinic.folder / "schedule.csv", series_of(3))

    import_file(clinic.settings, path, BOOKED, stages=lambda *step: seen.append(step))

    assert seen[-1] == ("planning", 1, 1)
    assert ("rows", 3, 3) in seen


def test_a_first_import_gives_each_planned_message_its_planned_event(clinic: Clinic) -> None:
    import_path(clinic, series_of(3), BOOKED)

    with store.transaction(clinic.settings.database_url) as db:
        trail = db.execute(
            select(Message.id, Message.reason, MessageEvent.status, MessageEvent.reason)
            .join(MessageEvent)
            .add_columns(MessageEvent.at, MessageEvent.actor)
            .order_by(Message.id)
        ).all()
        messages = db.scalar(select(func.count()).select_from(Message))
    assert messages == len({message_id for message_id, *_ in trail}) == len(trail) == 6
    for _, message_reason, status, reason, at, actor in trail:
        assert (status, reason, at, actor) == ("planned", message_reason, BOOKED, "system")
        assert reason.startswith("rule ")
