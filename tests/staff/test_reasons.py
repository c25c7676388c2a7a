"""Every status and provider error in the front desk's words, with what to do."""

from __future__ import annotations

import pytest

from reminders.models import MessageStatus
from reminders.staff.reasons import explain


@pytest.mark.parametrize(
    ("status", "reason", "text", "todo"),
    [
        (
            "failed",
            "permanent error (21614): Twilio HTTP 400 error 21614: 'To' number is a landline",
            "landline: cannot receive SMS",
            "call instead, or fix the number",
        ),
        (
            "failed",
            "permanent error (21610): Twilio HTTP 400 error 21610: unsubscribed; SMS opt-out "
            "recorded (the number unsubscribed at Twilio)",
            "patient texted STOP",
            "no more SMS; call, or ask them to text START",
        ),
        (
            "failed",
            "permanent error (21211): Twilio HTTP 400 error 21211: invalid 'To'",
            "not a valid mobile number",
            "fix the number on file, or call",
        ),
        (
            "undelivered",
            "Twilio: undelivered (error 30006)",
            "landline or unreachable carrier",
            "call instead, or fix the number",
        ),
        (
            "failed",
            "permanent error (550): mailbox unavailable",
            "the mailbox does not exist",
            "check the email address",
        ),
        (
            "unknown",
            "outcome unknown: no answer from Twilio (ReadTimeout); it may have accepted it",
            "we could not learn whether it arrived",
            "ask the patient; do not resend in a hurry",
        ),
        (
            "unknown",
            "worker stopped during the send: outcome unknown, not resent",
            "we could not learn whether it arrived",
            "ask the patient; do not resend in a hurry",
        ),
        ("suppressed", "patient opted out of sms", "patient opted out of SMS", "call instead"),
        ("suppressed", "no sms address on file", "no mobile number on file", "add one, or call"),
        ("planned", "quiet hours: deferred to 08:00", "waiting for the end of quiet hours", ""),
        ("skipped", "session moved", "the session moved: a new reminder was planned", ""),
        (
            "failed",
            "gave up after 5 attempts: Twilio HTTP 503",
            "the provider kept failing",
            "resend later, or call",
        ),
        (
            "failed",
            "template error: 'when' is undefined",
            "the message template is broken",
            "tell an administrator",
        ),
    ],
)
def test_a_stored_reason_reads_as_plain_words_and_what_to_do(
    status: str, reason: str, text: str, todo: str
) -> None:
    explained = explain(status, reason)

    assert (explained.text, explained.todo) == (text, todo)


@pytest.mark.parametrize("status", [s.value for s in MessageStatus])
def test_every_status_has_plain_words_even_without_a_reason(status: str) -> None:
    explained = explain(status)

    assert explained.text and "_" not in explained.text


def test_an_unknown_provider_code_falls_back_to_the_status() -> None:
    assert explain("failed", "permanent error (99999): something new").text == "not sent"
