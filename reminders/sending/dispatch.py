"""Claim due messages, re-check them, send them, record the outcome: exactly once in effect.

A row moves planned -> queued (claimed by a conditional UPDATE) -> sending (committed
before the provider call) -> sent / failed / unknown. A second caller, a redelivered
task or a duplicated tick finds the row already moved and does nothing.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice, takewhile

from sqlalchemy import Table, bindparam, select
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
from reminders.config import CHANNELS, Settings
from reminders.journal import record, record_many
from reminders.models import Message, MessageEvent, MessageStatus, Series, Session
from reminders.planning.consent import set_consent
from reminders.sending.claims import (
    claim_due,
    collapse_catch_up,
    release_stale,
    start_attempts,
)
from reminders.sending.compose import compose
from reminders.sending.fallback import plan_fallback, waiting_fallbacks
from reminders.sending.in_flight import Call, Calls, Clock, Holding, Outcome, sending_threads
from reminders.sending.rate_limit import RateLimitUnavailable, SenderRate, sender_rate
from reminders.wording.sms_text import segments

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)
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
            ids = claim_due(db, now, claim_size(settings), settings.lease_seconds)
        if not ids:
            return report
        report.claimed += len(ids)
        if send is None:
            report.add(send_claimed(settings, ids, now))
        else:
            send(ids)


def send_claimed(settings: Settings, ids: Iterable[int], now: datetime) -> Report:
    """Send messages this caller claimed (status queued); anything else is left alone.

    Up to `settings.send_concurrency` provider calls are in flight at once, each in a thread
    of its own; this thread does the bookkeeping in few transactions. Rows turn `sending`
    (under a fresh attempt token) just before their own calls, and get their outcomes as
    the calls return; rows never attempted stay queued, so a worker that dies leaves them
    to be planned again, never `unknown`. A live worker keeps the leases of its rows fresh.
    """
    report = Report()
    claimed = list(ids)
    if not claimed:
        return report
    # The first few are prepared alone and their calls started before the rest is prepared:
    # a process switching batches leaves its sender's rate idle for the render of a few
    # rows, not of the whole batch. The rest goes a chunk at a time, each while the calls
    # before it are in flight (each transaction more costs, so chunks are not smaller).
    first, rest = claimed[:PREPARE_FIRST], claimed[PREPARE_FIRST:]
    chunks = deque(
        [first] + [rest[i : i + PREPARE_CHUNK] for i in range(0, len(rest), PREPARE_CHUNK)]
    )
    clock = Clock(now)
    ready: list[int] = []
    with (
        Holding(settings, claimed, clock) as holding,
        _Senders(settings) as senders,
        sending_threads(settings.send_concurrency) as threads,
        Calls(senders.deliver, settings.send_concurrency, threads) as calls,
    ):
        waiting: deque[Outgoing] = deque()
        finished: list[Call] = []
        while chunks or waiting or calls.in_flight or finished:
            if chunks and len(waiting) < calls.free:
                chunk = chunks.popleft()
                with store.transaction(settings.database_url) as db:
                    prepared = prepare(db, settings, chunk, now, report)
                waiting.extend(prepared)
                ready += [outgoing.message_id for outgoing in prepared]
                for message_id in set(chunk) - {o.message_id for o in prepared}:
                    holding.release(message_id)  # settled at send time: nothing to hold
            paced = senders.pace_next(waiting, calls.free)
            for outgoing in paced.unavailable:
                report.outcomes[_not_attempted(settings, outgoing.message_id, now)] += 1
                holding.release(outgoing.message_id)
            # One transaction records the calls that came back and starts the next ones.
            _record_and_start(
                settings, senders, calls, finished, paced.ready, clock, holding, report, now
            )
            room = bool(chunks) and len(waiting) < calls.free  # for the next chunk, at once
            busy = waiting or calls.in_flight
            finished = calls.finished(timeout=0 if room else paced.wait) if busy else []
    if report.outcomes[MessageStatus.FAILED]:
        report.add(_send_fallbacks(settings, ready, now))
    return report


# Rows rendered and started before the rest of a batch is prepared, then rows rendered
# per transaction (see send_claimed).
PREPARE_FIRST = 20
PREPARE_CHUNK = 100
# Messages per claim with no rate: 1,000 due make 10 tasks, enough for every pool process.
BATCH_SIZE = 100
# Under a rate, a batch holds this many seconds of it. Pool processes whose batches end
# together leave the sender idle while their last calls return and their next batches are
# prepared (8% of 100/s with batches of 100); and one process alone keeps rate x latency
# calls in flight, so longer batches cost no parallelism.
PACED_BATCH_SECONDS = 5.0


def claim_size(settings: Settings) -> int:
    """Messages per claim (and task): `batch_size` when set; else BATCH_SIZE, or more under
    a rate (see above)."""
    if settings.batch_size is not None:
        return settings.batch_size
    rate = max(settings.sms_rate_per_second, settings.email_rate_per_second)
    return max(BATCH_SIZE, math.ceil(rate * PACED_BATCH_SECONDS))


def _send_fallbacks(settings: Settings, sms_ids: list[int], now: datetime) -> Report:
    """Email copies planned for SMS the provider refused (a landline): sent now, once."""
    with store.transaction(settings.database_url) as db:
        fallbacks = waiting_fallbacks(db, sms_ids)
    return send_claimed(settings, fallbacks, now) if fallbacks else Report()


def _record_and_start(
    settings: Settings,
    senders: _Senders,
    calls: Calls,
    finished: list[Call],
    starting: list[Slotted],
    clock: Clock,
    holding: Holding,
    report: Report,
    now: datetime,
) -> None:
    """Record what the finished calls said and take the next rows for their calls (turned
    `sending` under a fresh token), in one transaction, committed before those calls start."""
    if not finished and not starting:
        return
    for call in finished:
        senders.heed(call.outgoing, call.outcome)
    token, taken = "", list[int]()
    with store.transaction(settings.database_url) as db:
        statuses = _record(db, settings, finished, now)
        if starting:
            ids = [outgoing.message_id for outgoing, _ in starting]
            token, taken = start_attempts(db, ids, clock(), settings.lease_seconds)
    report.outcomes.update(statuses)
    for call in finished:
        holding.release(call.outgoing.message_id)
    chosen = set(taken)
    for outgoing, at in starting:
        if outgoing.message_id in chosen:
            calls.submit(outgoing, token, at)
        else:  # released or taken by another worker meanwhile: nothing sent
            report.outcomes["taken elsewhere"] += 1
            holding.release(outgoing.message_id)


def _record(db: DB, settings: Settings, finished: list[Call], now: datetime) -> list[str]:
    if not finished:
        return []
    accepted = _record_accepted(db, finished, now)
    rest = [call for call in finished if call.outgoing.message_id not in accepted]
    return [MessageStatus.SENT] * len(accepted) + _record_each(db, settings, rest, now)


def _record_accepted(db: DB, finished: list[Call], now: datetime) -> set[int]:
    """The common case in three statements: accepted sends whose attempt still holds its row."""
    calls = {c.outgoing.message_id: c for c in finished if isinstance(c.outcome, str)}
    if not calls:
        return set()
    held = db.execute(
        select(Message.id, Message.attempt_token)
        .where(Message.id.in_(sorted(calls)), Message.status == MessageStatus.SENDING)
        .with_for_update()
    ).all()
    ids = {i for i, token in held if token == calls[i].token}
    if not ids:
        return ids
    reason = "accepted by the provider"
    table = Message.__table__
    assert isinstance(table, Table)
    db.execute(
        table.update()
        .where(table.c.id == bindparam("message_id"))
        .values(
            status=MessageStatus.SENT,
            reason=reason,
            sent_at=now,
            provider_id=bindparam("provider_id"),
            provider_ms=bindparam("provider_ms"),
        ),
        [
            {
                "message_id": i,
                "provider_id": calls[i].outcome,
                "provider_ms": calls[i].elapsed_ms,
            }
            for i in sorted(ids)
        ],
    )
    record_many(db, sorted(ids), MessageStatus.SENT, reason, now)
    return ids


def _record_each(db: DB, settings: Settings, calls: list[Call], now: datetime) -> list[str]:
    messages = db.scalars(
        select(Message)
        .where(Message.id.in_([call.outgoing.message_id for call in calls]))
        .order_by(Message.id)
        .with_for_update()
    ).all()
    by_id = {message.id: message for message in messages}
    statuses = []
    for call in calls:
        message = by_id.get(call.outgoing.message_id)
        if message is not None:
            message.provider_ms = call.elapsed_ms
            statuses.append(
                record_outcome(db, settings, message, call.outcome, now, token=call.token)
            )
    return statuses


def _not_attempted(settings: Settings, message_id: int, now: datetime) -> str:
    """A queued row this worker could not pace (no rate limit answer): planned again later."""
    with store.transaction(settings.database_url) as db:
        message = db.get(Message, message_id, with_for_update=True)
        if message is None or message.status != MessageStatus.QUEUED:
            return "taken elsewhere"
        message.due_at = now + backoff(settings.retry_base_seconds, max(message.attempts, 1))
        why = "not sent: the rate limit did not answer; planned again"
        record(db, message, MessageStatus.PLANNED, why, now)
        return str(message.status)


class _Pool:
    """Up to `size` objects of one channel (None: as many as are asked for at once), made
    when first needed; a caller waits for one."""

    def __init__(self, settings: Settings, name: str, size: int | None) -> None:
        self.settings, self.name = settings, name
        self._free: queue.LifoQueue[Channel] = queue.LifoQueue()
        self._made: list[Channel] = []
        self._room = threading.BoundedSemaphore(size) if size else nullcontext()

    @contextmanager
    def lend(self) -> Iterator[Channel]:
        with self._room:
            try:
                channel = self._free.get_nowait()
            except queue.Empty:
                channel = channel_for(self.settings, self.name)
                self._made.append(channel)
            try:
                yield channel
            finally:
                self._free.put(channel)

    def close(self) -> None:
        for channel in self._made:
            channel.close()


# A message and when its call starts (time.monotonic(); 0: at once).
Slotted = tuple[Outgoing, float]
# How far ahead a pass books its calls' slots: the sending threads start each call at its
# slot, so calls go out evenly however late this thread wakes up.
BOOKING_HORIZON = 0.25
# No slot sooner than this: the attempts are committed first, and a call that starts late
# would bunch with the next one at the provider.
BOOKING_LEAD = 0.05
# A call this late for its slot books another: arrivals stay within the limiter's margin.
LATE_START = 0.02


@dataclass
class Paced:
    ready: list[Slotted] = field(default_factory=list)
    unavailable: list[Outgoing] = field(default_factory=list)  # the rate limit did not answer
    wait: float | None = None  # seconds until the next may be booked; None: when a call returns


_kept_pools: dict[tuple[int, str], _Pool] = {}
_kept_lock = threading.Lock()


def _kept_pool(settings: Settings, name: str) -> _Pool:
    """This process's channel objects for `name`, kept from batch to batch while the settings
    stay the same: an HTTP client keeps its pooled keep-alive connections and need not be
    built again. Unbounded: each batch bounds its own calls, and two batches at once (a
    thread pool) must not wait for each other's."""
    key = (os.getpid(), name)
    with _kept_lock:
        pool = _kept_pools.get(key)
        if pool is None or pool.settings is not settings:
            pool = _kept_pools[key] = _Pool(settings, name, None)
        return pool


class _Senders:
    """Per channel, a few channel objects lent to the sending threads one call at a time,
    and the sender's shared rate. Twilio's are kept for the next batch (HTTP keep-alive);
    an SMTP connection is opened per batch and closed after it, as mail servers expect."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pools: dict[str, _Pool] = {
            "sms": _kept_pool(settings, "sms"),
            "email": _Pool(settings, "email", settings.email_concurrency),
        }
        self._rates: dict[str, SenderRate | None] = {
            name: sender_rate(settings, name) for name in CHANNELS
        }

    def __enter__(self) -> _Senders:
        return self

    def __exit__(self, *_: object) -> None:
        self._pools["email"].close()

    def deliver(self, call: Call) -> None:
        """One provider call at its slot, on a channel object no other thread is using."""
        outgoing = call.outgoing
        with self._pools[outgoing.channel].lend() as channel:
            try:
                self._await_slot(outgoing, call.at)
            except RateLimitUnavailable:
                call.outcome = TransientError("not sent: the rate limit did not answer")
                return
            started = time.perf_counter()
            call.outcome = deliver(channel, outgoing)
            call.elapsed_ms = int((time.perf_counter() - started) * 1000)

    def _await_slot(self, outgoing: Outgoing, at: float) -> None:
        """Sleep until the call's slot; a call that could not start on time (a busy process,
        a slow first connection) books a new slot rather than crowd the calls after it."""
        rate = self._rates.get(outgoing.channel)
        while rate is not None:
            if (early := at - time.monotonic()) > 0:
                time.sleep(early)
            if time.monotonic() - at <= LATE_START:
                return
            booking = rate.book([_cost(outgoing)], horizon=BOOKING_HORIZON)
            if booking.delays_us:
                at = time.monotonic() + booking.delays_us[0] / 1_000_000
            else:
                time.sleep(booking.wait_us / 1_000_000)

    def pace_next(self, waiting: deque[Outgoing], slots: int) -> Paced:
        """Up to `slots` messages from the front of `waiting`, each with the slot its
        sender's rate booked for it (SMS count in segments), one booking per run of one
        channel; how long to wait when the next could not be booked yet."""
        paced = Paced()
        while waiting and len(paced.ready) < slots:
            channel = waiting[0].channel
            rate = self._rates.get(channel)
            if rate is None:
                paced.ready.append((waiting.popleft(), 0.0))
                continue
            run = _front_run(waiting, slots - len(paced.ready))
            costs = [_cost(outgoing) for outgoing in run]
            try:
                booking = rate.book(costs, lead=BOOKING_LEAD, horizon=BOOKING_HORIZON)
            except RateLimitUnavailable:
                paced.unavailable.extend(waiting.popleft() for _ in run)
                continue
            booked_at = time.monotonic()
            for delay_us in booking.delays_us:
                paced.ready.append((waiting.popleft(), booked_at + delay_us / 1_000_000))
            if len(booking.delays_us) < len(run):
                paced.wait = booking.wait_us / 1_000_000
                break
        return paced

    def heed(self, outgoing: Outgoing, outcome: Outcome) -> None:
        """A provider's "too many requests" slows every worker's sends for this sender."""
        rate = self._rates.get(outgoing.channel)
        if rate is None or not isinstance(outcome, TransientError):
            return
        if outcome.retry_after is not None:
            try:
                rate.slow_down(max(outcome.retry_after, 1.0))
            except RateLimitUnavailable:
                log.warning("could not slow the %s sender down", outgoing.channel)


def _cost(outgoing: Outgoing) -> int:
    """What a message spends of its sender's rate: SMS count in segments."""
    return max(segments(outgoing.body), 1) if outgoing.channel == "sms" else 1


def _front_run(waiting: deque[Outgoing], most: int) -> list[Outgoing]:
    """The messages at the front of `waiting` on the first one's channel, at most `most`."""
    channel = waiting[0].channel
    return list(takewhile(lambda o: o.channel == channel, islice(waiting, most)))


# What composing a message reads: its session, the series with all its sessions (where the
# series stands) and the patient. Built once: building loader options is not free per batch.
# Joined in the one query up to the patient (each message has one of each); the series'
# sessions are a collection, loaded in a second.
_WHAT_A_RENDER_READS = (
    joinedload(Message.session, innerjoin=True)
    .joinedload(Session.series, innerjoin=True)
    .options(joinedload(Series.patient, innerjoin=True), selectinload(Series.sessions))
)


def prepare(
    db: DB, settings: Settings, ids: list[int], now: datetime, report: Report
) -> list[Outgoing]:
    """Re-check each queued row at send time and render the ones still worth sending."""
    messages = db.scalars(
        select(Message)
        .where(Message.id.in_(ids), Message.status == MessageStatus.QUEUED)
        .options(_WHAT_A_RENDER_READS)
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
    db: DB,
    settings: Settings,
    message: Message,
    outcome: Outcome,
    now: datetime,
    *,
    token: str | None = None,
) -> str:
    """Write what the provider said; only the attempt holding `token` may (None: any sending).

    A definite answer (accepted or refused) is kept even when the lease ran out meanwhile
    and the row was declared unknown or planned again: it says what really happened.
    """
    if token is not None and message.attempt_token != token:
        _late_outcome(db, message, outcome, now)
        return str(message.status)
    definite = isinstance(outcome, str | PermanentError)
    if message.status != MessageStatus.SENDING and not (definite and message.status in LAPSED):
        return str(message.status)  # settled meanwhile; its record stands
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
        plan_fallback(db, message, outcome.code, now)  # sent by send_claimed, after commit
    elif isinstance(outcome, UnknownOutcome):
        record(db, message, MessageStatus.UNKNOWN, f"outcome unknown: {outcome}", now)
    else:
        record(db, message, MessageStatus.UNKNOWN, f"unexpected error: {outcome!r}", now)
    return str(message.status)


# Where a row can be when its attempt's lease ran out before the answer came.
LAPSED = (MessageStatus.UNKNOWN, MessageStatus.PLANNED, MessageStatus.QUEUED)


def _late_outcome(db: DB, message: Message, outcome: Outcome, now: datetime) -> None:
    """An earlier attempt answered after another took the row: say so, change nothing."""
    said = "accepted it" if isinstance(outcome, str) else f"said {outcome}"
    why = f"an earlier attempt's answer came late: the provider {said}"
    db.add(MessageEvent(message=message, at=now, status=message.status, reason=why))
    if isinstance(outcome, str):
        log.error("message %s: a late attempt was accepted after another attempt", message.id)


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
