"""Settle sends whose outcome is unknown by asking the provider, never by resending."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from reminders import store
from reminders.channels import channel_for
from reminders.config import Settings
from reminders.journal import record
from reminders.models import Message, MessageStatus

# Give the provider a moment to list what it accepted; stop asking after a day.
GRACE = timedelta(minutes=1)
HORIZON = timedelta(days=1)
# Clock skew between us and the provider must not hide a message from the listing.
SKEW = timedelta(minutes=5)


def reconcile_unknown(settings: Settings, now: datetime) -> int:
    """Mark unknown SMS that the provider did accept as sent; returns how many were found."""
    channel = channel_for(settings, "sms")
    find_sent = getattr(channel, "find_sent", None)
    if find_sent is None:
        return 0
    with store.transaction(settings.database_url) as db:
        candidates = db.execute(
            select(Message.id, Message.recipient, Message.body, Message.attempted_at).where(
                Message.status == MessageStatus.UNKNOWN,
                Message.channel == "sms",
                Message.attempted_at <= now - GRACE,
                Message.attempted_at >= now - HORIZON,
            )
        ).all()
    found = 0
    for message_id, recipient, body, attempted_at in candidates:
        sid = find_sent(recipient, attempted_at - SKEW, body)
        if sid is None:
            continue
        with store.transaction(settings.database_url) as db:
            message = db.get(Message, message_id, with_for_update=True)
            if message is not None and message.status == MessageStatus.UNKNOWN:
                message.provider_id, message.sent_at = sid, attempted_at
                record(db, message, MessageStatus.SENT, "found at the provider", now)
                found += 1
    return found
