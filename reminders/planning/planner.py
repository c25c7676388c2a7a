"""Recompute a session's unsent planned messages whenever the session or its patient changes.

The planner never drops a message because its due time has passed: whether it is
still worth sending is decided at dispatch. Rows already handed to a worker, sent,
or closed by the dispatcher are never touched here.

The latest word names the current time: a reminder the patient was told before the
session moved away and back no longer answers its rule, so the rule is planned again;
and when the last reminder told on a channel names another time and no reminder of the
policy is due yet, a change notice (rule `changed-<channel>`) tells the patient at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, inspect, literal, select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import contains_eager, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from reminders.config import CHANNELS, ChannelName, ReminderRule, Settings
from reminders.journal import record
from reminders.kinds import FOLLOW_UPS
from reminders.models import (
    UPCOMING,
    Message,
    MessageEvent,
    MessageStatus,
    Patient,
    Series,
    Session,
    UTCDateTime,
)
from reminders.planning.followups import plan_followups
from reminders.planning.quiet_hours import sms_due, wall_clock_shift

AFTER_SESSION_SHELF_LIFE = timedelta(days=1)
# Rows still on their way: the planner keeps one per rule and start.
OPEN = (MessageStatus.PLANNED, MessageStatus.QUEUED, MessageStatus.SENDING)
# Rows the patient got, or may have got (a queued row may already be rendered): what
# they were last told about the session's time.
TOLD = (
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNKNOWN,
)
CHANGE_NOTICE = "changed-"


def change_notice(channel: ChannelName) -> ReminderRule:
    """The rule of a change notice: a session reminder sent as soon as the session changed."""
    return ReminderRule(name=f"{CHANGE_NOTICE}{channel}", channel=channel, offset=timedelta())


@dataclass(frozen=True)
class Plan:
    rule: ReminderRule
    planned_for: datetime
    due_at: datetime
    expires_at: datetime
    before_session: bool


def due_for(settings: Settings, rule: ReminderRule, starts_at: datetime) -> Plan:
    due = wall_clock_shift(starts_at, rule.offset, settings.clinic.zone)
    expires = starts_at if rule.before_session else due + AFTER_SESSION_SHELF_LIFE
    if rule.channel == "sms":
        deadline = starts_at if rule.before_session else None
        due = sms_due(settings.quiet_hours, settings.clinic.zone, due, deadline)
    return Plan(rule, starts_at, due, expires, rule.before_session)


def notice_for(
    settings: Settings, channel: ChannelName, starts_at: datetime, now: datetime
) -> Plan:
    """A change notice due now (an SMS not inside quiet hours), for the session as it starts."""
    due = now
    if channel == "sms":
        due = sms_due(settings.quiet_hours, settings.clinic.zone, now, starts_at)
    return Plan(change_notice(channel), starts_at, due, starts_at, True)


def why_not(session: Session, patient: Patient, rule: ReminderRule) -> str | None:
    """The reason this rule has nothing to send for this session, or None when it does."""
    if session.status not in UPCOMING:
        return f"session {session.status}"
    if patient.opted_out_of(rule.channel):
        return f"patient opted out of {rule.channel}"
    if not patient.address_for(rule.channel):
        return f"no {'phone number' if rule.channel == 'sms' else 'email address'} on file"
    return None


class Told:
    """What the patient was told about a session, per channel: its reminders that went out
    (or may have), in the order they went."""

    def __init__(self, messages: Iterable[Message]) -> None:
        self.rows = sorted(
            (
                m
                for m in messages
                if m.status in TOLD
                and m.before_session
                and m.planned_for is not None
                and m.kind not in FOLLOW_UPS
            ),
            key=_told_order,
        )

    def last(self, channel: str) -> Message | None:
        on_channel = [m for m in self.rows if m.channel == channel]
        return on_channel[-1] if on_channel else None

    def outdated(self, message: Message) -> bool:
        """A reminder naming another time was told on the same channel after this one."""
        after = _told_order(message)
        return any(
            m.channel == message.channel
            and m.planned_for != message.planned_for
            and _told_order(m) > after
            for m in self.rows
        )


def _told_order(message: Message) -> tuple[datetime, int]:
    told_at = message.attempted_at or message.claimed_at or message.created_at
    return told_at, message.id or 0


def plan_session(db: DB, settings: Settings, session: Session, now: datetime) -> int:
    """Bring the session's planned rows in line with its state; returns rows changed."""
    wanted, withdrawn = _wanted(settings, session)
    existing = [m for m in session.messages if m.rule is not None and m.kind not in FOLLOW_UPS]
    told = Told(session.messages)
    changed = 0
    answering: list[Message] = []
    for plan in wanted:
        message, count = _answer(db, session, existing, plan, told, now)
        changed += count
        answering += [message] if message is not None else []
    notices, unwanted = _notices(settings, session, told, answering, now)
    withdrawn.update(unwanted)
    for plan in notices:
        message, count = _answer(db, session, existing, plan, told, now)
        changed += count
        answering += [message] if message is not None else []
    for message in existing:
        if message.status == MessageStatus.PLANNED and message not in answering:
            reason = _moved(message, session) or withdrawn.get(message.rule or "")
            record(
                db, message, MessageStatus.CANCELLED, reason or "rule no longer in the policy", now
            )
            changed += 1
    return changed


# A rule's plan for each start time already worked out, by the rule's place in the policy.
DueTimes = dict[tuple[int, datetime], Plan]


def _wanted(
    settings: Settings, session: Session, known: DueTimes | None = None
) -> tuple[list[Plan], dict[str, str]]:
    """The rows the policy wants for the session's start, and why the other rules want none.

    `known` keeps the plans across the sessions of one pass: a clinic's sessions share a
    few start times, and working out quiet hours on the clinic's clock is the slow part."""
    patient = session.series.patient
    wanted: list[Plan] = []
    withdrawn: dict[str, str] = {}
    known = {} if known is None else known
    for position, rule in enumerate(settings.rules):
        reason = why_not(session, patient, rule)
        if reason is None:
            key = (position, session.starts_at)
            plan = known.get(key)
            if plan is None:
                plan = known[key] = due_for(settings, rule, session.starts_at)
            wanted.append(plan)
        else:
            withdrawn[rule.name] = reason
    return wanted, withdrawn


def _notices(
    settings: Settings, session: Session, told: Told, answering: list[Message], now: datetime
) -> tuple[list[Plan], dict[str, str]]:
    """A change notice for each channel whose last reminder named another time, unless a
    reminder for the current time goes out first; and why the other channels want none."""
    patient = session.series.patient
    wanted: list[Plan] = []
    withdrawn: dict[str, str] = {}
    for channel in CHANNELS:
        notice = notice_for(settings, channel, session.starts_at, now)
        last = told.last(channel)
        reason = why_not(session, patient, notice.rule)
        if last is None or last.planned_for == session.starts_at:
            reason = reason or "the patient has the current time"
        elif session.starts_at <= now:
            reason = reason or "session already started"
        elif any(
            m.channel == channel and m.before_session and m.due_at <= notice.due_at
            for m in answering
        ):
            reason = reason or "a reminder for the current time goes first"
        if reason is None:
            wanted.append(notice)
        else:
            withdrawn[notice.rule.name] = reason
    return wanted, withdrawn


def _answer(
    db: DB,
    session: Session,
    existing: list[Message],
    plan: Plan,
    told: Told,
    now: datetime,
) -> tuple[Message | None, int]:
    """The open row that answers `plan` (kept, planned again or new) and the rows changed;
    None when a row that went out, or was settled at dispatch, answers it already.

    A reminder that went out answers its rule only until one naming another time went
    out after it: moved away and back, the patient must hear the time again.
    """
    rows = [m for m in existing if m.rule == plan.rule.name and m.planned_for == plan.planned_for]
    for message in rows:
        if message.status in OPEN:
            return message, _keep(db, message, plan, now)
    if any(_settles(message, told) for message in rows):
        return None, 0
    cancelled = [m for m in rows if m.status == MessageStatus.CANCELLED]
    if cancelled:
        message = max(cancelled, key=lambda m: m.id)
        message.due_at, message.expires_at = plan.due_at, plan.expires_at
        record(db, message, MessageStatus.PLANNED, "planned again", now)
        return message, 1
    return _insert(db, session, plan, told, now), 1


def _settles(message: Message, told: Told) -> bool:
    """Whether this closed row for the rule and start leaves nothing more to send."""
    if message.status == MessageStatus.CANCELLED:
        return False
    return not (message.status in TOLD and told.outdated(message))


def _moved(message: Message, session: Session) -> str | None:
    return "session moved" if message.planned_for != session.starts_at else None


def _keep(db: DB, message: Message, plan: Plan, now: datetime) -> int:
    """An open row for this rule and start: a planned one follows the policy's due time.

    A change notice is due as soon as it was planned; a later pass never postpones it.
    """
    if message.status != MessageStatus.PLANNED:
        return 0
    due = min(message.due_at, plan.due_at) if _is_notice(plan.rule) else plan.due_at
    if message.due_at != due or message.expires_at != plan.expires_at:
        message.due_at, message.expires_at = due, plan.expires_at
        record(db, message, MessageStatus.PLANNED, "due time recomputed", now)
        return 1
    return 0


def _is_notice(rule: ReminderRule) -> bool:
    return rule.name in {change_notice(channel).name for channel in CHANNELS}


def _insert(db: DB, session: Session, plan: Plan, told: Told, now: datetime) -> Message:
    message = Message.planned(
        session,
        kind=plan.rule.kind,
        rule=plan.rule.name,
        channel=plan.rule.channel,
        due_at=plan.due_at,
        expires_at=plan.expires_at,
        before_session=plan.before_session,
        now=now,
    )
    db.add(message)
    record(db, message, MessageStatus.PLANNED, _why_insert(plan, told), now)
    return message


def _why_insert(plan: Plan, told: Told) -> str:
    last = told.last(plan.rule.channel)
    if not plan.before_session or last is None or last.planned_for == plan.planned_for:
        return f"rule {plan.rule.name}"
    what = "session changed" if _is_notice(plan.rule) else f"rule {plan.rule.name}"
    return f"{what}: the last {plan.rule.channel} reminder named another time"


# Keeps each `IN (...)` well under SQLite's limit on bound parameters.
CHUNK = 5000


def replan_patients(db: DB, settings: Settings, patients: Iterable[Patient], now: datetime) -> int:
    """Re-plan every session and series of these patients: reminders, then follow-ups.

    A change to a patient (contact, opt-out) or to any of their sessions reaches every
    unsent message this way. Returns the planned rows changed.
    """
    changed = 0
    first_plans: list[tuple[Session, Plan]] = []
    known: DueTimes = {}
    with db.no_autoflush:
        sessions = _patients_sessions(db, patients)
        for session in sessions:
            if session.messages:
                changed += plan_session(db, settings, session, now)
            else:
                # Nothing planned yet: plan_session would only insert what the policy
                # wants, which a big import does far faster in bulk.
                wanted = _wanted(settings, session, known)[0]
                first_plans += [(session, plan) for plan in wanted]
        changed += _insert_first_plans(db, first_plans, now)
        for series in {session.series.id: session.series for session in sessions}.values():
            changed += plan_followups(db, settings, series, now)
    for session in {id(session): session for session, _ in first_plans}.values():
        db.expire(session, ["messages"])  # the next reader loads the rows inserted in bulk
    return changed


def _insert_first_plans(db: DB, plans: list[tuple[Session, Plan]], now: datetime) -> int:
    """The rows `_insert` makes, for sessions that had none: one INSERT for them all.

    Follow-ups read only their own kinds from `session.messages`; the caller expires it after.
    """
    if not plans:
        return 0
    told = Told([])
    rows = [
        {
            **Message.planned_values(
                session,
                kind=plan.rule.kind,
                rule=plan.rule.name,
                channel=plan.rule.channel,
                due_at=plan.due_at,
                expires_at=plan.expires_at,
                before_session=plan.before_session,
                now=now,
            ),
            "session_id": session.id,
            "reason": _why_insert(plan, told),
        }
        for session, plan in plans
    ]
    # No RETURNING: the driver's executemany sends one short statement for every row,
    # where RETURNING makes statements of a thousand rows each that psycopg parses anew.
    db.connection().execute(insert(Message.metadata.tables[Message.__tablename__]), rows)
    sessions = sorted({session.id for session, _ in plans})
    for start in range(0, len(sessions), CHUNK):
        _record_planned(db, sessions[start : start + CHUNK], now)
    return len(rows)


def _record_planned(db: DB, session_ids: Sequence[int], now: datetime) -> None:
    """The event `record_many` writes for each row just planned for these sessions, its
    reason copied from the row in the store.

    Every other message was written with its first event in the same transaction, so the
    rows without an event are the ones just inserted (others' uncommitted rows are unseen).
    """
    table = MessageEvent.metadata.tables[MessageEvent.__tablename__]
    messages = Message.metadata.tables[Message.__tablename__]
    recorded = select(table.c.id).where(table.c.message_id == messages.c.id).exists()
    made = select(
        messages.c.id,
        literal(now, UTCDateTime()),
        literal(MessageStatus.PLANNED.value),
        messages.c.reason,
        literal("system"),
    ).where(messages.c.session_id.in_(session_ids), ~recorded)
    columns = ["message_id", "at", "status", "reason", "actor"]
    db.connection().execute(insert(table).from_select(columns, made))


def _patients_sessions(db: DB, patients: Iterable[Patient]) -> list[Session]:
    """Every session of the imported patients: a contact change reaches them all."""
    ids = sorted(patient.id for patient in patients)
    sessions: list[Session] = []
    for start in range(0, len(ids), CHUNK):
        sessions.extend(
            db.scalars(
                select(Session)
                .join(Series)
                .where(Series.patient_id.in_(ids[start : start + CHUNK]))
                .options(selectinload(Session.messages), contains_eager(Session.series))
                .order_by(Session.id)
            )
        )
    _fill_series_sessions(sessions)
    return sessions


def _fill_series_sessions(sessions: list[Session]) -> None:
    """Every series' `sessions`, from the rows just loaded (all of each series' sessions):
    loading them again for the series would build each object twice. As a loader would,
    a collection already loaded is left as it is."""
    by_series: dict[int, list[Session]] = {}
    for session in sessions:
        by_series.setdefault(session.series_id, []).append(session)
    for session in sessions:
        series = session.series
        if "sessions" not in inspect(series).dict:
            members = sorted(by_series[series.id], key=lambda s: (s.number, s.id))
            set_committed_value(series, "sessions", members)
