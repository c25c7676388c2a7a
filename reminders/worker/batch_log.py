"""One line per sent batch, in words: "sent 3 SMS, 2 emails; 1 SMS held for quiet hours
until 08:00". Counts, channels and clinic times only: never a number, an address or a name.

The line is read back from the rows the batch claimed, after it: their state is the truth,
whatever path each took (sent, deferred, failed over to email, retried later).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from reminders import store
from reminders.config import Settings
from reminders.models import WENT_OUT, Message, MessageStatus
from reminders.planning.quiet_hours import window_at

# How each state after a batch is said; planned rows are told apart below.
SAID = {
    MessageStatus.FAILED: "failed",
    MessageStatus.UNDELIVERED: "undelivered",
    MessageStatus.UNKNOWN: "with an unknown outcome (to be reconciled)",
    MessageStatus.SUPPRESSED: "suppressed (opted out or no address)",
    MessageStatus.SKIPPED: "skipped (session changed)",
    MessageStatus.EXPIRED: "expired (too late to be useful)",
    MessageStatus.CANCELLED: "cancelled",
    MessageStatus.QUEUED: "left queued for the next pass",
    MessageStatus.SENDING: "still sending",
}


def count(n: int, channel: str) -> str:
    if channel == "sms":
        return f"{n} SMS"
    return f"{n} {channel}" + ("s" if n != 1 else "")


def describe_batch(settings: Settings, ids: Iterable[int], now: datetime) -> str:
    """The batch in words, or "" when none of its rows is known."""
    with store.transaction(settings.database_url) as db:
        rows = db.execute(
            select(Message.channel, Message.status, Message.due_at).where(Message.id.in_(list(ids)))
        ).all()
    zone = settings.clinic.zone
    quiet = window_at(settings.quiet_hours, zone, now)
    sent: Counter[str] = Counter()
    others: Counter[tuple[str, str]] = Counter()
    for channel, status, due_at in rows:
        if status in WENT_OUT:
            sent[channel] += 1
        elif status == MessageStatus.PLANNED:
            held = quiet is not None and due_at == quiet.end
            when = due_at.astimezone(zone).strftime("%H:%M")
            others[
                (f"held for quiet hours until {when}" if held else f"to retry at {when}"), channel
            ] += 1
        else:
            others[SAID.get(MessageStatus(status), status), channel] += 1
    parts = []
    if sent:
        parts.append(
            "sent " + ", ".join(count(n, c) for c, n in sorted(sent.items(), key=_sms_first))
        )
    for (said, channel), n in sorted(others.items()):
        parts.append(f"{count(n, channel)} {said}")
    return "; ".join(parts)


def _sms_first(item: tuple[str, int]) -> tuple[bool, str]:
    return item[0] != "sms", item[0]
