"""The message log a page at a time: every message once, latest activity first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reminders import store
from reminders.config import Settings
from reminders.staff.log_search import Cursor, LogFilters, search_log
from reminders.staff.message_log import messages
from tests.harness import Clinic, row

NOW = datetime(2026, 3, 1, 16, tzinfo=UTC)
EVERYTHING = LogFilters("", "", "", None, None)


def test_paging_down_by_cursor_lists_every_message_once_in_activity_order(
    settings: Settings, tmp_path: Path
) -> None:
    clinic = Clinic(settings, tmp_path)
    for day in range(7):  # planned a day apart: seven different activity times, ties within
        rows = [row(patient_id=f"P{day}", series_id=f"S{day}", session_id=f"S{day}-1")]
        clinic.import_rows(rows, NOW + timedelta(days=day))
    seen, cursor, pages = [], None, 0
    with store.transaction(settings.database_url) as db:
        while True:
            found, total, cursor = search_log(db, EVERYTHING, 3, cursor)
            seen += [(Cursor.of(m).at, m.id) for m in found]
            pages += 1
            if cursor is None:
                break

    assert sorted(m["id"] for m in messages(settings)) == sorted(i for _, i in seen)
    assert seen == sorted(seen, reverse=True)
    assert total == len(seen) and pages == -(-len(seen) // 3)


@pytest.mark.parametrize("text", ["", "nonsense", "20260301T160000.000000-x", "2026-1"])
def test_a_cursor_that_does_not_parse_is_the_first_page(text: str) -> None:
    assert Cursor.parse(text) is None


def test_a_cursor_survives_its_link() -> None:
    cursor = Cursor(datetime(2026, 3, 1, 16, 5, 7, 12, tzinfo=UTC), 42)

    assert Cursor.parse(str(cursor)) == cursor


def a_week_of_imports(settings: Settings, tmp_path: Path) -> None:
    clinic = Clinic(settings, tmp_path)
    for day in range(7):  # planned a day apart: seven different activity times, ties within
        rows = [row(patient_id=f"P{day}", series_id=f"S{day}", session_id=f"S{day}-1")]
        clinic.import_rows(rows, NOW + timedelta(days=day))


def test_paging_through_chosen_days_lists_their_messages_once_in_activity_order(
    settings: Settings, tmp_path: Path
) -> None:
    a_week_of_imports(settings, tmp_path)
    start, end = NOW + timedelta(days=2), NOW + timedelta(days=30)
    days = LogFilters("", "", "", start, end)
    seen, cursor = [], None
    with store.transaction(settings.database_url) as db:
        while True:
            found, total, cursor = search_log(db, days, 2, cursor)
            seen += [(Cursor.of(m).at, m.id) for m in found]
            if cursor is None:
                break

    due = [m for m in messages(settings) if start.isoformat() <= m["due_at"] < end.isoformat()]
    assert due and sorted(i for _, i in seen) == sorted(m["id"] for m in due)
    assert seen == sorted(seen, reverse=True) and total == len(seen)


def test_an_api_page_from_an_offset_is_that_slice_of_the_log(
    settings: Settings, tmp_path: Path
) -> None:
    a_week_of_imports(settings, tmp_path)
    every = [m["id"] for m in messages(settings)]

    assert [m["id"] for m in messages(settings, offset=3, limit=4)] == every[3:7]
    own = [m["id"] for m in messages(settings, patient_id="P5")]
    assert own and [m["id"] for m in messages(settings, patient_id="P5", offset=1)] == own[1:]
