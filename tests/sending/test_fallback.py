"""A number that cannot take SMS gets the reminder by email once: at send time when Twilio
refuses it outright, or from the delivery report, whichever says so first."""

from __future__ import annotations

import pytest

from reminders.feedback.delivery import apply_status
from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio_api import FakeTwilio
from tests.harness import Clinic, local, row

BOOKED = local("2026-03-01 09:00")
SMS_DUE = local("2026-03-09 14:00")  # the 24-hour SMS of a session on 10 March at 14:00
LANDLINE = "+14035550101"


def _emails_to(smtp: FakeSMTP, address: str) -> int:
    return sum(1 for received in smtp.received if address in received.rcpt_tos)


@pytest.mark.parametrize("code", [21614, 21211, 21612, 21408])
def test_a_number_twilio_refuses_at_send_time_gets_the_reminder_by_email_once(
    providers: Clinic, twilio_api: FakeTwilio, smtp_server: FakeSMTP, code: int
) -> None:
    providers.import_rows([row(phone=LANDLINE)], BOOKED)
    providers.tick(local("2026-03-07 14:00"))  # the 72-hour email
    assert _emails_to(smtp_server, "avery@example.com") == 1
    twilio_api.fail_by_recipient(LANDLINE, 400, code)

    report = providers.tick(SMS_DUE)
    providers.tick(SMS_DUE)

    assert _emails_to(smtp_server, "avery@example.com") == 2
    assert twilio_api.messages == []
    sms, fallback = [m for m in providers.log() if m["rule"] != "email-72h"]
    assert (sms["channel"], sms["status"]) == ("sms", "failed")
    assert f"({code})" in sms["reason"]
    assert (fallback["channel"], fallback["status"], fallback["triggered_by"]) == (
        "email",
        "sent",
        "sms-fallback",
    )
    assert report.outcomes == {"failed": 1, "sent": 1}


def test_a_refusal_that_is_not_about_the_number_sends_no_email(
    providers: Clinic, twilio_api: FakeTwilio, smtp_server: FakeSMTP
) -> None:
    providers.import_rows([row(phone=LANDLINE)], BOOKED)
    providers.tick(local("2026-03-07 14:00"))
    twilio_api.fail_by_recipient(LANDLINE, 400, 21610)  # unsubscribed: email opt-in is apart

    providers.tick(SMS_DUE)

    assert _emails_to(smtp_server, "avery@example.com") == 1
    assert [m["status"] for m in providers.log(channel="sms")] == ["failed"]


def test_a_patient_without_an_email_address_gets_nothing_more(
    providers: Clinic, twilio_api: FakeTwilio, smtp_server: FakeSMTP
) -> None:
    providers.import_rows([row(phone=LANDLINE, email="")], BOOKED)
    twilio_api.fail_by_recipient(LANDLINE, 400, 21614)

    providers.tick(SMS_DUE)

    assert smtp_server.received == []
    assert [(m["channel"], m["status"]) for m in providers.log()] == [("sms", "failed")]


def test_a_late_delivery_report_for_the_same_number_plans_no_second_email(
    providers: Clinic, twilio_api: FakeTwilio, smtp_server: FakeSMTP
) -> None:
    providers.import_rows([row(phone=LANDLINE)], BOOKED)
    providers.tick(local("2026-03-07 14:00"))
    providers.tick(SMS_DUE)  # accepted: Twilio reports the landline later
    (sms,) = providers.log(channel="sms")
    later = SMS_DUE.replace(minute=5)

    first = apply_status(providers.settings, sms["provider_id"], "failed", "21614", later)
    again = apply_status(providers.settings, sms["provider_id"], "undelivered", "30006", later)

    assert first == "moved, email fallback sent"
    assert again == "stale"
    assert _emails_to(smtp_server, "avery@example.com") == 2
    assert [m["triggered_by"] for m in providers.log(channel="email")] == [
        "planner",
        "sms-fallback",
    ]


def test_a_refused_send_then_a_status_report_for_it_sends_one_email(
    providers: Clinic, twilio_api: FakeTwilio, smtp_server: FakeSMTP
) -> None:
    """Twilio refuses the create, so no message resource exists: a report that still arrives
    (a stray or a retried webhook) finds no SMS and plans nothing."""
    providers.import_rows([row(phone=LANDLINE)], BOOKED)
    twilio_api.fail_by_recipient(LANDLINE, 400, 21614)
    providers.tick(SMS_DUE)
    (sms,) = providers.log(channel="sms")
    assert sms["provider_id"] is None

    assert apply_status(providers.settings, "SMnever", "failed", "21614", SMS_DUE) is None
    providers.tick(SMS_DUE.replace(minute=10))

    fallbacks = [m for m in providers.log(channel="email") if m["triggered_by"] == "sms-fallback"]
    assert [m["status"] for m in fallbacks] == ["sent"]
    assert _emails_to(smtp_server, "avery@example.com") == 2  # the 72-hour one and the copy
