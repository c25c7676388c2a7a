"""The worker's line per batch: counts by channel in words, never a number or an address."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from reminders import store
from reminders.config import Settings
from reminders.sending.claims import claim_due
from reminders.sending.dispatch import send_claimed
from reminders.worker.batch_log import count, describe_batch
from tests.harness import Clinic, local, reminders_only, row


@pytest.fixture
def clinic(settings: Settings, tmp_path: Path) -> Clinic:
    return Clinic(reminders_only(settings), tmp_path)


def send_batch(settings: Settings, now: datetime) -> str:
    with store.transaction(settings.database_url) as db:
        ids = claim_due(db, now, 100, 300)
    send_claimed(settings, ids, now)
    return describe_batch(settings, ids, now)


def test_a_batch_says_how_many_went_out_on_each_channel(clinic: Clinic, settings: Settings) -> None:
    clinic.import_rows(
        [
            row(),
            row(patient_id="P2", phone="+14035550102", email="", series_id="S2", session_id="S2-1"),
        ],
        local("2026-03-01 09:00"),
    )

    line = send_batch(clinic.settings, local("2026-03-09 14:00"))

    assert line.startswith("sent 2 SMS, 1 email")
    assert "+1403" not in line and "@" not in line


def test_an_sms_claimed_in_quiet_hours_is_said_to_be_held_until_they_end(
    clinic: Clinic, settings: Settings
) -> None:
    clinic.import_rows(
        [row(email="", starts_at="2026-03-10T20:50:00-06:00")], local("2026-03-01 09:00")
    )

    line = send_batch(clinic.settings, local("2026-03-09 21:05"))

    assert line == "1 SMS held for quiet hours until 08:00"


def test_an_empty_batch_says_nothing(settings: Settings) -> None:
    assert describe_batch(settings, [], local("2026-03-09 14:00")) == ""


def test_counts_name_the_channel_in_the_plural_that_reads_right() -> None:
    assert [count(1, "sms"), count(3, "sms"), count(1, "email"), count(2, "email")] == [
        "1 SMS",
        "3 SMS",
        "1 email",
        "2 emails",
    ]
