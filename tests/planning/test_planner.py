"""The planner after reschedules: the latest reminder on each channel names the current time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from reminders import store
from reminders.config import ReminderRule, Settings
from reminders.models import Message, MessageStatus, Session
from tests.harness import Clinic, local, reminders_only, row

BOOKED = local("2026-03-01 09:00")
# The clinic: a reminder the day before and one two hours before, by SMS only.
RULES = [
    ReminderRule(name="sms-24h", channel="sms", offset=timedelta(hours=-24)),
    ReminderRule(name="sms-2h", channel="sms", offset=timedelta(hours=-2)),
]


@pytest.fixture
def clinic(settings: Settings, tmp_path: Path) -> Clinic:
    return Clinic(reminders_only(settings).model_copy(update={"rules": RULES}), tmp_path)


def at(text: str) -> str:
    return f"{text}-06:00"


def sms_bodies(clinic: Clinic) -> list[str]:
    return [m["body"] for m in clinic.outbox() if m["channel"] == "sms"]


def test_a_session_moved_and_moved_back_is_last_told_at_its_own_time(
    settings: Settings, tmp_path: Path
) -> None:
    """The issue's patient, on the default rules: both reminders sent for 10:00; moved to
    14:00, both sent again; moved back to 10:00, the last word on each channel is 10:00."""
    clinic = Clinic(reminders_only(settings), tmp_path)
    clinic.import_rows([row(starts_at=at("2026-03-10T10:00"))], BOOKED)
    clinic.tick(local("2026-03-07 10:00"))
    clinic.tick(local("2026-03-09 10:00"))
    moved = clinic.import_rows([row(starts_at=at("2026-03-10T14:00"))], local("2026-03-09 11:00"))
    clinic.tick(local("2026-03-09 11:00"))
    clinic.tick(local("2026-03-09 14:00"))
    back = clinic.import_rows([row(starts_at=at("2026-03-10T10:00"))], local("2026-03-09 15:00"))
    clinic.tick(local("2026-03-09 15:00"))

    sent = clinic.outbox()
    for channel in ("sms", "email"):
        bodies = [m["body"] for m in sent if m["channel"] == channel]
        assert "10:00" in bodies[0] and "2:00" in bodies[-2]
        assert "10:00" in bodies[-1] and "2:00" not in bodies[-1]
    assert moved.messages_changed > 0 and back.messages_changed > 0


def test_after_a_move_back_the_rules_are_planned_again_and_a_re_import_changes_nothing(
    clinic: Clinic,
) -> None:
    clinic.import_rows([row(starts_at=at("2026-03-10T10:00"))], BOOKED)
    clinic.tick(local("2026-03-09 10:00"))
    clinic.import_rows([row(starts_at=at("2026-03-11T10:00"))], local("2026-03-09 11:00"))
    clinic.tick(local("2026-03-09 11:00"))
    back = local("2026-03-09 12:00")
    clinic.import_rows([row(starts_at=at("2026-03-10T10:00"))], back)

    again = clinic.import_rows([row(starts_at=at("2026-03-10T10:00"))], back)

    assert again.messages_changed == 0
    planned = clinic.log(status="planned")
    assert [(m["rule"], m["reason"]) for m in planned] == [
        ("sms-2h", "planned again"),
        ("sms-24h", "rule sms-24h: the last sms reminder named another time"),
    ]
    clinic.tick(back)
    assert "March 10" in sms_bodies(clinic)[-1]


def test_a_session_moved_weeks_ahead_is_told_at_once_and_reminded_as_usual(
    clinic: Clinic,
) -> None:
    clinic.import_rows([row(starts_at=at("2026-03-10T10:00"))], BOOKED)
    clinic.tick(local("2026-03-09 10:00"))
    clinic.import_rows([row(starts_at=at("2026-03-24T10:00"))], local("2026-03-09 15:00"))

    assert clinic.tick(local("2026-03-09 15:00")).outcomes["sent"] == 1
    assert clinic.tick(local("2026-03-23 10:00")).outcomes["sent"] == 1
    bodies = sms_bodies(clinic)
    assert ["March 24" in b for b in bodies] == [False, True, True]
    notices = [m["status"] for m in clinic.log(channel="sms") if m["rule"] == "changed-sms"]
    assert notices == ["sent"]


def test_a_session_moved_before_any_reminder_went_out_gets_no_change_notice(
    clinic: Clinic,
) -> None:
    clinic.import_rows([row(starts_at=at("2026-03-10T10:00"))], BOOKED)
    clinic.import_rows([row(starts_at=at("2026-03-24T10:00"))], local("2026-03-05 15:00"))

    assert clinic.tick(local("2026-03-05 15:00")).claimed == 0
    assert {m["rule"] for m in clinic.log()} == {"sms-24h", "sms-2h"}


def test_a_change_at_night_is_told_by_sms_when_quiet_hours_end(clinic: Clinic) -> None:
    clinic.import_rows([row(starts_at=at("2026-03-10T10:00"))], BOOKED)
    clinic.tick(local("2026-03-09 10:00"))
    clinic.import_rows([row(starts_at=at("2026-03-20T10:00"))], local("2026-03-09 22:00"))

    assert clinic.tick(local("2026-03-09 22:00")).claimed == 0
    assert clinic.tick(local("2026-03-10 08:00")).outcomes["sent"] == 1
    assert "March 20" in sms_bodies(clinic)[-1]


def test_a_session_cancelled_and_rebooked_at_the_same_time_sends_nothing_more(
    clinic: Clinic,
) -> None:
    clinic.import_rows([row(starts_at=at("2026-03-10T10:00"))], BOOKED)
    clinic.tick(local("2026-03-09 10:00"))
    clinic.import_rows([row(starts_at=at("2026-03-10T10:00"), status="cancelled")], BOOKED)
    clinic.import_rows([row(starts_at=at("2026-03-10T10:00"))], local("2026-03-09 12:00"))

    assert clinic.tick(local("2026-03-09 12:00")).claimed == 0
    assert clinic.tick(local("2026-03-10 08:00")).outcomes["sent"] == 1
    assert len(sms_bodies(clinic)) == 2


def test_a_session_cancelled_and_rebooked_at_another_time_is_told_the_new_time(
    clinic: Clinic,
) -> None:
    clinic.import_rows([row(starts_at=at("2026-03-10T10:00"))], BOOKED)
    clinic.tick(local("2026-03-09 10:00"))
    clinic.import_rows([row(starts_at=at("2026-03-10T10:00"), status="cancelled")], BOOKED)
    clinic.import_rows([row(starts_at=at("2026-03-17T10:00"))], local("2026-03-09 12:00"))

    assert clinic.tick(local("2026-03-09 12:00")).outcomes["sent"] == 1
    assert "March 17" in sms_bodies(clinic)[-1]


def test_the_store_keeps_one_open_row_per_rule_and_start(clinic: Clinic) -> None:
    clinic.import_rows([row(starts_at=at("2026-03-10T10:00"))], BOOKED)
    url = clinic.settings.database_url
    with store.transaction(url) as db:
        (session,) = db.query(Session).all()
        db.add(_copy_of_rule_row(session, MessageStatus.SENT))

    with pytest.raises(IntegrityError), store.transaction(url) as db:
        (session,) = db.query(Session).all()
        db.add(_copy_of_rule_row(session, MessageStatus.PLANNED))


def _copy_of_rule_row(session: Session, status: str) -> Message:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    message = Message.planned(
        session,
        kind="session_reminder",
        rule="sms-24h",
        channel="sms",
        due_at=now,
        expires_at=session.starts_at,
        before_session=True,
        now=now,
    )
    message.status = status
    return message
