"""The SMTP channel, through smtplib, against a loopback aiosmtpd server."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from reminders.channels.base import (
    Attachment,
    Outgoing,
    PermanentError,
    TransientError,
    UnknownOutcome,
)
from reminders.channels.smtp import SMTPEmail, build_email, mask_emails
from reminders.config import Settings
from tests.fakes.fixtures import EMAIL_FROM, smtp_settings_for
from tests.fakes.smtp import FakeSMTP

PATIENT = "jane.doe@patient.example"
NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//clinic//reminders//EN\r\nMETHOD:PUBLISH\r\n"
    b"BEGIN:VEVENT\r\nUID:session-3@clinic.example\r\nDTSTAMP:20250310T150000Z\r\n"
    b"DTSTART:20250311T163000Z\r\nSUMMARY:Clinic visit\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def email(**kw: object) -> Outgoing:
    fields: dict[str, object] = {
        "message_id": 42,
        "channel": "email",
        "to": PATIENT,
        "subject": "Your visit on Tuesday",
        "body": "See you Tuesday at 9:30 à la clinique.",
        "now": NOW,
    }
    return Outgoing(**(fields | kw))  # type: ignore[arg-type]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def part(message: EmailMessage, content_type: str) -> EmailMessage:
    [found] = [p for p in message.walk() if p.get_content_type() == content_type]
    assert isinstance(found, EmailMessage)
    return found


def test_it_delivers_text_and_html_alternatives(
    smtp_server: FakeSMTP, smtp_settings: Settings
) -> None:
    message_id = SMTPEmail(smtp_settings).send(email(html="<p>See you <b>Tuesday</b></p>"))

    [received] = smtp_server.received
    assert (received.mail_from, received.rcpt_tos) == (EMAIL_FROM, (PATIENT,))
    message = received.message
    assert message["Message-ID"] == message_id
    assert message["Subject"] == "Your visit on Tuesday"
    assert message["To"] == PATIENT
    assert message["From"].addresses[0].display_name == smtp_settings.clinic.name
    assert message["Date"].datetime == NOW
    assert message.get_content_type() == "multipart/alternative"
    assert part(message, "text/plain").get_content().strip() == email().body
    assert "<b>Tuesday</b>" in part(message, "text/html").get_content()


def test_it_attaches_a_calendar_event(smtp_server: FakeSMTP, smtp_settings: Settings) -> None:
    invite = Attachment("visit.ics", "text/calendar", ICS)

    SMTPEmail(smtp_settings).send(email(html="<p>Hi</p>", attachments=(invite,)))

    [message] = smtp_server.messages
    assert message.get_content_type() == "multipart/mixed"
    calendar = part(message, "text/calendar")
    assert calendar.get_filename() == "visit.ics"
    assert calendar.get_param("method") == "PUBLISH"
    assert "SUMMARY:Clinic visit" in calendar.get_content()
    assert part(message, "text/html")  # the alternative survives next to the attachment


def test_it_adds_the_extra_headers(smtp_server: FakeSMTP, smtp_settings: Settings) -> None:
    headers = {"Auto-Submitted": "auto-generated", "List-Unsubscribe": "<https://x.example/u>"}

    SMTPEmail(smtp_settings).send(email(headers=headers))

    [message] = smtp_server.messages
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"] == "<https://x.example/u>"


@pytest.mark.parametrize(
    ("command", "code", "error"),
    [
        ("MAIL", 451, TransientError),
        ("RCPT", 451, TransientError),
        ("RCPT", 452, TransientError),
        ("DATA", 451, TransientError),
        ("MAIL", 553, PermanentError),
        ("RCPT", 550, PermanentError),
        ("DATA", 554, PermanentError),
    ],
)
def test_it_classifies_the_servers_refusals(
    smtp_server: FakeSMTP,
    smtp_settings: Settings,
    command: str,
    code: int,
    error: type[Exception],
) -> None:
    smtp_server.fail_next(command, code, f"<{PATIENT}>: no")  # type: ignore[arg-type]

    with pytest.raises(error) as raised:
        SMTPEmail(smtp_settings).send(email())

    assert getattr(raised.value, "code", None) == str(code)
    assert "jane.doe" not in str(raised.value)
    assert smtp_server.messages == []


def test_a_refused_connection_is_transient(smtp_server: FakeSMTP, tmp_path: Path) -> None:
    settings = smtp_settings_for(smtp_server, tmp_path, smtp_port=closed_port())

    with pytest.raises(TransientError):
        SMTPEmail(settings).send(email())


def test_a_slow_answer_to_the_message_is_an_unknown_outcome(
    smtp_server: FakeSMTP, tmp_path: Path
) -> None:
    settings = smtp_settings_for(smtp_server, tmp_path, smtp_timeout=0.2)
    smtp_server.delay_next(0.6)

    with pytest.raises(UnknownOutcome):
        SMTPEmail(settings).send(email())

    assert len(smtp_server.messages) == 1  # the server did get it: never resend blindly


def test_each_message_gets_its_own_message_id(smtp_settings: Settings) -> None:
    first, second = (build_email(smtp_settings, email()) for _ in range(2))

    assert first["Message-ID"] != second["Message-ID"]
    assert first["Message-ID"].endswith("@clinic.example>")


def test_the_email_from_setting_may_carry_its_own_display_name(tmp_path: Path) -> None:
    settings = Settings(email_from="Front Desk <desk@clinic.example>", outbox_dir=tmp_path)

    message = build_email(settings, email())

    assert str(message["From"]) == "Front Desk <desk@clinic.example>"


@pytest.mark.parametrize(
    ("reply", "masked"),
    [
        ("5.1.1 <jane.doe@patient.example>: unknown", "5.1.1 <***@patient.example>: unknown"),
        ("5.7.1 rejected", "5.7.1 rejected"),
    ],
)
def test_mask_emails_hides_mailbox_names(reply: str, masked: str) -> None:
    assert mask_emails(reply) == masked


LONG_LINK = "https://reminders.clinic.example/unsubscribe/UDEyMzQ1Njc4OTA." + "s" * 43
ONE_CLICK = {
    "List-Unsubscribe": f"<{LONG_LINK}>, <mailto:desk@clinic.example?subject=unsubscribe>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


def test_the_server_receives_list_unsubscribe_as_raw_links_not_encoded_words(
    smtp_server: FakeSMTP, smtp_settings: Settings
) -> None:
    assert len(ONE_CLICK["List-Unsubscribe"]) > 78  # the length that used to get it encoded

    SMTPEmail(smtp_settings).send(email(headers=ONE_CLICK))

    [received] = smtp_server.received
    wanted = (
        b"\r\nList-Unsubscribe: <" + LONG_LINK.encode() + b">, "
        b"<mailto:desk@clinic.example?subject=unsubscribe>\r\n"
    )
    assert wanted in received.raw
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in received.raw
    assert b"=?utf-8?" not in received.raw.split(b"\r\n\r\n")[0]


def test_a_header_past_the_line_limit_breaks_after_a_comma_still_unencoded(
    smtp_server: FakeSMTP, smtp_settings: Settings
) -> None:
    links = [f"<https://x.example/{'u' * 300}/{n}>" for n in range(4)]

    SMTPEmail(smtp_settings).send(email(headers={"List-Unsubscribe": ", ".join(links)}))

    [received] = smtp_server.received
    head = received.raw.split(b"\r\n\r\n")[0]
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    assert b"List-Unsubscribe: " + ",\r\n ".join(links).encode() + b"\r\n" in received.raw + b"\r\n"
    assert str(received.message["List-Unsubscribe"]) == ", ".join(links)
