"""What Needs attention lists: patient replies nobody has handled, and sent SMS whose
delivery Twilio never confirmed or denied. Handling an item goes through
`reminders.staff.worklist`, which writes who did what in the journal; an item staff closed
is left out here, in SQL, so that a list can stop after its first open items."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, String, cast, false, literal, select, true
from sqlalchemy.orm import InstrumentedAttribute, joinedload

from reminders import store
from reminders.channels.twilio import FINAL_STATUSES
from reminders.config import Settings
from reminders.models import (
    InboundMessage,
    Message,
    MessageStatus,
    Patient,
    Series,
    Session,
    StaffAction,
)
from reminders.staff.requests import reply_has_request

STAFF_INTENTS = ("reschedule", "other")
# A sent SMS without delivered/undelivered/failed this long after: its callback got lost.
STALE_AFTER = timedelta(days=1)
# ...and staff stop hearing about it a week later, so the list does not grow for ever.
STALE_WINDOW = timedelta(days=7)
# Outcomes that take an item off the list (until its situation changes).
CLOSING = frozenset({"called", "booked", "wrong_number", "handled"})


def not_closed(
    item: ColumnElement[str], situation: ColumnElement[str] | InstrumentedAttribute[str] | str
) -> ColumnElement[bool]:
    """No closing outcome recorded for `item` in `situation`: it is still to do. One probe
    of `ix_staff_actions_item` per row."""
    closing = select(StaffAction.id).where(
        StaffAction.item == item,
        StaffAction.situation == situation,
        StaffAction.action.in_(CLOSING),
    )
    return ~closing.exists()


def message_item() -> ColumnElement[str]:
    """A message's call-list name, "message:42", in SQL."""
    return literal("message:", String) + cast(Message.id, String)


@dataclass(frozen=True)
class StaffReply:
    id: int
    received_at: datetime
    from_phone: str
    body: str
    intent: str
    patient_id: str | None
    patient_name: str
    session_id: str | None
    session_at: datetime | None
    auto_reply: str | None


def unhandled_query() -> Select[tuple[InboundMessage]]:
    """Reschedule replies and free text nobody has dealt with yet, newest first; an "R"
    that became a patient request is left to the request (`staff.requests`). A closing
    outcome marks a reply handled, so nothing closed is left here."""
    return (
        select(InboundMessage)
        .where(
            InboundMessage.intent.in_(STAFF_INTENTS),
            InboundMessage.handled_at.is_(None),
            ~reply_has_request(),  # listed as its request
        )
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
    )


def unhandled(settings: Settings, limit: int = 200) -> list[StaffReply]:
    """The newest `limit` replies of `unhandled_query`, with their patients and sessions."""
    with store.transaction(settings.database_url) as db:
        found = db.scalars(
            unhandled_query()
            .options(joinedload(InboundMessage.patient), joinedload(InboundMessage.session))
            .limit(limit)
        ).all()
        return [_staff_reply(inbound) for inbound in found]


def _staff_reply(inbound: InboundMessage) -> StaffReply:
    patient, session = inbound.patient, inbound.session
    return StaffReply(
        id=inbound.id,
        received_at=inbound.received_at,
        from_phone=inbound.from_phone,
        body=inbound.body,
        intent=inbound.intent,
        patient_id=patient.external_id if patient else None,
        patient_name=f"{patient.first_name} {patient.last_name}".strip() if patient else "",
        session_id=session.external_id if session else None,
        session_at=session.starts_at if session else None,
        auto_reply=inbound.auto_reply,
    )


@dataclass(frozen=True)
class StaleSMS:
    """A sent SMS whose delivery Twilio never confirmed or denied, for Needs attention."""

    message_id: int
    patient_id: str  # the patient's external id
    patient_name: str
    kind: str
    sent_at: datetime
    provider_id: str | None
    provider_status: str | None


def stale_query(settings: Settings, now: datetime) -> Select[tuple[Message]]:
    """Sent SMS with no final delivery status a day on (sent in the last week) that staff
    have not closed, oldest first; `ix_messages_sms_sent` hands them over in that order.
    None without a public URL: Twilio then has nowhere to report delivery."""
    return (
        select(Message)
        .where(
            true() if settings.public_url else false(),
            Message.status == MessageStatus.SENT,
            Message.channel == "sms",
            Message.sent_at <= now - STALE_AFTER,
            Message.sent_at >= now - STALE_AFTER - STALE_WINDOW,
            (Message.provider_status.is_(None)) | (Message.provider_status.not_in(FINAL_STATUSES)),
            not_closed(message_item(), "no_report"),
        )
        .order_by(Message.sent_at, Message.id)
    )


def stale_sms(settings: Settings, now: datetime, limit: int | None = None) -> list[StaleSMS]:
    """The oldest `limit` (or all) of `stale_query`."""
    with store.transaction(settings.database_url) as db:
        messages = db.scalars(
            stale_query(settings, now)
            .options(
                joinedload(Message.session).joinedload(Session.series).joinedload(Series.patient)
            )
            .limit(limit)
        ).all()
        return [stale_of(message) for message in messages]


def stale_of(message: Message) -> StaleSMS:
    """A message of `stale_query`, loaded with its session, series and patient."""
    patient: Patient = message.session.series.patient
    assert message.sent_at is not None  # selected on it
    return StaleSMS(
        message_id=message.id,
        patient_id=patient.external_id,
        patient_name=f"{patient.first_name} {patient.last_name}",
        kind=message.kind,
        sent_at=message.sent_at,
        provider_id=message.provider_id,
        provider_status=message.provider_status,
    )
