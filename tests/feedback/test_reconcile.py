"""The reconciler and Twilio's 21610, on a real store against the loopback Twilio."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from reminders import store
from reminders.config import Settings
from reminders.feedback.reconcile import (
    EMAIL_FOR_STAFF,
    EMAIL_RETRIED,
    RETRIED,
    SMS_FOR_STAFF,
    SMS_TOO_LATE,
    reconcile,
    reconcile_unknown,
)
from reminders.models import Message, MessageEvent, Patient
from reminders.sending.claims import claim_due, start_attempt
from reminders.sending.dispatch import Report, prepare
from reminders.staff.attention import stale_sms
from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio_api import FakeTwilio
from tests.harness import Clinic, local, row

BOOKED = local("2026-03-01 09:00")
REMINDER_DUE = local("2026-03-09 14:00")  # sms-24h before the 2026-03-10 14:00 session


def lose_worker_before_the_call(settings: Settings, now: datetime) -> None:
    """Claim and mark `sending`, then die before asking the provider anything."""
    with store.transaction(settings.database_url) as db:
        ids = claim_due(db, now, 10)
    with store.transaction(settings.database_url) as db:
        ready = prepare(db, settings, ids, now, Report())
    with store.transaction(settings.database_url) as db:
        for outgoing in ready:
            start_attempt(db, outgoing.message_id, now)


def events_with(settings: Settings, reason: str) -> int:
    with store.transaction(settings.database_url) as db:
        count = db.scalar(select(func.count()).where(MessageEvent.reason == reason))
        return int(count or 0)


def test_it_records_the_sms_opt_out_on_21610_and_withdraws_planned_sms(
    providers: Clinic, twilio_api: FakeTwilio
) -> None:
    second = row(session_id="S1-2", session_number=2, starts_at="2026-03-31T14:00-06:00")
    providers.import_rows([row(), second], BOOKED)
    twilio_api.fail_next(status=400, code=21610)
    providers.tick(REMINDER_DUE)

    (failed,) = providers.log(channel="sms", session_id="S1-1")
    assert failed["status"] == "failed"
    assert "(21610)" in failed["reason"] and "SMS opt-out recorded" in failed["reason"]
    with store.transaction(providers.settings.database_url) as db:
        assert db.scalars(select(Patient.sms_opt_out)).one() is True
    (withdrawn,) = providers.log(channel="sms", session_id="S1-2")
    assert (withdrawn["status"], withdrawn["reason"]) == ("cancelled", "patient opted out of sms")
    assert [m["status"] for m in providers.log(channel="email", session_id="S1-2")] == ["planned"]
    providers.tick(local("2026-03-30 14:00"))
    assert twilio_api.messages == []


def test_it_marks_an_unknown_sms_found_at_twilio_as_sent(
    providers: Clinic, twilio_api: FakeTwilio
) -> None:
    providers.import_rows([row(email="")], BOOKED)
    twilio_api.delay_next(providers.settings.twilio_timeout + 1)
    providers.tick(REMINDER_DUE)
    assert providers.log()[0]["status"] == "unknown"

    done = reconcile(providers.settings, REMINDER_DUE + timedelta(minutes=2))

    assert (done.found, done.retried) == (1, 0)
    (sms,) = providers.log()
    assert (sms["status"], sms["provider_id"]) == ("sent", twilio_api.messages[0].sid)


def test_it_plans_a_missing_sms_again_once_after_the_grace_period(
    providers: Clinic, twilio_api: FakeTwilio
) -> None:
    settings = providers.settings
    providers.import_rows([row(email="")], BOOKED)
    lose_worker_before_the_call(settings, REMINDER_DUE)
    reconcile(settings, REMINDER_DUE + timedelta(seconds=settings.lease_seconds + 1))
    assert providers.log()[0]["status"] == "unknown"

    assert reconcile(settings, REMINDER_DUE + timedelta(minutes=9)).retried == 0
    assert providers.log()[0]["status"] == "unknown"
    assert reconcile(settings, REMINDER_DUE + timedelta(minutes=11)).retried == 1
    (sms,) = providers.log()
    assert (sms["status"], sms["reason"]) == ("planned", RETRIED)

    providers.tick(REMINDER_DUE + timedelta(minutes=12))
    assert providers.log()[0]["status"] == "sent"
    assert len(twilio_api.messages) == 1


def test_it_leaves_a_second_unknown_for_staff(providers: Clinic, twilio_api: FakeTwilio) -> None:
    settings = providers.settings
    providers.import_rows([row(email="")], BOOKED)
    lose_worker_before_the_call(settings, REMINDER_DUE)
    reconcile_unknown(settings, REMINDER_DUE + timedelta(minutes=6))
    reconcile_unknown(settings, REMINDER_DUE + timedelta(minutes=11))
    retry_at = REMINDER_DUE + timedelta(minutes=12)
    lose_worker_before_the_call(settings, retry_at)  # the retry's worker dies too
    for minutes in (6, 11, 20, 30):
        reconcile_unknown(settings, retry_at + timedelta(minutes=minutes))

    (sms,) = providers.log()
    assert (sms["status"], sms["reason"], sms["attempts"]) == ("unknown", SMS_FOR_STAFF, 2)
    assert events_with(settings, RETRIED) == 1
    assert events_with(settings, SMS_FOR_STAFF) == 1
    providers.tick(retry_at + timedelta(hours=1))
    assert twilio_api.messages == []


def test_it_never_retries_an_sms_that_has_expired(
    providers: Clinic, twilio_api: FakeTwilio
) -> None:
    settings = providers.settings
    providers.import_rows([row(email="")], BOOKED)
    late = local("2026-03-10 13:40")  # twenty minutes before the session
    lose_worker_before_the_call(settings, late)
    reconcile(settings, late + timedelta(minutes=6))
    reconcile(settings, late + timedelta(minutes=30))

    (sms,) = providers.log()
    assert (sms["status"], sms["reason"]) == ("unknown", SMS_TOO_LATE)
    providers.tick(late + timedelta(hours=1))
    assert twilio_api.messages == []


def test_an_unknown_email_goes_again_once_with_the_same_message_id(
    providers: Clinic, smtp_server: FakeSMTP
) -> None:
    settings = providers.settings
    providers.import_rows([row(phone="")], BOOKED)
    now = local("2026-03-07 14:00")
    lose_worker_before_the_call(settings, now)
    (lost,) = providers.log()
    later = now + timedelta(minutes=6)
    reconcile(settings, later)
    assert providers.log()[0]["reason"] == EMAIL_RETRIED

    providers.tick(later)

    (email,) = providers.log()
    assert email["status"] == "sent" and email["attempts"] == 2
    (arrived,) = smtp_server.messages
    assert arrived["Message-ID"] == lost["provider_id"] == email["provider_id"]


def test_a_second_unknown_email_is_left_for_staff(providers: Clinic, smtp_server: FakeSMTP) -> None:
    settings = providers.settings
    providers.import_rows([row(phone="")], BOOKED)
    now = local("2026-03-07 14:00")
    lose_worker_before_the_call(settings, now)
    reconcile(settings, now + timedelta(minutes=6))
    again = now + timedelta(minutes=7)
    lose_worker_before_the_call(settings, again)
    for minutes in (6, 20):
        reconcile(settings, again + timedelta(minutes=minutes))

    (email,) = providers.log()
    assert (email["status"], email["reason"]) == ("unknown", EMAIL_FOR_STAFF)
    assert smtp_server.messages == []


def test_it_leaves_an_unknown_email_for_staff_when_the_clinic_opts_out_of_retrying(
    providers: Clinic, smtp_server: FakeSMTP
) -> None:
    settings = providers.settings.model_copy(update={"email_retry_unknown": False})
    providers.import_rows([row(phone="")], BOOKED)
    now = local("2026-03-07 14:00")
    lose_worker_before_the_call(settings, now)
    for minutes in (6, 20, 60):
        reconcile(settings, now + timedelta(minutes=minutes))

    (email,) = providers.log()
    assert (email["status"], email["reason"]) == ("unknown", EMAIL_FOR_STAFF)
    assert events_with(settings, EMAIL_FOR_STAFF) == 1
    assert smtp_server.messages == []


def test_it_lists_a_sent_sms_without_a_final_status_a_day_later(
    providers: Clinic, twilio_api: FakeTwilio
) -> None:
    settings = providers.settings.model_copy(update={"public_url": "https://clinic.example"})
    providers.settings = settings
    providers.import_rows([row(email="")], BOOKED)
    providers.tick(REMINDER_DUE)
    assert providers.log()[0]["status"] == "sent"

    assert stale_sms(settings, REMINDER_DUE + timedelta(hours=23)) == []
    (stale,) = stale_sms(settings, REMINDER_DUE + timedelta(hours=25))
    assert (stale.patient_id, stale.kind) == ("P1", "session_reminder")
    assert stale.provider_id == twilio_api.messages[0].sid

    with store.transaction(settings.database_url) as db:
        db.scalars(select(Message)).one().provider_status = "delivered"
    assert stale_sms(settings, REMINDER_DUE + timedelta(hours=25)) == []
