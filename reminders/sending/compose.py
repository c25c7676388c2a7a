"""Re-check a claimed message at send time and, when it still should go, render it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session as DB

from reminders.channels.base import Attachment, Outgoing
from reminders.channels.smtp import message_id_for
from reminders.config import Settings
from reminders.journal import record
from reminders.kinds import kind_of
from reminders.models import UPCOMING, Message, MessageStatus
from reminders.planning import followups
from reminders.planning.quiet_hours import window_at
from reminders.wording.calendar import session_ics
from reminders.wording.session_links import session_url
from reminders.wording.templating import Rendered, TemplateProblem, render_for
from reminders.wording.unsubscribe_links import unsubscribe_headers, unsubscribe_url


def compose(db: DB, settings: Settings, message: Message, now: datetime) -> Outgoing | None:
    """The message ready for its channel, or None with the reason recorded (skipped,
    suppressed, deferred for quiet hours, expired, a template error).

    The row stays queued: it becomes `sending` only just before its own provider call.
    """
    verdict = recheck(settings, message, now)
    if verdict is not None:
        status, reason, due = verdict
        if due is not None:
            message.due_at = due
        record(db, message, status, reason, now)
        return None
    session = message.session
    patient = session.series.patient
    kind = kind_of(message.kind)
    unsubscribing = kind.offers_unsubscribe(message.channel)
    attachments: tuple[Attachment, ...] = ()
    try:
        rendered = render_message(settings, message, now)
        if kind.attaches_calendar(message.channel):
            attachments = (session_ics(settings, session, now=now),)
    except TemplateProblem as exc:
        record(db, message, MessageStatus.FAILED, f"template error: {exc}", now)
        return None
    recipient = patient.address_for(message.channel) or ""
    message.recipient, message.subject, message.body = recipient, rendered.subject, rendered.text
    if message.channel == "email" and message.provider_id is None:
        # Given before the first attempt and kept: a retry after an unknown outcome carries
        # the same Message-ID, and mail systems keep one copy of a Message-ID.
        message.provider_id = message_id_for(settings, message.id)
    return Outgoing(
        message_id=message.id,
        channel=message.channel,
        to=recipient,
        body=rendered.text,
        subject=rendered.subject,
        html=rendered.html,
        attachments=attachments,
        headers=unsubscribe_headers(settings, patient) if unsubscribing else {},
        now=now,
        expires_at=message.expires_at,
        reference=message.provider_id if message.channel == "email" else None,
    )


def render_message(settings: Settings, message: Message, now: datetime) -> Rendered:
    """What the message says, sent at `now`, with its links; changes nothing (the preview
    shows the same text). Raises TemplateProblem."""
    session = message.session
    kind = kind_of(message.kind)
    unsubscribing = kind.offers_unsubscribe(message.channel)
    self_service = kind.offers_self_service(message.channel)
    return render_for(
        settings,
        message.kind,
        message.channel,
        session,
        now=now,
        unsubscribe_url=unsubscribe_url(settings, session.series.patient) if unsubscribing else "",
        self_service_url=session_url(settings, session, now) if self_service else "",
    )


Verdict = tuple[str, str, datetime | None]


def recheck(settings: Settings, message: Message, now: datetime) -> Verdict | None:
    """Why this message must not go out now (status, reason, new due time), or None."""
    session = message.session
    patient = session.series.patient
    kind = kind_of(message.kind)
    manual = message.triggered_by != "planner"
    if message.before_session and session.status not in UPCOMING:
        return MessageStatus.SKIPPED, f"session {session.status}", None
    if message.planned_for is not None and message.planned_for != session.starts_at:
        return MessageStatus.SKIPPED, "session moved", None
    if message.expires_at is not None and now >= message.expires_at:
        why = "session already started" if message.before_session else "too late to be useful"
        return MessageStatus.EXPIRED, why, None
    if kind.follow_up:
        reason = followups.still_wanted(settings, message, now)
        if reason is not None:
            return MessageStatus.SKIPPED, reason, None
    if patient.opted_out_of(message.channel):
        return MessageStatus.SUPPRESSED, f"patient opted out of {message.channel}", None
    if kind.offers_unsubscribe(message.channel) and patient.followup_email_opt_out:
        return MessageStatus.SUPPRESSED, "patient unsubscribed from follow-up emails", None
    if not patient.address_for(message.channel):
        return MessageStatus.SUPPRESSED, f"no {message.channel} address on file", None
    # A person's resend never waits.
    if not manual and kind.waits_out_quiet_hours(message.channel):
        return _quiet_hours(settings, message, now)
    return None


def _quiet_hours(settings: Settings, message: Message, now: datetime) -> Verdict | None:
    window = window_at(settings.quiet_hours, settings.clinic.zone, now)
    if window is None:
        return None
    if message.expires_at is not None and window.end >= message.expires_at:
        until = "the session starts" if message.before_session else "it is too late"
        return MessageStatus.EXPIRED, f"quiet hours last until {until}", None
    local_end = window.end.astimezone(settings.clinic.zone).strftime("%H:%M")
    return MessageStatus.PLANNED, f"quiet hours: deferred to {local_end}", window.end
