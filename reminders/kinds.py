"""What a message's kind implies, in one place: the rest of the code asks, never compares names.

A session reminder is about a visit to come; follow-ups (after-care, the nudges to book, the
missed-session note, the end of the series) keep a series going between and after visits.
A clinic's own rule may name a kind of its own: it is treated like neither.
"""

from __future__ import annotations

from dataclasses import dataclass

SESSION_REMINDER = "session_reminder"


@dataclass(frozen=True)
class MessageKind:
    name: str
    follow_up: bool = False
    session_reminder: bool = False
    # Its email carries the self-service link (confirm, or ask for another time).
    self_service: bool = False

    def offers_unsubscribe(self, channel: str) -> bool:
        """CASL: follow-up emails say how to stop them; session reminders belong to the visit."""
        return self.follow_up and channel == "email"

    def waits_out_quiet_hours(self, channel: str) -> bool:
        """SMS never wake a patient; follow-ups are never urgent on any channel."""
        return channel == "sms" or self.follow_up

    def offers_self_service(self, channel: str) -> bool:
        """Emails only: an SMS stays one segment, and a link would not fit."""
        return self.self_service and channel == "email"

    def attaches_calendar(self, channel: str) -> bool:
        return self.session_reminder and channel == "email"


KINDS = {
    kind.name: kind
    for kind in (
        MessageKind(SESSION_REMINDER, session_reminder=True, self_service=True),
        MessageKind("aftercare", follow_up=True),
        MessageKind("rebook_nudge", follow_up=True, self_service=True),
        MessageKind("missed_session", follow_up=True),
        MessageKind("series_complete", follow_up=True),
    )
}
FOLLOW_UPS = tuple(name for name, kind in KINDS.items() if kind.follow_up)


def kind_of(name: str) -> MessageKind:
    return KINDS.get(name) or MessageKind(name)
