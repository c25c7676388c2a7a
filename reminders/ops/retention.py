"""Retention: after `retention_days`, a message keeps what it was and what happened to it
(kind, channel, status, times, attempts, who triggered it, its events) and loses what it
said and to whom (subject, body, recipient); an SMS reply loses its text and number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from reminders import store
from reminders.config import Settings
from reminders.models import InboundMessage, Message, MessageStatus

# Rows still in play keep their text: the sender or the reconciler may need it.
IN_PLAY = (
    MessageStatus.PLANNED,
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.UNKNOWN,
)
ERASED = ""


@dataclass(frozen=True)
class Purge:
    messages: int
    replies: int
    before: datetime | None

    def __str__(self) -> str:
        if self.before is None:
            return "retention_days is 0: everything is kept"
        return (
            f"{self.messages} message(s) and {self.replies} SMS repl(ies) older than "
            f"{self.before:%Y-%m-%d %H:%M} UTC"
        )


def purge(settings: Settings, now: datetime, *, dry_run: bool = False) -> Purge:
    """Erase the text and addresses older than the retention period; `dry_run` counts only."""
    if not settings.retention_days:
        return Purge(0, 0, None)
    before = now - timedelta(days=settings.retention_days)
    messages = (
        Message.due_at < before,
        Message.status.not_in(IN_PLAY),
        or_(
            Message.body.is_not(None), Message.recipient.is_not(None), Message.subject.is_not(None)
        ),
    )
    replies = (
        InboundMessage.received_at < before,
        or_(InboundMessage.body != ERASED, InboundMessage.from_phone != ERASED),
    )
    with store.transaction(settings.database_url) as db:
        if dry_run:
            found = db.scalar(select(func.count(Message.id)).where(*messages)) or 0
            heard = db.scalar(select(func.count(InboundMessage.id)).where(*replies)) or 0
            return Purge(found, heard, before)
        erase = {"body": None, "subject": None, "recipient": None}
        found = db.execute(update(Message).where(*messages).values(**erase)).rowcount  # type: ignore[attr-defined]
        heard = db.execute(
            update(InboundMessage).where(*replies).values(body=ERASED, from_phone=ERASED)
        ).rowcount  # type: ignore[attr-defined]
    return Purge(found, heard, before)
