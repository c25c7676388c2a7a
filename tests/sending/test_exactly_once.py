"""Exactly once, counted at the provider: concurrent ticks, retries, unknown outcomes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from reminders import store
from reminders.channels import channel_for
from reminders.config import Settings
from reminders.sending.claims import claim_due, start_attempt
from reminders.sending.dispatch import Report, deliver, prepare
from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.harness import Clinic, local, row

ROOT = Path(__file__).resolve().parents[2]
BOOKED = local("2026-03-01 09:00")


def provider_env(
    database_url: str, twilio: FakeTwilio, smtp: FakeSMTP, tmp: Path
) -> dict[str, str]:
    return {
        "REMINDERS_DATABASE_URL": database_url,
        "REMINDERS_STATE_DIR": str(tmp / "state"),
        "REMINDERS_SMS_BACKEND": "twilio",
        "REMINDERS_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "REMINDERS_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "REMINDERS_TWILIO_FROM": "+15877000000",
        "REMINDERS_TWILIO_API_URL": twilio.url,
        "REMINDERS_TWILIO_TIMEOUT": "2",
        "REMINDERS_EMAIL_BACKEND": "smtp",
        "REMINDERS_SMTP_HOST": smtp.host,
        "REMINDERS_SMTP_PORT": str(smtp.port),
        "REMINDERS_SMTP_STARTTLS": "false",
        "REMINDERS_EMAIL_FROM": "reminders@clinic.example",
    }


@pytest.fixture
def providers(
    database_url: str,
    twilio_api: FakeTwilio,
    smtp_server: FakeSMTP,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Clinic:
    return provider_clinic(database_url, twilio_api, smtp_server, tmp_path, monkeypatch)


def provider_clinic(
    database_url: str,
    twilio: FakeTwilio,
    smtp: FakeSMTP,
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Clinic:
    """A clinic whose SMS go to the loopback Twilio and whose email goes to the loopback SMTP."""
    for name, value in provider_env(database_url, twilio, smtp, tmp).items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    settings.check()
    return Clinic(settings, tmp)


def cohort(size: int) -> list[dict[str, object]]:
    return [
        row(
            patient_id=f"P{i}",
            first_name=f"Pat{i}",
            phone=f"+1403555{i:04d}",
            email=f"pat{i}@example.com",
            series_id=f"S{i}",
            session_id=f"S{i}-1",
        )
        for i in range(size)
    ]


def test_four_tick_processes_at_once_send_each_reminder_once(
    providers: Clinic, twilio_api: FakeTwilio, smtp_server: FakeSMTP, tmp_path: Path
) -> None:
    providers.import_rows(cohort(40), BOOKED)
    env = {
        **os.environ,
        **provider_env(providers.settings.database_url, twilio_api, smtp_server, tmp_path),
    }
    command = [sys.executable, "-m", "reminders.cli", "tick", "--now", "2026-03-09T14:00"]
    ticks = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    results = [tick.communicate(timeout=120) for tick in ticks]

    assert [tick.returncode for tick in ticks] == [0] * 4, results
    phones = sorted(sms.to for sms in twilio_api.messages)
    assert phones == sorted(f"+1403555{i:04d}" for i in range(40))
    assert sorted(str(m["To"]) for m in smtp_server.messages) == sorted(
        f"pat{i}@example.com" for i in range(40)
    )
    assert {m["status"] for m in providers.log()} == {"sent"}


def test_importing_twice_and_ticking_twice_sends_once_at_the_provider(
    providers: Clinic, twilio_api: FakeTwilio, smtp_server: FakeSMTP
) -> None:
    providers.import_rows(cohort(3), BOOKED)
    providers.import_rows(cohort(3), BOOKED)
    providers.tick(local("2026-03-09 14:00"))
    providers.tick(local("2026-03-09 14:00"))

    assert len(twilio_api.messages) == 3
    assert len(smtp_server.messages) == 3


def test_a_rate_limited_sms_is_retried_later_and_arrives_once(
    providers: Clinic, twilio_api: FakeTwilio
) -> None:
    providers.import_rows([row(email="")], BOOKED)
    twilio_api.fail_next(status=429, code=20429)
    now = local("2026-03-09 14:00")
    providers.tick(now)

    (sms,) = providers.log()
    assert sms["status"] == "planned" and sms["reason"].startswith("transient error")
    assert twilio_api.messages == []
    providers.tick(now + timedelta(minutes=2))
    assert len(twilio_api.messages) == 1
    assert providers.log()[0]["status"] == "sent"


def test_a_server_error_is_retried_and_gives_up_after_max_attempts(
    providers: Clinic, twilio_api: FakeTwilio
) -> None:
    providers.import_rows([row(email="")], BOOKED)
    now = local("2026-03-09 14:00")
    for _ in range(providers.settings.max_attempts):
        twilio_api.fail_next(status=500, code=20500)
    for minutes in range(0, 24 * 60, 10):
        providers.tick(now + timedelta(minutes=minutes))

    (sms,) = providers.log()
    assert sms["status"] == "failed"
    assert sms["reason"].startswith(f"gave up after {providers.settings.max_attempts} attempts")
    assert twilio_api.messages == []


@pytest.mark.parametrize("code", [21211, 21610, 21614])
def test_a_permanent_error_is_recorded_and_not_retried(
    providers: Clinic, twilio_api: FakeTwilio, code: int
) -> None:
    providers.import_rows([row(email="")], BOOKED)
    twilio_api.fail_next(status=400, code=code)
    providers.tick(local("2026-03-09 14:00"))
    providers.tick(local("2026-03-09 18:00"))

    (sms,) = providers.log()
    assert (sms["status"], sms["attempts"]) == ("failed", 1)
    assert f"({code})" in sms["reason"]
    assert twilio_api.messages == []


def test_a_timed_out_send_is_unknown_then_found_at_twilio_not_resent(
    providers: Clinic, twilio_api: FakeTwilio
) -> None:
    from reminders.feedback.reconcile import reconcile_unknown

    providers.import_rows([row(email="")], BOOKED)
    twilio_api.delay_next(providers.settings.twilio_timeout + 1)
    now = local("2026-03-09 14:00")
    providers.tick(now)

    (sms,) = providers.log()
    assert sms["status"] == "unknown"
    providers.tick(now + timedelta(hours=1))
    assert reconcile_unknown(providers.settings, now + timedelta(minutes=5)) == 1

    (sms,) = providers.log()
    assert (sms["status"], sms["provider_id"]) == ("sent", twilio_api.messages[0].sid)
    assert len(twilio_api.messages) == 1


def test_a_worker_lost_after_the_provider_call_is_never_blindly_resent(
    providers: Clinic, twilio_api: FakeTwilio
) -> None:
    from reminders.feedback.reconcile import reconcile_unknown

    settings = providers.settings
    providers.import_rows([row(email="")], BOOKED)
    now = local("2026-03-09 14:00")
    with store.transaction(settings.database_url) as db:
        ids = claim_due(db, now, 10)
    with store.transaction(settings.database_url) as db:
        (outgoing,) = prepare(db, settings, ids, now, Report())
    with store.transaction(settings.database_url) as db:
        assert start_attempt(db, outgoing.message_id, now) is not None
    deliver(channel_for(settings, "sms"), outgoing)  # ...and the worker dies here

    later = now + timedelta(seconds=settings.lease_seconds + 1)
    providers.tick(later)
    assert providers.log()[0]["status"] == "unknown"
    reconcile_unknown(settings, later + timedelta(minutes=2))

    assert providers.log()[0]["status"] == "sent"
    assert len(twilio_api.messages) == 1


def test_emails_reach_the_smtp_server_with_text_html_and_calendar(
    providers: Clinic, smtp_server: FakeSMTP
) -> None:
    providers.import_rows([row(phone="")], BOOKED)
    providers.tick(local("2026-03-07 14:00"))

    (received,) = smtp_server.messages
    types = [part.get_content_type() for part in received.walk()]
    assert {"text/plain", "text/html", "text/calendar"} <= set(types)
    (email,) = providers.log()
    assert email["provider_id"] == received["Message-ID"]
