"""The outbox channel: one new file per send, never overwriting one."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from uuid import UUID

import pytest

from reminders.channels import outbox
from reminders.channels.base import Attachment, Outgoing
from reminders.channels.outbox import Outbox, OutboxClash
from reminders.config import Clinic, Settings

NOW = datetime(2025, 3, 10, 15, 0, 5, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(outbox_dir=tmp_path / "outbox" / "nested", email_from="desk@clinic.example")


def sms(**kw: object) -> Outgoing:
    fields: dict[str, object] = {
        "message_id": 12,
        "channel": "sms",
        "to": "+14035550123",
        "body": "Clinic: see you Tue at 9:30. Reply C to confirm.",
        "now": NOW,
    }
    return Outgoing(**(fields | kw))  # type: ignore[arg-type]


def email_out(**kw: object) -> Outgoing:
    fields: dict[str, object] = {
        "message_id": 13,
        "channel": "email",
        "to": "jane@patient.example",
        "subject": "Your visit on Tuesday",
        "body": "See you Tuesday.",
        "html": "<p>See you Tuesday.</p>",
        "attachments": (Attachment("visit.ics", "text/calendar", b"BEGIN:VCALENDAR\r\n"),),
        "now": NOW,
    }
    return Outgoing(**(fields | kw))  # type: ignore[arg-type]


def files(settings: Settings) -> list[Path]:
    return sorted(Path(settings.outbox_dir).iterdir())


def test_it_writes_an_sms_as_json(settings: Settings) -> None:
    name = Outbox(settings).send(sms())

    assert name.startswith("20250310T150005Z-000012-sms-") and name.endswith(".json")
    record = json.loads((Path(settings.outbox_dir) / name).read_text("utf-8"))
    assert record == {
        "to": "+14035550123",
        "from": settings.clinic.phone,  # no Twilio number configured
        "body": sms().body,
        "message_id": 12,
        "sent_at": "2025-03-10T15:00:05+00:00",
    }


@pytest.mark.parametrize(
    ("twilio_from", "clinic_phone", "sender"),
    [("+15877000000", "+14032027272", "+15877000000"), ("", "+14035550000", "+14035550000")],
)
def test_the_sms_sender_is_the_twilio_number_else_the_clinic_phone(
    tmp_path: Path, twilio_from: str, clinic_phone: str, sender: str
) -> None:
    settings = Settings(
        outbox_dir=tmp_path, twilio_from=twilio_from, clinic=Clinic(phone=clinic_phone)
    )

    name = Outbox(settings).send(sms())

    assert json.loads((tmp_path / name).read_text("utf-8"))["from"] == sender


def test_it_writes_an_email_as_an_eml_file_that_parses_back(settings: Settings) -> None:
    name = Outbox(settings).send(email_out())

    assert name.endswith(".eml")
    raw = (Path(settings.outbox_dir) / name).read_bytes()
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "Your visit on Tuesday"
    assert message["Message-ID"].endswith("@clinic.example>")
    types = [part.get_content_type() for part in message.walk()]
    assert types == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
    ]


def test_two_sends_of_the_same_message_leave_two_files(settings: Settings) -> None:
    channel = Outbox(settings)

    first, second = channel.send(sms()), channel.send(sms())

    assert first != second
    assert [path.name for path in files(settings)] == sorted([first, second])


def test_it_never_overwrites_an_existing_file(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = Outbox(settings)
    first = channel.send(sms(body="the first one"))
    # Force the clash: the next send draws the same random suffix as the first.
    suffix = first.rsplit("-", 1)[1].removesuffix(".json")
    monkeypatch.setattr(outbox, "uuid4", lambda: UUID(suffix + "0" * 24))

    with pytest.raises(OutboxClash):
        channel.send(sms(body="the second one"))

    assert [path.name for path in files(settings)] == [first]  # no temporary left behind
    assert json.loads(files(settings)[0].read_text("utf-8"))["body"] == "the first one"


def test_it_refuses_a_channel_it_has_no_format_for(settings: Settings) -> None:
    with pytest.raises(ValueError, match="fax"):
        Outbox(settings).send(sms(channel="fax"))


def test_the_eml_file_carries_list_unsubscribe_as_raw_links_not_encoded_words(
    settings: Settings,
) -> None:
    link = "https://reminders.clinic.example/unsubscribe/UDEyMzQ1Njc4OTA." + "s" * 43
    headers = {
        "List-Unsubscribe": f"<{link}>, <mailto:desk@clinic.example?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }

    name = Outbox(settings).send(email_out(headers=headers))

    raw = (Path(settings.outbox_dir) / name).read_bytes()
    head = raw.split(b"\r\n\r\n")[0]
    assert (
        b"\r\nList-Unsubscribe: <" + link.encode() + b">, "
        b"<mailto:desk@clinic.example?subject=unsubscribe>\r\n" in raw
    )
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    assert b"=?" not in head
