"""Reminders go out once, at the right local time, and re-check everything at send time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from reminders import store
from reminders.config import ReminderRule, Settings
from reminders.models import MessageEvent
from tests.harness import Clinic, local, reminders_only, row


@pytest.fixture
def clinic(settings: Settings, tmp_path: Path) -> Clinic:
    return Clinic(reminders_only(settings), tmp_path)


BOOKED = local("2026-03-01 09:00")


def test_it_sends_each_reminder_at_its_due_time_once(clinic: Clinic) -> None:
    clinic.import_rows([row()], BOOKED)

    assert clinic.tick(local("2026-03-07 13:59")).claimed == 0
    assert clinic.tick(local("2026-03-07 14:00")).outcomes["sent"] == 1
    assert clinic.tick(local("2026-03-07 14:00")).claimed == 0
    assert clinic.tick(local("2026-03-09 14:00")).outcomes["sent"] == 1

    assert sorted(m["channel"] for m in clinic.outbox()) == ["email", "sms"]
    assert clinic.statuses() == [("email-72h", "email", "sent"), ("sms-24h", "sms", "sent")]


def test_importing_twice_and_ticking_twice_sends_each_reminder_once(clinic: Clinic) -> None:
    rows = [row(), row(session_id="S1-2", session_number=2, starts_at="2026-03-31T14:00-06:00")]
    clinic.import_rows(rows, BOOKED)
    again = clinic.import_rows(rows, BOOKED + timedelta(hours=1))

    assert again.messages_changed == 0
    assert again.created == {"patients": 0, "series": 0, "sessions": 0}
    for moment in ("2026-03-09 14:00", "2026-03-09 14:00", "2026-03-30 14:00", "2026-03-30 14:00"):
        clinic.tick(local(moment))
    assert len(clinic.outbox()) == 4
    assert [m["status"] for m in clinic.log()] == ["sent"] * 4


def test_sent_messages_record_the_virtual_clock_and_the_recipient(clinic: Clinic) -> None:
    clinic.import_rows([row()], BOOKED)
    clinic.tick(local("2026-03-07 15:00"))

    (email,) = clinic.log(channel="email")
    assert email["sent_at"] == local("2026-03-07 15:00").isoformat()
    assert email["recipient"] == "avery@example.com"
    assert email["kind"] == "session_reminder"
    assert email["triggered_by"] == "planner"


def test_a_reschedule_replans_and_the_old_time_sends_nothing(clinic: Clinic) -> None:
    clinic.import_rows([row()], BOOKED)
    clinic.import_rows([row(starts_at="2026-03-17T14:00-06:00")], local("2026-03-02 09:00"))

    assert clinic.tick(local("2026-03-09 14:00")).claimed == 0
    clinic.tick(local("2026-03-14 14:00"))
    clinic.tick(local("2026-03-16 14:00"))

    assert clinic.statuses() == [
        ("email-72h", "email", "cancelled"),
        ("sms-24h", "sms", "cancelled"),
        ("email-72h", "email", "sent"),
        ("sms-24h", "sms", "sent"),
    ]
    assert {m["reason"] for m in clinic.log(status="cancelled")} == {"session moved"}
    assert "March 17" in clinic.outbox()[0]["body"]


def test_a_sent_reminder_stays_and_a_moved_session_gets_one_for_its_new_time(
    clinic: Clinic,
) -> None:
    clinic.import_rows([row()], BOOKED)
    clinic.tick(local("2026-03-07 14:00"))
    clinic.import_rows([row(starts_at="2026-03-12T14:00-06:00")], local("2026-03-08 09:00"))
    clinic.tick(local("2026-03-09 14:00"))

    # The change notice planned at the move never got a tick before the 72h reminder for
    # the new time fell due; that one says it, and the notice is superseded.
    assert clinic.statuses(channel="email") == [
        ("email-72h", "email", "sent"),
        ("email-72h", "email", "sent"),
        ("changed-email", "email", "skipped"),
    ]
    assert "March 10" in clinic.outbox()[0]["body"]
    assert "March 12" in clinic.outbox()[1]["body"]


def test_a_cancellation_withdraws_the_planned_reminders(clinic: Clinic) -> None:
    clinic.import_rows([row()], BOOKED)
    clinic.import_rows([row(status="cancelled")], local("2026-03-02 09:00"))

    assert clinic.tick(local("2026-03-10 13:00")).claimed == 0
    assert {(m["status"], m["reason"]) for m in clinic.log()} == {
        ("cancelled", "session cancelled")
    }
    assert clinic.outbox() == []


def test_a_session_cancelled_after_its_reminder_was_claimed_is_skipped(clinic: Clinic) -> None:
    from reminders.sending.claims import claim_due
    from reminders.sending.dispatch import send_claimed

    clinic.import_rows([row()], BOOKED)
    now = local("2026-03-07 14:00")
    with store.transaction(clinic.settings.database_url) as db:
        ids = claim_due(db, now, 10)
    clinic.import_rows([row(status="cancelled")], now)
    report = send_claimed(clinic.settings, ids, now)

    assert report.outcomes["skipped"] == 1
    assert clinic.outbox() == []


def test_an_sms_opt_out_stops_sms_while_email_continues(clinic: Clinic) -> None:
    clinic.import_rows([row()], BOOKED)
    clinic.import_rows([row(sms_opt_out="true")], local("2026-03-02 09:00"))
    clinic.tick(local("2026-03-07 14:00"))
    clinic.tick(local("2026-03-09 14:00"))

    assert clinic.statuses() == [
        ("email-72h", "email", "sent"),
        ("sms-24h", "sms", "cancelled"),
    ]
    assert clinic.log(channel="sms")[0]["reason"] == "patient opted out of sms"


def test_an_import_never_opts_a_patient_back_in(clinic: Clinic) -> None:
    clinic.import_rows([row(sms_opt_out="true")], BOOKED)
    clinic.import_rows([row()], local("2026-03-02 09:00"))
    clinic.tick(local("2026-03-09 14:00"))

    assert [m["channel"] for m in clinic.outbox()] == ["email"]
    assert clinic.log(channel="sms") == []  # the console's opt-out page opts patients back in


def test_a_changed_phone_number_reaches_unsent_messages(clinic: Clinic) -> None:
    clinic.import_rows([row()], BOOKED)
    clinic.import_rows([row(phone="+14035550199")], local("2026-03-02 09:00"))
    clinic.tick(local("2026-03-09 14:00"))

    sms = [m for m in clinic.outbox() if m["channel"] == "sms"]
    assert [m["to"] for m in sms] == ["+14035550199"]


def test_reminders_for_a_session_that_has_started_expire(clinic: Clinic) -> None:
    clinic.import_rows([row()], BOOKED)
    clinic.tick(local("2026-03-10 14:00"))

    assert clinic.statuses() == [
        ("email-72h", "email", "expired"),
        ("sms-24h", "sms", "expired"),
    ]
    assert clinic.outbox() == []


def test_after_an_outage_only_the_latest_due_reminder_per_channel_goes_out(
    settings: Settings, tmp_path: Path
) -> None:
    rules = [
        ReminderRule(name="email-72h", channel="email", offset=timedelta(hours=-72)),
        ReminderRule(name="email-24h", channel="email", offset=timedelta(hours=-24)),
        ReminderRule(name="sms-24h", channel="sms", offset=timedelta(hours=-24)),
        ReminderRule(name="sms-2h", channel="sms", offset=timedelta(hours=-2)),
    ]
    clinic = Clinic(reminders_only(settings).model_copy(update={"rules": rules}), tmp_path)
    clinic.import_rows([row()], BOOKED)
    clinic.tick(local("2026-03-10 12:30"))  # the first tick after a three-day outage

    assert clinic.statuses() == [
        ("email-72h", "email", "skipped"),
        ("email-24h", "email", "sent"),
        ("sms-24h", "sms", "skipped"),
        ("sms-2h", "sms", "sent"),
    ]
    assert len(clinic.outbox()) == 2
    assert "catch-up" in clinic.log(status="skipped")[0]["reason"]


def test_a_french_speaking_patient_gets_french_reminders(clinic: Clinic) -> None:
    clinic.import_rows([row(language="fr", first_name="Émilie")], BOOKED)
    clinic.tick(local("2026-03-07 14:00"))
    clinic.tick(local("2026-03-09 14:00"))

    email, sms = clinic.outbox()
    assert "mars" in email["body"] and "Émilie" in email["body"]
    assert "mardi 10 mars" in sms["body"]
    assert "STOP" in sms["body"]


def test_every_state_change_is_in_the_log_with_its_reason(clinic: Clinic) -> None:
    clinic.import_rows([row()], BOOKED)
    clinic.tick(local("2026-03-07 14:00"))

    (email,) = clinic.log(channel="email")
    with store.transaction(clinic.settings.database_url) as db:
        events = db.scalars(
            select(MessageEvent)
            .where(MessageEvent.message_id == email["id"])
            .order_by(MessageEvent.id)
        ).all()
        trail = [(e.status, e.reason) for e in events]
    assert trail == [
        ("planned", "rule email-72h"),
        ("queued", "claimed for sending"),
        ("sending", "attempt 1"),
        ("sent", "accepted by the provider"),
    ]
