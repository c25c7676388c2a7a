"""The Twilio channel, through the real twilio client, against the loopback Messages API."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reminders.channels.base import Outgoing, PermanentError, TransientError, UnknownOutcome
from reminders.channels.twilio import TwilioSMS, mask_phones
from reminders.config import Settings
from tests.fakes.fixtures import TWILIO_FROM, twilio_settings_for
from tests.fakes.twilio_api import FakeTwilio

PATIENT = "+14035550123"
NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)


def sms(
    body: str = "Calgary Integrative Medicine: see you Tue 11 Mar at 9:30.", **kw: object
) -> Outgoing:
    fields: dict[str, object] = {"message_id": 7, "channel": "sms", "to": PATIENT, "body": body}
    return Outgoing(**(fields | kw))  # type: ignore[arg-type]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_it_returns_the_sid_twilio_recorded(
    twilio_api: FakeTwilio, twilio_settings: Settings
) -> None:
    sid = TwilioSMS(twilio_settings).send(sms())

    [sent] = twilio_api.messages
    assert sid == sent.sid and sid.startswith("SM") and len(sid) == 34
    assert (sent.to, sent.from_, sent.body) == (PATIENT, TWILIO_FROM, sms().body)
    assert sent.messaging_service_sid is None
    assert sent.status_callback is None  # no public_url, so nowhere to call back
    assert sent.validity_period is None


def test_it_asks_for_status_callbacks_at_the_public_url(
    twilio_api: FakeTwilio, tmp_path: Path
) -> None:
    settings = twilio_settings_for(twilio_api, tmp_path, public_url="https://clinic.example/")

    TwilioSMS(settings).send(sms())

    [sent] = twilio_api.messages
    assert sent.status_callback == "https://clinic.example/webhooks/twilio/status"


def test_it_sends_through_a_messaging_service_when_one_is_set(
    twilio_api: FakeTwilio, tmp_path: Path
) -> None:
    service = "MG" + "0" * 32
    settings = twilio_settings_for(twilio_api, tmp_path, twilio_messaging_service_sid=service)

    TwilioSMS(settings).send(sms())

    [sent] = twilio_api.messages
    assert (sent.messaging_service_sid, sent.from_) == (service, None)


@pytest.mark.parametrize(
    ("expires_in", "validity"),
    [
        (timedelta(hours=2), 7200),
        (timedelta(days=3), 36000),  # Twilio's longest
        (timedelta(seconds=-30), 1),  # already late: the shortest Twilio takes
    ],
)
def test_it_limits_how_long_twilio_may_queue_the_message(
    twilio_api: FakeTwilio, twilio_settings: Settings, expires_in: timedelta, validity: int
) -> None:
    TwilioSMS(twilio_settings).send(sms(now=NOW, expires_at=NOW + expires_in))

    assert twilio_api.messages[0].validity_period == validity


def test_it_reuses_one_connection_for_many_sends(
    twilio_api: FakeTwilio, twilio_settings: Settings
) -> None:
    channel = TwilioSMS(twilio_settings)

    for _ in range(5):
        channel.send(sms())

    assert len(twilio_api.messages) == 5
    assert twilio_api.connections == 1


@pytest.mark.parametrize(
    ("status", "code", "error", "rfc9457"),
    [
        (429, 20429, TransientError, False),
        (429, 20429, TransientError, True),  # the newer problem-details body
        (500, 20500, TransientError, False),
        (503, 20500, TransientError, True),
        (400, 30003, TransientError, False),
        (400, 21211, PermanentError, False),
        (400, 21610, PermanentError, False),
        (400, 21614, PermanentError, False),
        (400, 21614, PermanentError, True),
        (400, 21635, PermanentError, False),
        (400, 30007, PermanentError, False),
        (401, 20003, PermanentError, False),
    ],
)
def test_it_classifies_twilio_errors(
    twilio_api: FakeTwilio,
    twilio_settings: Settings,
    status: int,
    code: int,
    error: type[Exception],
    rfc9457: bool,
) -> None:
    twilio_api.fail_next(status=status, code=code, rfc9457=rfc9457)

    with pytest.raises(error) as raised:
        TwilioSMS(twilio_settings).send(sms())

    assert getattr(raised.value, "code", None) == str(code)
    assert twilio_api.messages == []


def test_it_keeps_the_phone_number_out_of_error_messages(
    twilio_api: FakeTwilio, twilio_settings: Settings
) -> None:
    twilio_api.fail_next(status=400, code=21211)  # Twilio's text names the number

    with pytest.raises(PermanentError) as raised:
        TwilioSMS(twilio_settings).send(sms())

    assert PATIENT not in str(raised.value)
    assert PATIENT[1:] not in str(raised.value)
    assert "***23" in str(raised.value)


def test_it_fails_only_the_recipient_twilio_refuses(
    twilio_api: FakeTwilio, twilio_settings: Settings
) -> None:
    twilio_api.fail_by_recipient("+14035550999", status=400, code=21610)
    channel = TwilioSMS(twilio_settings)

    with pytest.raises(PermanentError):
        channel.send(sms(to="+14035550999"))
    channel.send(sms())

    assert [sent.to for sent in twilio_api.messages] == [PATIENT]


def test_a_slow_answer_is_an_unknown_outcome_that_reconciliation_settles(
    twilio_api: FakeTwilio, tmp_path: Path
) -> None:
    channel = TwilioSMS(twilio_settings_for(twilio_api, tmp_path, twilio_timeout=0.2))
    attempted_at = datetime.now(UTC)
    twilio_api.delay_next(0.6)

    with pytest.raises(UnknownOutcome) as raised:
        channel.send(sms())

    [accepted] = twilio_api.messages
    assert PATIENT not in str(raised.value)
    assert channel.find_sent(PATIENT, attempted_at, sms().body) == accepted.sid


def test_a_connection_lost_after_sending_is_an_unknown_outcome(
    twilio_api: FakeTwilio, twilio_settings: Settings
) -> None:
    twilio_api.hang_up_next()

    with pytest.raises(UnknownOutcome):
        TwilioSMS(twilio_settings).send(sms())

    assert len(twilio_api.messages) == 1


def test_a_refused_connection_is_transient(tmp_path: Path, twilio_api: FakeTwilio) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    channel = TwilioSMS(twilio_settings_for(twilio_api, tmp_path, twilio_api_url=url))

    with pytest.raises(TransientError) as raised:
        channel.send(sms())

    assert PATIENT not in str(raised.value)


def test_it_keeps_the_phone_number_out_of_the_logs(
    twilio_api: FakeTwilio, twilio_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # at DEBUG, urllib3 logs every URL it fetches
    channel = TwilioSMS(twilio_settings)

    channel.find_sent(PATIENT, datetime.now(UTC), channel.send(sms()))

    assert PATIENT[2:] not in caplog.text


def test_find_sent_returns_none_when_nothing_matches(
    twilio_api: FakeTwilio, twilio_settings: Settings
) -> None:
    channel = TwilioSMS(twilio_settings)
    since = datetime.now(UTC)
    channel.send(sms(body="another message"))
    channel.send(sms(to="+14035550999"))

    assert channel.find_sent(PATIENT, since, sms().body) is None
    assert channel.find_sent(PATIENT, since + timedelta(minutes=5), "another message") is None


def test_find_sent_finds_a_message_still_queued_at_twilio(
    twilio_api: FakeTwilio, twilio_settings: Settings
) -> None:
    twilio_api.hold_in_queue()  # no date_sent yet, so a DateSent filter would miss it
    channel = TwilioSMS(twilio_settings)
    since = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as SQLite hands it back

    sid = channel.send(sms())

    assert channel.find_sent(PATIENT, since, sms().body) == sid


def test_a_failed_lookup_is_transient(tmp_path: Path, twilio_api: FakeTwilio) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    channel = TwilioSMS(twilio_settings_for(twilio_api, tmp_path, twilio_api_url=url))

    with pytest.raises(TransientError):
        channel.find_sent(PATIENT, datetime.now(UTC), "body")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("The 'To' number +14035550123 is not valid", "The 'To' number ***23 is not valid"),
        ("call (403) 555-0123 now", "call ***23 now"),
        ("error 21211", "error 21211"),
    ],
)
def test_mask_phones_keeps_only_the_last_two_digits(text: str, masked: str) -> None:
    assert mask_phones(text) == masked
