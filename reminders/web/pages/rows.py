"""The rows the pages list: sessions with their reminder timelines, and log entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from reminders.config import Settings
from reminders.kinds import SESSION_REMINDER
from reminders.models import UPCOMING, Message, Session
from reminders.planning.planner import why_not
from reminders.staff.message_log import as_record
from reminders.web.pages.shared import can_resend, full_name, local, request_key
from reminders.wording.templating import total_sessions


@dataclass(frozen=True)
class MessageRow:
    """One message in a session's reminder timeline."""

    kind: str
    channel: str
    status: str
    reason: str
    label: str  # "due", "tried" or "sent"
    at: str
    by: str
    reminder: bool  # a session reminder (not a follow-up)


@dataclass(frozen=True)
class SessionRow:
    id: str
    day: date
    time: str
    patient_id: str
    patient_name: str
    number: int
    of: int
    practitioner: str
    location: str
    status: str
    messages: list[MessageRow]
    notes: list[str]  # why a rule of the policy has no message for this session
    can_resend: bool
    request_key: str


@dataclass(frozen=True)
class LogRow:
    """One message of the log: its record (as the CLI prints it) and what the page adds."""

    record: dict[str, Any]
    patient_name: str
    label: str
    at: str
    session_at: str
    can_resend: bool
    request_key: str


def moment(message: Message) -> tuple[str, datetime]:
    """The time that matters for a message's state, and what it is."""
    if message.sent_at:
        return "sent", message.sent_at
    if message.attempted_at:
        return "tried", message.attempted_at
    return "due", message.due_at


def _message_row(message: Message, zone: ZoneInfo) -> MessageRow:
    label, at = moment(message)
    return MessageRow(
        kind=message.kind.replace("_", " "),
        channel=message.channel,
        status=message.status,
        reason=message.reason,
        label=label,
        at=local(at, zone, "%a %d %b %H:%M"),
        by="" if message.triggered_by == "planner" else message.triggered_by,
        reminder=message.kind == SESSION_REMINDER,
    )


def _unplanned(settings: Settings, session: Session) -> list[str]:
    """The planner's own reason for each rule that has no message for the session."""
    if session.status not in UPCOMING:
        return []  # a past or cancelled session needs no reminder: nothing to explain
    patient = session.series.patient
    planned = {m.rule for m in session.messages}
    reasons = ((rule.name, why_not(session, patient, rule)) for rule in settings.rules)
    return [f"no {name}: {reason}" for name, reason in reasons if reason and name not in planned]


def session_row(settings: Settings, session: Session, now: datetime) -> SessionRow:
    zone = settings.clinic.zone
    patient = session.series.patient
    ordered = sorted(session.messages, key=lambda m: (moment(m)[1], m.id))
    return SessionRow(
        id=session.external_id,
        day=session.starts_at.astimezone(zone).date(),
        time=local(session.starts_at, zone, "%H:%M"),
        patient_id=patient.external_id,
        patient_name=full_name(patient),
        number=session.number,
        of=total_sessions(session),
        practitioner=session.practitioner,
        location=session.location,
        status=session.status,
        messages=[_message_row(m, zone) for m in ordered],
        notes=_unplanned(settings, session),
        can_resend=can_resend(session, now),
        request_key=request_key(),
    )


def log_row(message: Message, zone: ZoneInfo, now: datetime) -> LogRow:
    label, at = moment(message)
    return LogRow(
        record=as_record(message),
        patient_name=full_name(message.session.series.patient),
        label=label,
        at=local(at, zone),
        session_at=local(message.session.starts_at, zone),
        can_resend=can_resend(message.session, now),
        request_key=request_key(),
    )
