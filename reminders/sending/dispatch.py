"""Claim due messages, re-check them, send them, record the outcome: exactly once in effect.

A row moves planned -> queued (claimed by a conditional UPDATE) -> sending (committed
before the provider call) -> sent / failed / unknown. A second caller, a redelivered
task or a duplicated tick finds the row already moved and does nothing.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import joinedload, selectinload

from reminders import store
from reminders.channels import channel_for
from reminders.channels.base import (
    Attachment,
    Channel,
    ChannelError,
    Outgoing,
    PermanentError,
    TransientError,
    UnknownOutcome,
)
from reminders.config import Settings
from reminders.feedback.unsubscribe import unsubscribe_headers, unsubscribe_url
from reminders.intake.importer import replan_patients
from reminders.journal import record, record_many
from reminders.models import Message, MessageStatus, Series, Session
from reminders.planning import followups
from reminders.planning.followups import KINDS as FOLLOW_UPS
from reminders.planning.planner import UPCOMING
from reminders.planning.quiet_hours import window_at
from reminders.wording.calendar import session_ics
from reminders.wording.templating import TemplateProblem, render_for

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
OUTCOMES_PER_COMMIT = 20
# Twilio: "Attempt to send to unsubscribed recipient" (the number replied STOP).
UNSUBSCRIBED = "21610"
Sender = Callable[[list[int]], None]


@dataclass
class Report:
    claimed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, other: Report) -> None:
        self.claimed += other.claimed
        self.outcomes.update(other.outcomes)

    def __str__(self) -> str:
        parts = ", ".join(f"{n} {status}" for status, n in sorted(self.outcomes.items()))
        return f"{self.claimed} claimed" + (f": {parts}" if parts else "")


def dispatch_due(settings: Settings, now: datetime, send: Sender | None = None) -> Report:
    """One pass: release stale claims, collapse a catch-up, then claim and send in batches.

    `send` receives each batch of claimed ids; by default they are sent in-process
    (`reminders tick`); Celery beat passes a function that enqueues worker tasks.
    """
    report = Report()
    with store.transaction(settings.database_url) as db:
        release_stale(db, settings, now)
        collapse_catch_up(db, now)
    while True:
        with store.transaction(settings.database_url) as db:
            ids = claim_due(db, now, settings.batch_size)
        if not ids:
            return report
        report.claimed += len(ids)
        if send is None:
            report.add(send_claimed(settings, ids, now))
        else:
            send(ids)


def claim_due(db: DB, now: datetime, limit: int) -> list[int]:
    """Move up to `limit` due rows from planned to queued; only this caller gets them."""
    due = (
        select(Message.id)
        .where(Message.status == MessageStatus.PLANNED, Message.due_at <= now)
        .order_by(Message.due_at, Message.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = db.scalars(
        update(Message)
        .where(Message.id.in_(due.scalar_subquery()), Message.status == MessageStatus.PLANNED)
        .values(status=MessageStatus.QUEUED, claimed_at=now, reason="claimed for sending")
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    ).all()
    ids = sorted(claimed)
    record_many(db, ids, MessageStatus.QUEUED, "claimed for sending", now)
    return ids


def collapse_catch_up(db: DB, now: datetime) -> int:
    """After an outage, keep only the latest due before-session reminder per session and channel."""
    rows = db.execute(
        select(Message.id, Message.session_id, Message.channel, Message.due_at)
        .where(
            Message.status == MessageStatus.PLANNED,
            Message.due_at <= now,
            Message.before_session.is_(True),
            Message.kind == "session_reminder",
            Message.triggered_by == "planner",
        )
        .order_by(Message.due_at.desc(), Message.id.desc())
    ).all()
    seen: set[tuple[int, str]] = set()
    stale: list[int] = []
    for message_id, session_id, channel, _due in rows:
        if (session_id, channel) in seen:
            stale.append(message_id)
        seen.add((session_id, channel))
    reason = "superseded by a later reminder for the same session (catch-up after an outage)"
    return _move(db, stale, MessageStatus.PLANNED, MessageStatus.SKIPPED, reason, now)


def release_stale(db: DB, settings: Settings, now: datetime) -> None:
    """A claim whose task never ran is planned again; a send whose worker died is unknown."""
    cutoff = now - timedelta(seconds=settings.lease_seconds)
    queued = db.scalars(
        select(Message.id).where(
            Message.status == MessageStatus.QUEUED, Message.claimed_at < cutoff
        )
    ).all()
    _move(db, queued, MessageStatus.QUEUED, MessageStatus.PLANNED, "claim expired", now)
    sending = db.scalars(
        select(Message.id).where(
            Message.status == MessageStatus.SENDING, Message.attempted_at < cutoff
        )
    ).all()
    reason = "worker stopped during the send: outcome unknown, not resent"
    _move(db, sending, MessageStatus.SENDING, MessageStatus.UNKNOWN, reason, now)


def _move(db: DB, ids: Sequence[int], old: str, new: str, reason: str, now: datetime) -> int:
    if not ids:
        return 0
    moved = db.scalars(
        update(Message)
        .where(Message.id.in_(ids), Message.status == old)
        .values(status=new, reason=reason)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    ).all()
    record_many(db, moved, new, reason, now)
    return len(moved)


def send_claimed(settings: Settings, ids: Iterable[int], now: datetime) -> Report:
    """Send messages this caller claimed (status queued); anything else is left alone.

    Outcomes are recorded a few at a time: a worker that dies between a send and its record
    leaves those rows `sending`, which become `unknown` and are reconciled, never resent.
    """
    report = Report()
    with store.transaction(settings.database_url) as db:
        ready = prepare(db, settings, list(ids), now, report)
    channels: dict[str, Channel] = {}
    outcomes: list[tuple[int, Outcome, int]] = []
    for outgoing in ready:
        if outgoing.channel not in channels:
            channels[outgoing.channel] = channel_for(settings, outgoing.channel)
        started = time.perf_counter()
        outcome = deliver(channels[outgoing.channel], outgoing)
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        outcomes.append((outgoing.message_id, outcome, elapsed_ms))
        if len(outcomes) >= OUTCOMES_PER_COMMIT:
            _record_outcomes(settings, outcomes, now, report)
            outcomes = []
    _record_outcomes(settings, outcomes, now, report)
    return report


def _record_outcomes(
    settings: Settings, outcomes: list[tuple[int, Outcome, int]], now: datetime, report: Report
) -> None:
    if not outcomes:
        return
    with store.transaction(settings.database_url) as db:
        messages = db.scalars(
            select(Message).where(Message.id.in_([i for i, _, _ in outcomes])).with_for_update()
        ).all()
        by_id = {message.id: message for message in messages}
        for message_id, outcome, elapsed_ms in outcomes:
            by_id[message_id].provider_ms = elapsed_ms
            status = record_outcome(db, settings, by_id[message_id], outcome, now)
            report.outcomes[status] += 1


def prepare(
    db: DB, settings: Settings, ids: list[int], now: datetime, report: Report
) -> list[Outgoing]:
    """Re-check each queued row at send time; mark the ones still worth sending `sending`."""
    messages = db.scalars(
        select(Message)
        .where(Message.id.in_(ids), Message.status == MessageStatus.QUEUED)
        .options(
            selectinload(Message.session)
            .selectinload(Session.series)
            .options(joinedload(Series.patient), selectinload(Series.sessions))
        )
        .order_by(Message.id)
        .with_for_update(of=Message)
    ).all()
    ready = []
    with db.no_autoflush:  # one flush at commit, not one per lazy attribute
        for message in messages:
            outgoing = _recheck_and_render(db, settings, message, now)
            if outgoing is None:
                report.outcomes[message.status] += 1
            else:
                ready.append(outgoing)
    return ready


def _recheck_and_render(
    db: DB, settings: Settings, message: Message, now: datetime
) -> Outgoing | None:
    verdict = recheck(settings, message, now)
    if verdict is not None:
        status, reason, due = verdict
        if due is not None:
            message.due_at = due
        record(db, message, status, reason, now)
        return None
    session = message.session
    patient = session.series.patient
    # CASL: follow-up emails say how to stop them; session reminders belong to the visit.
    unsubscribing = message.channel == "email" and message.kind in FOLLOW_UPS
    unsubscribe = unsubscribe_url(settings, patient) if unsubscribing else ""
    try:
        rendered = render_for(
            settings, message.kind, message.channel, session, now=now, unsubscribe_url=unsubscribe
        )
    except TemplateProblem as exc:
        record(db, message, MessageStatus.FAILED, f"template error: {exc}", now)
        return None
    recipient = patient.address_for(message.channel) or ""
    attachments: tuple[Attachment, ...] = ()
    if message.channel == "email" and message.kind == "session_reminder":
        attachments = (session_ics(settings, session, now=now),)
    message.recipient, message.subject, message.body = recipient, rendered.subject, rendered.text
    message.attempts += 1
    message.attempted_at = now
    record(db, message, MessageStatus.SENDING, f"attempt {message.attempts}", now)
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
    )


Verdict = tuple[str, str, datetime | None]


def recheck(settings: Settings, message: Message, now: datetime) -> Verdict | None:
    """Why this message must not go out now (status, reason, new due time), or None."""
    session = message.session
    patient = session.series.patient
    manual = message.triggered_by != "planner"
    if message.before_session and session.status not in UPCOMING:
        return MessageStatus.SKIPPED, f"session {session.status}", None
    if message.planned_for is not None and message.planned_for != session.starts_at:
        return MessageStatus.SKIPPED, "session moved", None
    if message.expires_at is not None and now >= message.expires_at:
        why = "session already started" if message.before_session else "too late to be useful"
        return MessageStatus.EXPIRED, why, None
    if message.kind in FOLLOW_UPS:
        reason = followups.still_wanted(settings, message, now)
        if reason is not None:
            return MessageStatus.SKIPPED, reason, None
    if patient.opted_out_of(message.channel):
        return MessageStatus.SUPPRESSED, f"patient opted out of {message.channel}", None
    if message.kind in FOLLOW_UPS and message.channel == "email" and patient.followup_email_opt_out:
        return MessageStatus.SUPPRESSED, "patient unsubscribed from follow-up emails", None
    if not patient.address_for(message.channel):
        return MessageStatus.SUPPRESSED, f"no {message.channel} address on file", None
    # Follow-ups wait out the quiet hours on every channel; a person's resend never waits.
    if not manual and (message.channel == "sms" or message.kind in FOLLOW_UPS):
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


Outcome = str | ChannelError | Exception


def deliver(channel: Channel, outgoing: Outgoing) -> Outcome:
    """The provider's id, or the error; never raises, so one bad message can't stop a batch."""
    try:
        return channel.send(outgoing)
    except ChannelError as exc:
        return exc
    except Exception as exc:  # a bug or a surprise after the request may have gone out
        log.exception("message %s: unexpected error while sending", outgoing.message_id)
        return exc


def record_outcome(
    db: DB, settings: Settings, message: Message, outcome: Outcome, now: datetime
) -> str:
    if message.status != MessageStatus.SENDING:
        return str(message.status)  # reconciled meanwhile; its record stands
    if isinstance(outcome, str):
        message.provider_id, message.sent_at = outcome, now
        record(db, message, MessageStatus.SENT, "accepted by the provider", now)
    elif isinstance(outcome, TransientError):
        _retry_or_give_up(db, settings, message, outcome, now)
    elif isinstance(outcome, PermanentError):
        code = f" ({outcome.code})" if outcome.code else ""
        reason = f"permanent error{code}: {outcome}"
        if message.channel == "sms" and outcome.code == UNSUBSCRIBED:
            reason += "; SMS opt-out recorded (the number unsubscribed at Twilio)"
        record(db, message, MessageStatus.FAILED, reason, now)
        if message.channel == "sms" and outcome.code == UNSUBSCRIBED:
            _opted_out_at_twilio(db, settings, message, now)
    elif isinstance(outcome, UnknownOutcome):
        record(db, message, MessageStatus.UNKNOWN, f"outcome unknown: {outcome}", now)
    else:
        record(db, message, MessageStatus.UNKNOWN, f"unexpected error: {outcome!r}", now)
    return str(message.status)


def _opted_out_at_twilio(db: DB, settings: Settings, message: Message, now: datetime) -> None:
    """The patient replied STOP to Twilio and we missed it: record it, withdraw planned SMS."""
    patient = message.session.series.patient
    if not patient.sms_opt_out:
        patient.sms_opt_out = True
        replan_patients(db, settings, [patient], now)


def _retry_or_give_up(
    db: DB, settings: Settings, message: Message, error: TransientError, now: datetime
) -> None:
    if message.attempts >= settings.max_attempts:
        reason = f"gave up after {message.attempts} attempts: {error}"
        record(db, message, MessageStatus.FAILED, reason, now)
        return
    delay = backoff(settings.retry_base_seconds, message.attempts)
    message.due_at = now + delay
    reason = f"transient error: {error}; retry in {int(delay.total_seconds())} s"
    record(db, message, MessageStatus.PLANNED, reason, now)


def backoff(base_seconds: float, attempt: int) -> timedelta:
    """Exponential with jitter, so a provider outage does not get a synchronised stampede."""
    seconds = base_seconds * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
    return min(timedelta(seconds=seconds), MAX_BACKOFF)
