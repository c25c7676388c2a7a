"""Quiet hours and daylight saving: SMS land at sensible local times."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from reminders.config import ReminderRule, Settings
from tests.harness import Clinic, local, reminders_only, row

BOOKED = local("2026-02-20 09:00")


@pytest.fixture
def clinic(settings: Settings, tmp_path: Path) -> Clinic:
    return Clinic(reminders_only(settings), tmp_path)


def sms_rule(offset: timedelta) -> list[ReminderRule]:
    return [ReminderRule(name="sms", channel="sms", offset=offset)]


def due(clinic: Clinic) -> list[str]:
    return [m["due_at"] for m in clinic.log(channel="sms")]


def test_an_sms_due_in_quiet_hours_goes_out_when_they_end(
    settings: Settings, tmp_path: Path
) -> None:
    clinic = Clinic(
        reminders_only(settings).model_copy(update={"rules": sms_rule(timedelta(hours=-24))}),
        tmp_path,
    )
    clinic.import_rows([row(starts_at="2026-03-10T07:00-06:00")], BOOKED)

    assert due(clinic) == [local("2026-03-09 08:00").isoformat()]
    assert clinic.tick(local("2026-03-09 07:59")).claimed == 0
    assert clinic.tick(local("2026-03-09 08:00")).outcomes["sent"] == 1


def test_an_sms_goes_before_the_window_when_its_end_is_after_the_session(
    settings: Settings, tmp_path: Path
) -> None:
    clinic = Clinic(
        reminders_only(settings).model_copy(update={"rules": sms_rule(timedelta(hours=-2))}),
        tmp_path,
    )
    clinic.import_rows([row(starts_at="2026-03-10T07:30-06:00")], BOOKED)

    assert due(clinic) == [local("2026-03-09 20:59").isoformat()]
    assert clinic.tick(local("2026-03-09 20:59")).outcomes["sent"] == 1


def test_an_sms_first_found_due_in_quiet_hours_waits_for_morning(clinic: Clinic) -> None:
    clinic.import_rows([row(starts_at="2026-03-10T10:00-06:00")], BOOKED)
    report = clinic.tick(local("2026-03-09 22:30"))  # the worker was down all day

    (sms,) = clinic.log(channel="sms")
    assert report.outcomes["planned"] == 1
    assert (sms["status"], sms["due_at"]) == ("planned", local("2026-03-10 08:00").isoformat())
    assert sms["reason"] == "quiet hours: deferred to 08:00"
    assert clinic.tick(local("2026-03-10 08:00")).outcomes["sent"] == 1


def test_an_sms_first_found_in_quiet_hours_expires_if_the_session_starts_first(
    settings: Settings, tmp_path: Path
) -> None:
    clinic = Clinic(
        reminders_only(settings).model_copy(update={"rules": sms_rule(timedelta(hours=-2))}),
        tmp_path,
    )
    clinic.import_rows([row(starts_at="2026-03-10T07:30-06:00")], BOOKED)
    clinic.tick(local("2026-03-09 21:30"))

    (sms,) = clinic.log(channel="sms")
    assert (sms["status"], sms["reason"]) == (
        "expired",
        "quiet hours last until the session starts",
    )


def test_email_is_not_held_by_quiet_hours(clinic: Clinic) -> None:
    clinic.import_rows([row(starts_at="2026-03-10T23:00-06:00")], BOOKED)
    clinic.tick(local("2026-03-07 23:00"))

    assert [m["channel"] for m in clinic.outbox()] == ["email"]


def test_quiet_hours_can_be_turned_off(settings: Settings, tmp_path: Path) -> None:
    quiet = settings.quiet_hours.model_copy(update={"start": settings.quiet_hours.end})
    clinic = Clinic(reminders_only(settings).model_copy(update={"quiet_hours": quiet}), tmp_path)
    clinic.import_rows([row(starts_at="2026-03-10T06:00-06:00")], BOOKED)

    assert due(clinic) == [local("2026-03-09 06:00").isoformat()]


@pytest.mark.parametrize(
    ("session", "reminder", "shown"),
    [
        # Spring forward on Sunday 2026-03-08: Saturday is UTC-7, Sunday UTC-6.
        ("2026-03-08T10:00:00-06:00", "2026-03-07 10:00", "10:00"),
        # Fall back on Sunday 2026-11-01: Saturday is UTC-6, Sunday UTC-7.
        ("2026-11-01T10:00:00-07:00", "2026-10-31 10:00", "10:00"),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_a_day_before_reminder_keeps_the_wall_clock_time_across_dst(
    clinic: Clinic, session: str, reminder: str, shown: str
) -> None:
    clinic.import_rows([row(starts_at=session)], BOOKED)

    assert due(clinic) == [local(reminder).isoformat()]
    clinic.tick(local(reminder))
    (sms,) = [m for m in clinic.outbox() if m["channel"] == "sms"]
    assert shown in sms["body"]
    assert "9:00" not in sms["body"] and "11:00" not in sms["body"]
