"""Settle sends whose outcome is unknown by asking the provider, never by resending blindly.

One pass (the beat runs it every minute; `reminders tick` too):

- a send whose worker died is `unknown` (`dispatch.release_stale`, the same rule as a tick);
- an unknown SMS found in Twilio's list of messages to that number is `sent`; one still
  missing after `RETRY_GRACE` is planned again, once, unless it is too late to matter;
  a second unknown is left for staff;
- an unknown email goes again once with the same Message-ID (`email_retry_unknown`, the
  default), or is left for staff: SMTP has no listing to ask;
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session as DB

from reminders import store
from reminders.channels import channel_for
from reminders.channels.base import ChannelError
from reminders.config import Settings
from reminders.journal import record
from reminders.models import Message, MessageEvent, MessageStatus
from reminders.sending.claims import release_stale

# Give the provider a moment to list what it accepted; stop asking after a day.
GRACE = timedelta(minutes=1)
HORIZON = timedelta(days=1)
# Clock skew between us and the provider must not hide a message from the listing.
SKEW = timedelta(minutes=5)
# Still not listed this long after the attempt: Twilio never accepted it.
RETRY_GRACE = timedelta(minutes=10)

RETRIED = "not found at Twilio 10 minutes after the attempt: planned again (once)"
SMS_FOR_STAFF = "not found at Twilio after one retry: left for staff, not resent"
SMS_TOO_LATE = "not found at Twilio and too late to resend: left for staff"
EMAIL_RETRIED = (
    "email outcome unknown: sent again once with the same Message-ID "
    "(mail systems keep one copy of a Message-ID)"
)
EMAIL_FOR_STAFF = (
    "email outcome unknown: SMTP cannot be asked whether it arrived; "
    "left for staff (ask the patient before resending)"
)

FindSent = Callable[[str, datetime, str], "str | None"]


@dataclass
class Reconciled:
    found: int = 0
    retried: int = 0
    for_staff: int = 0


def reconcile(settings: Settings, now: datetime) -> Reconciled:
    """One pass over stuck and unknown sends; safe to run twice at once (row locks)."""
    done = Reconciled()
    with store.transaction(settings.database_url) as db:
        release_stale(db, settings, now)
    find_sent: FindSent | None = getattr(channel_for(settings, "sms"), "find_sent", None)
    if find_sent is not None:
        for message_id in _unknown_sms(settings, now):
            _settle_sms(settings, find_sent, message_id, now, done)
    emails = _settle_emails(settings, now)
    done.retried += emails.retried
    done.for_staff += emails.for_staff
    return done


def reconcile_unknown(settings: Settings, now: datetime) -> int:
    """The whole pass (for the CLI and the beat task); returns the SMS found at the provider."""
    return reconcile(settings, now).found


def _unknown_sms(settings: Settings, now: datetime) -> list[int]:
    with store.transaction(settings.database_url) as db:
        return list(
            db.scalars(
                select(Message.id)
                .where(
                    Message.status == MessageStatus.UNKNOWN,
                    Message.channel == "sms",
                    Message.attempted_at <= now - GRACE,
                    Message.attempted_at >= now - HORIZON,
                    Message.reason.not_in((SMS_FOR_STAFF, SMS_TOO_LATE)),
                )
                .order_by(Message.id)
            )
        )


def _settle_sms(
    settings: Settings, find_sent: FindSent, message_id: int, now: datetime, done: Reconciled
) -> None:
    with store.transaction(settings.database_url) as db:
        message = db.get(Message, message_id, with_for_update=True)
        if message is None or message.status != MessageStatus.UNKNOWN:
            return  # settled by someone else meanwhile
        attempted = message.attempted_at
        assert attempted is not None  # selected on it
        try:
            sid = find_sent(message.recipient or "", attempted - SKEW, message.body or "")
        except ChannelError:
            return  # the listing failed; asking again next pass is harmless
        if sid is not None:
            message.provider_id, message.sent_at = sid, attempted
            record(db, message, MessageStatus.SENT, "found at the provider", now)
            done.found += 1
        elif now - attempted >= RETRY_GRACE:
            _retry_or_leave(db, message, now, done)


def _retry_or_leave(db: DB, message: Message, now: datetime, done: Reconciled) -> None:
    if message.expires_at is not None and now >= message.expires_at:
        record(db, message, MessageStatus.UNKNOWN, SMS_TOO_LATE, now)
        done.for_staff += 1
    elif _retried_before(db, message.id):
        record(db, message, MessageStatus.UNKNOWN, SMS_FOR_STAFF, now)
        done.for_staff += 1
    else:
        message.due_at = now
        record(db, message, MessageStatus.PLANNED, RETRIED, now)
        done.retried += 1


def _retried_before(db: DB, message_id: int) -> bool:
    return bool(
        db.scalar(
            select(
                exists().where(
                    MessageEvent.message_id == message_id,
                    MessageEvent.reason.in_((RETRIED, EMAIL_RETRIED)),
                )
            )
        )
    )


def _settle_emails(settings: Settings, now: datetime) -> Reconciled:
    """An unknown email goes again once with the same Message-ID (the clinic's default),
    or is left for staff; either is said once, in the log."""
    done = Reconciled()
    with store.transaction(settings.database_url) as db:
        emails = db.scalars(
            select(Message)
            .where(
                Message.status == MessageStatus.UNKNOWN,
                Message.channel == "email",
                Message.reason != EMAIL_FOR_STAFF,
                Message.attempted_at <= now - GRACE,
            )
            .with_for_update(skip_locked=True)
        ).all()
        for message in emails:
            too_late = message.expires_at is not None and now >= message.expires_at
            if (
                settings.email_retry_unknown
                and not too_late
                and not _retried_before(db, message.id)
            ):
                message.due_at = now
                record(db, message, MessageStatus.PLANNED, EMAIL_RETRIED, now)
                done.retried += 1
            else:
                record(db, message, MessageStatus.UNKNOWN, EMAIL_FOR_STAFF, now)
                done.for_staff += 1
    return done
