"""The self-service link: a signed, expiring token per session, in reminder and nudge
emails when the clinic can sign links, never in an SMS."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from reminders.config import Settings
from reminders.models import Patient, Session
from reminders.wording.session_links import (
    LIFETIME,
    LinkProblem,
    SessionLink,
    make_token,
    read_token,
    session_url,
)
from reminders.wording.unsubscribe_links import make_token as unsubscribe_token
from tests.harness import Clinic, local, row

PUBLIC = "https://reminders.clinic.example"
NOW = datetime(2026, 3, 5, 16, 0, tzinfo=UTC)
STARTS = datetime(2026, 3, 10, 21, 0, tzinfo=UTC)


@pytest.fixture
def linked(settings: Settings) -> Settings:
    return settings.model_copy(update={"public_url": PUBLIC + "/", "secret_key": "k" * 40})


def session(external_id: str = "S1-1", starts_at: datetime = STARTS) -> Session:
    return Session(external_id=external_id, starts_at=starts_at)


def test_a_token_names_its_session_until_two_weeks_after_it_starts(linked: Settings) -> None:
    token = make_token(linked, session("S-42/é"), NOW)

    assert read_token(linked, token, NOW) == SessionLink("S-42/é", STARTS + LIFETIME)
    assert read_token(linked, token, STARTS + LIFETIME - timedelta(seconds=1)) != (
        LinkProblem.EXPIRED
    )
    assert read_token(linked, token, STARTS + LIFETIME) == LinkProblem.EXPIRED


def test_a_link_sent_after_the_session_lasts_two_weeks_from_the_sending(linked: Settings) -> None:
    later = STARTS + timedelta(days=3)
    token = make_token(linked, session(), later)
    assert read_token(linked, token, later + LIFETIME - timedelta(seconds=1)) == SessionLink(
        "S1-1", later + LIFETIME
    )


@pytest.mark.parametrize(
    "case", ["other session", "longer life", "other key", "cut", "unsubscribe token"]
)
def test_a_tampered_token_is_invalid_never_expired(linked: Settings, case: str) -> None:
    token = make_token(linked, session(), NOW)
    name, until, signature = token.split(".")
    other = make_token(linked, session("S9-9", STARTS + timedelta(days=60)), NOW).split(".")
    forged = {
        "other session": f"{other[0]}.{until}.{signature}",
        "longer life": f"{name}.{other[1]}.{signature}",
        "other key": make_token(linked.model_copy(update={"secret_key": "z" * 40}), session(), NOW),
        "cut": f"{name}.{until}",
        "unsubscribe token": unsubscribe_token(linked, Patient(external_id="S1-1")),
    }[case]
    assert read_token(linked, forged, NOW) == LinkProblem.INVALID
    assert read_token(linked, forged, NOW + timedelta(days=400)) == LinkProblem.INVALID


@pytest.mark.parametrize("token", ["", "..", "a.b.c", "!!!.???.***", "UzE.MTIz."])
def test_garbage_is_invalid(linked: Settings, token: str) -> None:
    assert read_token(linked, token, NOW) == LinkProblem.INVALID


def test_without_a_public_address_or_a_key_there_is_no_link(linked: Settings) -> None:
    assert session_url(linked.model_copy(update={"public_url": ""}), session(), NOW) == ""
    assert session_url(linked.model_copy(update={"secret_key": ""}), session(), NOW) == ""
    assert session_url(linked, session(), NOW).startswith(f"{PUBLIC}/appointment/")


def sent(folder: Path) -> tuple[list[EmailMessage], list[dict[str, str]]]:
    emails = [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(folder.glob("*.eml"))
    ]
    sms = [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]
    return emails, sms


def bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


@pytest.mark.parametrize(
    ("language", "wording"),
    [
        ("en", "Confirm this appointment, or ask for another time"),
        ("fr", "Confirmez ce rendez-vous"),
    ],
)
def test_the_reminder_email_carries_the_link_and_the_sms_does_not(
    linked: Settings, tmp_path: Path, language: str, wording: str
) -> None:
    clinic = Clinic(linked, tmp_path)
    clinic.import_rows([row(language=language)], local("2026-03-01 09:00"))
    clinic.tick(local("2026-03-07 14:00"))
    clinic.tick(local("2026-03-09 14:00"))

    [reminder], [sms] = sent(linked.outbox_dir)
    text, html = bodies(reminder)
    url = session_url(
        linked, session(starts_at=local("2026-03-10 14:00")), local("2026-03-07 14:00")
    )
    assert f"{wording}" in text and url in text
    assert f'href="{url}"' in html
    assert "/appointment/" not in sms["body"]


def test_without_signed_links_the_reminder_email_says_to_call(
    settings: Settings, tmp_path: Path
) -> None:
    clinic = Clinic(settings, tmp_path)
    clinic.import_rows([row(phone="")], local("2026-03-01 09:00"))
    clinic.tick(local("2026-03-07 14:00"))

    [reminder], _ = sent(settings.outbox_dir)
    text, html = bodies(reminder)
    assert "/appointment/" not in text + html
    assert "If you need to change this appointment, please call us" in text


def test_the_nudge_to_book_carries_the_link_to_choose_days(
    linked: Settings, tmp_path: Path
) -> None:
    clinic = Clinic(linked, tmp_path)
    done = row(phone="", status="completed", starts_at="2026-03-03T14:00-07:00")
    clinic.import_rows([done], local("2026-03-04 09:00"))
    for day in range(4, 40):
        clinic.tick(local("2026-03-04 10:00") + timedelta(days=day - 4))

    emails, _ = sent(linked.outbox_dir)
    nudges = [m for m in emails if "booking your next session" in str(m["Subject"])]
    assert nudges, [str(m["Subject"]) for m in emails]
    text, html = bodies(nudges[0])
    assert "Tell us which days suit you" in text and f"{PUBLIC}/appointment/" in text
    assert "Choose the days that suit you" in html
    aftercare = [m for m in emails if m not in nudges]
    assert all("/appointment/" not in bodies(m)[0] for m in aftercare)
