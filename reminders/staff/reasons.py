"""What a message's status and reason mean to the front desk, and what to do about it.

One mapping for the console and the CLI: the stored reason stays technical (it is the audit
trail); staff read `explain(status, reason)`. Provider codes are matched first, because the
same status ("failed") needs a different action for a landline and for a patient who texted
STOP; then known reasons of our own; then the status alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Explanation:
    """A status in plain words: what happened, and what staff should do (empty: nothing)."""

    text: str
    todo: str = ""

    def __str__(self) -> str:
        return f"{self.text}: {self.todo}" if self.todo else self.text


# Twilio error codes (https://www.twilio.com/docs/api/errors) and SMTP reply codes.
PROVIDER_CODES: dict[str, Explanation] = {
    "21211": Explanation("not a valid mobile number", "fix the number on file, or call"),
    "21408": Explanation("SMS to this country is not enabled", "call the patient"),
    "21610": Explanation("patient texted STOP", "no more SMS; call, or ask them to text START"),
    "21612": Explanation("this number cannot receive our SMS", "call instead"),
    "21614": Explanation("landline: cannot receive SMS", "call instead, or fix the number"),
    "21635": Explanation("not a mobile number", "call instead, or fix the number"),
    "30003": Explanation("phone off or out of reach", "it may arrive later; call if urgent"),
    "30004": Explanation("the patient's phone blocks our SMS", "call instead"),
    "30005": Explanation("number unknown to the carrier", "check the number with the patient"),
    "30006": Explanation("landline or unreachable carrier", "call instead, or fix the number"),
    "30007": Explanation("the carrier filtered it as spam", "call the patient"),
    "30008": Explanation("the carrier could not deliver it", "call the patient"),
    "550": Explanation("the mailbox does not exist", "check the email address"),
    "551": Explanation("the mailbox does not exist", "check the email address"),
    "552": Explanation("the mailbox is full", "call the patient"),
    "553": Explanation("the email address is not valid", "fix the email address"),
}

_UNKNOWN = Explanation(
    "we could not learn whether it arrived", "ask the patient; do not resend in a hurry"
)

# Our own reasons, by the words they start with or contain (lower case).
KNOWN_REASONS: list[tuple[str, Explanation]] = [
    ("patient opted out of sms", Explanation("patient opted out of SMS", "call instead")),
    ("patient opted out of email", Explanation("patient opted out of email", "call instead")),
    ("patient unsubscribed from follow-up", Explanation("patient stopped follow-up emails")),
    ("no sms address", Explanation("no mobile number on file", "add one, or call")),
    ("no email address", Explanation("no email address on file", "add one if the patient wants")),
    ("quiet hours: deferred", Explanation("waiting for the end of quiet hours")),
    ("quiet hours last until", Explanation("quiet hours until it was too late")),
    ("session moved", Explanation("the session moved: a new reminder was planned")),
    ("session cancelled", Explanation("the session was cancelled")),
    ("session no_show", Explanation("the session was missed")),
    ("session completed", Explanation("the session already took place")),
    ("session already started", Explanation("too late: the session had started")),
    ("too late to be useful", Explanation("too late to be useful")),
    ("superseded", Explanation("a later reminder replaced it")),
    ("template error", Explanation("the message template is broken", "tell an administrator")),
    ("gave up after", Explanation("the provider kept failing", "resend later, or call")),
    ("transient error", Explanation("the provider was busy: it will retry by itself")),
    ("worker stopped during the send", _UNKNOWN),
    ("outcome unknown", _UNKNOWN),
    ("not found at twilio", _UNKNOWN),
    ("not found at the provider", _UNKNOWN),
    ("could not be delivered", Explanation("sent by email instead, the SMS did not arrive")),
]

BY_STATUS: dict[str, Explanation] = {
    "planned": Explanation("planned"),
    "queued": Explanation("about to be sent"),
    "sending": Explanation("being sent"),
    "sent": Explanation("sent; no delivery report yet"),
    "delivered": Explanation("delivered to the patient's phone or mailbox"),
    "undelivered": Explanation("the carrier could not deliver it", "call the patient"),
    "failed": Explanation("not sent", "call the patient"),
    "unknown": _UNKNOWN,
    "skipped": Explanation("not needed any more"),
    "suppressed": Explanation("not sent: the patient cannot receive it this way"),
    "expired": Explanation("too late to be useful"),
    "cancelled": Explanation("withdrawn by the planner"),
}

_CODE = re.compile(r"(?:error|code)\D{0,3}(\d{3,5})\b|\((\d{3,5})\)", re.IGNORECASE)


def provider_code(reason: str) -> str | None:
    """The provider's error code in a stored reason ('... (21614): Twilio HTTP 400 ...')."""
    for found in _CODE.finditer(reason):
        code = found.group(1) or found.group(2)
        if code in PROVIDER_CODES:
            return code
    return None


def explain(status: str, reason: str = "") -> Explanation:
    """The plain-language reason for a message in `status` with the stored `reason`."""
    code = provider_code(reason)
    if code is not None:
        return PROVIDER_CODES[code]
    lowered = reason.lower()
    for words, explanation in KNOWN_REASONS:
        if words in lowered:
            return explanation
    return BY_STATUS.get(status, Explanation(status.replace("_", " ")))
