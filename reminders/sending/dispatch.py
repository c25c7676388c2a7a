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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import joinedload, selectinload

from reminders import store
from reminders.channels import channel_for
from reminders.channels.base import (
    Channel,
    ChannelError,
    OptedOut,
    Outgoing,
    PermanentError,
    TransientError,
    UnknownOutcome,
)
from reminders.config import Settings
from reminders.journal import record
from reminders.models import Message, MessageStatus, Series, Session
from reminders.planning.consent import set_consent
from reminders.sending.claims import claim_due, collapse_catch_up, release_stale
from reminders.sending.compose import compose

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
OUTCOMES_PER_COMMIT = 20
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
            outgoing = compose(db, settings, message, now)
            if outgoing is None:
                report.outcomes[message.status] += 1
            else:
                ready.append(outgoing)
    return ready


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
        if isinstance(outcome, OptedOut):
            reason += f"; {message.channel.upper()} opt-out recorded ({outcome.where})"
        record(db, message, MessageStatus.FAILED, reason, now)
        if isinstance(outcome, OptedOut):
            _opted_out_at_provider(db, settings, message, now)
    elif isinstance(outcome, UnknownOutcome):
        record(db, message, MessageStatus.UNKNOWN, f"outcome unknown: {outcome}", now)
    else:
        record(db, message, MessageStatus.UNKNOWN, f"unexpected error: {outcome!r}", now)
    return str(message.status)


def _opted_out_at_provider(db: DB, settings: Settings, message: Message, now: datetime) -> None:
    """The patient unsubscribed at the provider and we missed it: record it, withdraw the rest."""
    patient = message.session.series.patient
    if not patient.opted_out_of(message.channel):
        choice = {f"{message.channel}_opt_out": True}
        set_consent(db, settings, [patient], now, **choice)


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
