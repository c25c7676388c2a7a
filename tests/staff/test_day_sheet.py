"""The day sheet's sessions and the practitioners its filter offers."""

from __future__ import annotations

from pathlib import Path

from reminders import store
from reminders.config import Settings
from reminders.staff.day_sheet import practitioners
from tests.harness import Clinic, local, row


def test_the_filter_offers_the_days_practitioners_and_the_one_chosen(
    settings: Settings, tmp_path: Path
) -> None:
    clinic = Clinic(settings, tmp_path)
    clinic.import_rows(
        [
            row(),  # Dr. Chen on the 10th
            row(
                session_id="S1-2",
                session_number=2,
                starts_at="2026-03-10T16:00:00-06:00",
                practitioner="Dr. Adams",
            ),
            row(
                session_id="S1-3",
                session_number=3,
                starts_at="2026-03-24T14:00:00-06:00",
                practitioner="Dr. Roy",
            ),
        ],
        local("2026-03-01 09:00"),
    )
    start, end = local("2026-03-10 00:00"), local("2026-03-11 00:00")
    with store.transaction(settings.database_url) as db:
        that_day = practitioners(db, start, end)
        chosen = practitioners(db, start, end, "Dr. Roy")

    assert that_day == ["Dr. Adams", "Dr. Chen"]
    assert chosen == ["Dr. Adams", "Dr. Chen", "Dr. Roy"]
