"""An SMS reminder to a number that cannot take SMS goes out once by email instead.

Twilio says so in two places: at once, refusing the send (21614 landline, 21211 invalid,
...), or later, in a delivery callback (30003, 30005, 30006). Both end here, so the email
is planned once whichever comes first, and whether or not the other follows.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session as DB

from reminders.channels.twilio import CANNOT_RECEIVE_SMS
from reminders.journal import record
from reminders.kinds import kind_of
from reminders.models import UPCOMING, Message, MessageStatus

FALLBACK_BY = "sms-fallback"


def plan_fallback(db: DB, sms: Message, error_code: str | None, now: datetime) -> int | None:
    """The id of a queued (claimed) email copy of a failed SMS reminder; None when the error
    is not about the number, the email would not help, or the copy was made already.

    The caller sends it (`send_claimed`) after its transaction commits.
    """
    if not _wants_fallback(sms, error_code or "", now) or _made_already(db, sms):
        return None
    email = Message.reminder_now(
        sms.session, channel="email", by=FALLBACK_BY, now=now, resend_of=sms.id
    )
    db.add(email)
    db.flush()
    why = f"SMS reminder {sms.id} could not be delivered ({sms.reason}): sent by email instead"
    record(db, email, MessageStatus.QUEUED, why, now)
    return email.id


def waiting_fallbacks(db: DB, sms_ids: Collection[int]) -> list[int]:
    """Fallback emails made for these SMS and not yet sent (claimed, queued)."""
    if not sms_ids:
        return []
    return sorted(
        db.scalars(
            select(Message.id).where(
                Message.resend_of.in_(sorted(sms_ids)),
                Message.triggered_by == FALLBACK_BY,
                Message.status == MessageStatus.QUEUED,
            )
        )
    )


def _wants_fallback(message: Message, error_code: str, now: datetime) -> bool:
    if message.status not in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
        return False
    if error_code not in CANNOT_RECEIVE_SMS or message.channel != "sms":
        return False
    if not kind_of(message.kind).session_reminder or not message.before_session:
        return False
    session = message.session
    patient = session.series.patient
    upcoming = session.status in UPCOMING and session.starts_at > now
    return upcoming and bool(patient.email) and not patient.email_opt_out


def _made_already(db: DB, sms: Message) -> bool:
    earlier = db.scalar(
        select(Message.id).where(Message.resend_of == sms.id, Message.triggered_by == FALLBACK_BY)
    )
    return earlier is not None
